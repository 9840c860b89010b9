"""Classify-tab handlers: one review with its word-level explanation, or a file of reviews."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import math
from pathlib import Path
from typing import Any

from sentiment_core import CheckpointError, EmptyTextError
from sentiment_core.predict import Analysis, Predictor

from .charts import line_chart
from .models import ModelRegistry

EMPTY_MESSAGE = "Type or paste a review, or pick an example below."
NO_MODEL_MESSAGE = "No model is available yet: train one in the **Train** tab."
ROUGH_ATTRIBUTIONS = 0.2  # a completeness error above this is called out on the page

ExplainOutput = tuple[list[tuple[str, float | None]] | None, Any, str]


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS, Windows)."""
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None


def release_memory() -> None:
    """Give the memory a request freed back to the system, where the C library allows it.

    A long review's attributions and running prediction allocate tens of MB of temporary tensors;
    once freed, glibc keeps those pages in its heaps (one per thread), so the app's resident memory
    grew from 476 MB to 1.3 GB over 600 requests and stayed there (``bench/bench_soak.py``).
    ``malloc_trim`` returns them: about 10 ms after a long review, well under 1 ms after a short one.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def load_examples() -> list[dict[str, str]]:
    """The clickable examples: real IMDB test reviews (cited by file) and short handwritten ones."""
    with open(Path(__file__).with_name("examples.json"), encoding="utf-8") as f:
        return json.load(f)["examples"]


def explanation(tokens: list[str], attributions: list[float],
                gap_at: int | None = None) -> list[tuple[str, float | None]]:
    """(token, score) pairs for ``gr.HighlightedText``: attributions scaled to [-1, 1] by the largest.

    ``gap_at`` marks where the middle of a long review was cut out (shown as an uncoloured "…").
    """
    scale = max((abs(a) for a in attributions), default=0.0) or 1.0
    pairs: list[tuple[str, float | None]] = [
        (tok, round(a / scale, 4)) for tok, a in zip(tokens, attributions, strict=True)
    ]
    if gap_at is not None:
        pairs.insert(gap_at, ("…", None))
    return pairs


def _top_words(tokens: list[str], attributions: list[float], sign: int, k: int = 3) -> list[str]:
    ranked = sorted(((sign * a, t) for t, a in zip(tokens, attributions, strict=True) if sign * a > 0), reverse=True)
    return list(dict.fromkeys(t for _, t in ranked))[:k]


def describe(analysis: Analysis, max_tokens: int) -> str:
    """The info line under the label: verdict, tokens read, the words that pushed most."""
    label = max(analysis.probabilities, key=analysis.probabilities.get)
    parts = [f"**{label}** ({analysis.probabilities[label]:.1%}) from {len(analysis.tokens):,} tokens"]
    for sign, towards in directions(analysis):
        words = _top_words(analysis.tokens, analysis.attributions, sign)
        if words:
            parts.append(f"towards {towards}: " + ", ".join(f"*{w}*" for w in words))
    line = " · ".join(parts)
    if analysis.truncated:
        line += (f"  \nLong text: the model reads at most {max_tokens:,} tokens, from its beginning and its end "
                 "(the middle left out is marked …).")
    if analysis.replaced:
        line += "  \nSome characters could not be read and were replaced (shown as \N{REPLACEMENT CHARACTER})."
    return line + "  \n" + approximations(analysis)


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
    if len(analysis.probabilities) > 2:  # the page's fixed captions speak of two classes
        follows = (f"With {len(analysis.probabilities)} classes, the colours and the running line follow "
                   f"**{analysis.target}**: the colour of pushing towards it, the other colour away from it. ")
    return (f"<small>{follows}Word colours: integrated gradients from {analysis.steps} gradient evaluations; {fit}. "
            f"Running prediction: {drawn}.</small>")


def running_chart(analysis: Analysis):
    """P(positive) had the review ended after each token; with more classes, P of the predicted class."""
    name = f"P({analysis.target or 'positive'})"
    # A class name may hold characters a Vega-Lite field name can't ('.', '['): it is only a title.
    field = "P(positive)" if len(analysis.probabilities) <= 2 else "probability"
    rows = [{"tokens read": pos, field: p, "token": analysis.tokens[pos - 1], "series": name}
            for pos, p in zip(analysis.running_positions, analysis.running, strict=True)]
    chance = 1 / len(analysis.probabilities) if analysis.probabilities else 0.5
    return line_chart(rows, "tokens read", field, x_title="tokens read", y_title=name, y_domain=(0.0, 1.0),
                      rule=chance, height=220)


def _predictor(registry: ModelRegistry, model_key: str | None) -> Predictor:
    """The predictor of ``model_key`` (the default model when empty); ``ClassifyProblem`` if there is none."""
    model_key = model_key or registry.default_key()
    if not model_key:
        raise ClassifyProblem(NO_MODEL_MESSAGE)
    try:
        return registry.predictor(model_key)
    except KeyError:
        raise ClassifyProblem(f"The model `{model_key}` is gone or unknown; pick another one.") from None
    except CheckpointError as exc:
        raise ClassifyProblem(f"The model `{model_key}` cannot be used: {exc.problem}") from None


class ClassifyProblem(ValueError):
    """A text or model that cannot be classified; the message is for the page or the API caller."""


def probabilities(registry: ModelRegistry, text: str | None, model_key: str | None = None) -> dict[str, float]:
    """The label's probabilities for one review: the fast path, answered before the explanation."""
    if not text or not text.strip():
        raise ClassifyProblem(EMPTY_MESSAGE)
    try:
        return _predictor(registry, model_key).predict(text)
    except EmptyTextError as exc:
        raise ClassifyProblem(f"Nothing to classify: {exc}.") from None


def analysis(registry: ModelRegistry, text: str | None, model_key: str | None = None) -> tuple[Analysis, int]:
    """The full explanation of one review (probabilities, word attributions, running prediction),
    and the model's token limit."""
    if not text or not text.strip():
        raise ClassifyProblem(EMPTY_MESSAGE)
    predictor = _predictor(registry, model_key)
    try:
        return predictor.analyze(text), predictor.max_tokens
    except EmptyTextError as exc:
        raise ClassifyProblem(f"Nothing to classify: {exc}.") from None
    finally:
        release_memory()


def label_view(registry: ModelRegistry, model_key: str | None, text: str | None) -> dict[str, float] | None:
    """The Prediction box as you type: probabilities, or empty (the explanation says why)."""
    try:
        return probabilities(registry, text, model_key)
    except ClassifyProblem:
        return None


def explanation_view(registry: ModelRegistry, model_key: str | None, text: str | None) -> ExplainOutput:
    """Word contributions, running prediction and the info line as you type; a problem is a message.

    This runs on every keystroke, so it never raises: empty text or a missing model clears the
    outputs and says why.
    """
    try:
        result, max_tokens = analysis(registry, text, model_key)
    except ClassifyProblem as exc:
        return None, None, str(exc)
    return (explanation(result.tokens, result.attributions, result.cut_at), running_chart(result),
            describe(result, max_tokens))


def explanation_json(result: Analysis) -> dict[str, Any]:
    """The explanation as plain values, for API callers."""
    return {
        "label": max(result.probabilities, key=result.probabilities.get),
        "probabilities": result.probabilities,
        "tokens": result.tokens,
        "attributions": result.attributions,
        # p_positive: P of the class explained, the positive one of two (see "target")
        "running": {"tokens_read": result.running_positions, "p_positive": result.running},
        "target": result.target,
        "truncated": result.truncated,
        "cut_at": result.cut_at,
        "characters_replaced": result.replaced,
        "attribution_steps": result.steps,
        "completeness_error": result.completeness_error,
    }
