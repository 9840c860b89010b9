"""What the Classify tab shows of one review: the label, the words coloured by contribution, the running
prediction and the info line under the label."""

from __future__ import annotations

import html
import math
from typing import Any

import gradio as gr

from sentiment_core import markdown as md
from sentiment_core.predict import Analysis

from ..services import classify as cl
from ..services.registry import ModelRegistry
from . import palette
from .charts import running_chart as draw_running

ROUGH_ATTRIBUTIONS = 0.2  # a completeness error above this is called out on the page
# Shares of a text's words found in the model's vocabulary. Real reviews stay well above both: over
# 520 random IMDB test reviews the shipped model knew at least 88% of the words of every one (median 98%).
MOSTLY_UNKNOWN = 0.5  # below: the prediction means little, and the page says so plainly
MANY_UNKNOWN = 0.8  # below: the page asks the reader to weigh the prediction with care

WORDS_EMPTY = ('<div class="words-legend"><b>Word contributions</b> show here, word by word, once there is a '
               'review.</div>')


ExplainOutput = tuple[str, Any, str]


def explanation(tokens: list[str], attributions: list[float],
                gap_at: int | None = None) -> list[tuple[str, float | None]]:
    """(token, score) pairs: attributions scaled to [-1, 1] by the largest.

    ``gap_at`` marks where the middle of a long review was cut out (an unscored "…").
    """
    scale = max((abs(a) for a in attributions), default=0.0) or 1.0
    pairs: list[tuple[str, float | None]] = [
        (tok, round(a / scale, 4)) for tok, a in zip(tokens, attributions, strict=True)
    ]
    if gap_at is not None:
        pairs.insert(gap_at, ("…", None))
    return pairs


def coverage(known: list[bool | None]) -> str:
    """How many of the text's words the model knows, said plainly when too few for the prediction to mean much."""
    flags = [k for k in known if k is not None]
    words, found = len(flags), sum(flags)
    if not words:
        return "**There are no words here, only punctuation: the prediction means little.**"
    counted = f"{found:,} of {words:,} word{'s' if words != 1 else ''}"
    if found / words < MOSTLY_UNKNOWN:
        return (f"**The model knows only {counted} here: the prediction means little.** It learned from English "
                "movie reviews; every word it never saw (other languages, emoji, rare spellings) reads as the same "
                "unknown token.")
    if found / words < MANY_UNKNOWN:
        return (f"The model knows {counted} here. The others (dotted underline) all read as one unknown token: "
                "weigh the prediction with care.")
    return f"The model knows {counted} here."


def words_html(tokens: list[str], attributions: list[float], known: list[bool | None],
               gap_at: int | None = None, towards: tuple[str, str] = ("negative", "positive")) -> str:
    """The review's tokens on backgrounds of the palette's colours, with a legend; unknown words underlined.
    ``towards``: what a red and a green word push towards (``directions``)."""
    red, green = (html.escape(name) for name in towards)
    legend = ('<div class="words-legend"><b>Word contributions</b> (integrated gradients): '
              f'<span class="swatch negative"></span> towards {red} · '
              f'<span class="swatch positive"></span> towards {green} · the strongest word has the full colour · '
              '<span class="unknown">dotted</span>: unknown to the model</div>')
    marks = list(known)
    if gap_at is not None:
        marks.insert(gap_at, None)
    spans = []
    for (token, score), is_known in zip(explanation(tokens, attributions, gap_at), marks, strict=True):
        if score is None:
            spans.append('<span class="w gap" title="the middle of the text, left out">…</span>')
            continue
        title = f"{score:+.2f}" + (" · unknown to the model" if is_known is False else "")
        unknown = " unknown" if is_known is False else ""
        spans.append(f'<span class="w{unknown}" style="background: {palette.word_background(score)}" '
                     f'title="{title}">{html.escape(token)}</span>')
    return f'{legend}<div class="words-text">{" ".join(spans)}</div>'


def _top_words(tokens: list[str], attributions: list[float], sign: int, k: int = 3) -> list[str]:
    ranked = sorted(((sign * a, t) for t, a in zip(tokens, attributions, strict=True)
                     if sign * a > 0 and cl.is_word(t)), reverse=True)
    return list(dict.fromkeys(t for _, t in ranked))[:k]


def sentiment(label: str) -> str:
    """A label in its colour (``palette.CSS``), for Markdown."""
    return f'<span class="sentiment-{html.escape(label)}">{md.text(label)}</span>'


def label_percent(probability: float) -> str:
    """A probability as ``gr.Label`` shows it (JavaScript's ``Math.round(p * 100)``), so both agree."""
    return f"{math.floor(probability * 100 + 0.5)}%"


def describe(analysis: Analysis, max_tokens: int, known: list[bool | None]) -> str:
    """The info line under the label: verdict, tokens read, the words that pushed most, the words known."""
    label = max(analysis.probabilities, key=analysis.probabilities.get)
    count = len(analysis.tokens)
    parts = [f"**{sentiment(label)}** ({label_percent(analysis.probabilities[label])}) from {count:,} "
             f"token{'s' if count != 1 else ''}"]
    for sign, towards in directions(analysis):
        words = _top_words(analysis.tokens, analysis.attributions, sign)
        if words:
            parts.append(f"towards {md.text(towards)}: " + ", ".join(f"*{md.text(w)}*" for w in words))
    lines = [" · ".join(parts), coverage(known)]
    if analysis.truncated:
        lines.append(f"Long text: the model reads at most {max_tokens:,} tokens, from its beginning and its end "
                     "(the middle left out is marked …).")
    if analysis.closed:
        lines.append("The text stops on a word, where the model's training texts end with a mark: it was read "
                     "with a full stop added (the last token).")
    if analysis.replaced:
        lines.append("Some characters could not be read and were replaced (shown as \N{REPLACEMENT CHARACTER}).")
    return "  \n".join([*lines, approximations(analysis)])


def directions(analysis: Analysis) -> tuple[tuple[int, str], tuple[int, str]]:
    """What a positive and a negative word score push towards: the two classes of a two-class
    model; for more classes, towards the class explained (the predicted one) and away from it."""
    labels = list(analysis.probabilities)
    if len(labels) == 2:
        return (1, labels[1]), (-1, labels[0])
    return (1, analysis.target), (-1, f"other than {analysis.target}")


def approximations(analysis: Analysis) -> str:
    """What the explanation approximates, stated under it: how closely the word scores add up to the
    change in the model's score (integrated gradients, a quadrature), and how many running points."""
    points = len(analysis.running_positions)
    drawn = ("every token" if points == len(analysis.tokens)
             else f"{points} of {len(analysis.tokens):,} token positions")
    error = analysis.completeness_error
    if not math.isfinite(error):  # the text scores exactly like an empty one: nothing to add up to
        fit = "the text scores like an empty one, so there is no change for them to add up to"
    else:
        fit = f"they add up to the change in the model's score within {error:.1%}"
        if error > ROUGH_ATTRIBUTIONS:
            fit += " (**rough for this text**: the model's score jumps sharply between an empty text and this one)"
    follows = ""
    if len(analysis.probabilities) > 2:  # the legend speaks of two classes: say what the colours mean here
        follows = (f"With {len(analysis.probabilities)} classes, the colours and the running line follow "
                   f"**{md.text(analysis.target)}**: green towards it, red away from it. ")
    return (f"<small>{follows}Word colours: integrated gradients from {analysis.steps} gradient evaluations; {fit}. "
            f"Running prediction: {drawn}.</small>")


def running_chart(analysis: Analysis):
    """P(second class) had the review ended after each token (P(positive) for an IMDB model); with more
    classes, P of the predicted class."""
    labels = list(analysis.probabilities)
    tokens = [analysis.tokens[pos - 1] for pos in analysis.running_positions]
    if len(labels) > 2:
        return draw_running(analysis.running_positions, analysis.running, tokens, target=analysis.target)
    if tuple(labels) == ("negative", "positive"):
        return draw_running(analysis.running_positions, analysis.running, tokens)
    return draw_running(analysis.running_positions, analysis.running, tokens, target=labels[1], opposite=labels[0])


def label_view(registry: ModelRegistry, model_key: str | None, text: str | None) -> Any:
    """The Prediction box as you type: probabilities on the label's colour, or empty (the explanation says why)."""
    try:
        probs = cl.probabilities(registry, text, model_key)
    except cl.ClassifyProblem:
        return gr.Label(value=None, color=None)
    return gr.Label(value=probs, color=palette.tint(max(probs, key=probs.get)))


def explanation_view(registry: ModelRegistry, model_key: str | None, text: str | None) -> ExplainOutput:
    """Word contributions, running prediction and the info line as you type; a problem is a message.

    This runs on every keystroke, so it never raises: empty text or a missing model clears the
    outputs and says why.
    """
    try:
        result, predictor = cl.analysis(registry, text, model_key)
    except cl.ClassifyProblem as exc:
        return WORDS_EMPTY, None, md.text(str(exc))
    known = cl.known_words(predictor, result.tokens)
    (_, green), (_, red) = directions(result)
    return (words_html(result.tokens, result.attributions, known, result.cut_at, (red, green)), running_chart(result),
            describe(result, predictor.max_tokens, known))
