"""Two sections of the Classify tab that look inside the models, with their events and API endpoints:

- **Every model on this review**: each model's probabilities and test accuracy, and a plot of how
  strongly its prediction depends on each token against the token's distance from the end.
  Computed only while the section is open, after the explanation of each text (so it never holds up
  the label or the explanation), one request at a time for the whole app.
- **The reviews this model gets wrong**: a model's mistakes on the validation or test split, scored
  on demand with a progress bar (one scoring at a time for the whole app; each table is cached on
  disk), filtered and ordered; clicking a row loads the review into the Review box, which
  classifies and explains it.
"""

# No ``from __future__ import annotations`` here: ``gr.api`` reads the endpoints' annotations as types.

import functools
from dataclasses import dataclass
from typing import Any

import gradio as gr

from sentiment_core import markdown as md
from sentiment_core.mistakes import ErrorRow, ErrorTable

from ..services import insight as ins
from ..services import limits
from ..services.classify import ClassifyProblem
from ..services.insight import ModelReading
from ..services.registry import ModelRegistry
from . import palette
from .charts import GRADIENT_FLOOR, gradient_chart
from .classify_views import sentiment
from .inputs import model_argument, rate_limited, refusing, text_argument

# One comparison at a time: each is a forward and a backward pass of every model (up to ~0.5 s on one thread).
COMPARE_CONCURRENCY = 1
# One scoring at a time: a test split is 25,000 reviews (about a minute on one thread the first time).
ERRORS_CONCURRENCY = 1

ERRORS_INTRO = (
    "The reviews the selected model classifies wrongly, scored when you press **Find the mistakes** on the data "
    "it was trained on (for IMDB, the first scoring reads and tokenizes the archive, about 2 minutes with a progress "
    "bar, then the tokens are cached: the validation split's 2,500 reviews then take a few seconds, the test split's "
    "25,000 about a minute; a model trained on your own file is scored on "
    "that file's validation or test rows). *Confidence* is the probability the model gave its wrong answer: the most "
    "confident mistakes are often sarcasm, mixed reviews or a twist at the end.")
GRADIENT_LABEL = "Gradient flow: how strongly each model's prediction depends on each token"
NOT_YET = "Press **Find the mistakes** to score the selected model's reviews."


@dataclass
class InsightComponents:
    """The two sections' components."""

    compare_open: gr.State
    compare_section: gr.Accordion
    compare_table: gr.Dataframe
    gradient: gr.Plot
    gradient_caption: gr.Markdown
    err_split: gr.Radio
    err_label: gr.Radio
    err_order: gr.Radio
    err_min: gr.Number
    err_max: gr.Number
    err_find: gr.Button
    err_summary: gr.Markdown
    err_table: gr.Dataframe
    err_shown: gr.State  # per page: the model and split shown, and the shown rows' texts by id


def lay_out(labels: list[str] | tuple[str, ...] = ()) -> InsightComponents:
    """The two sections' components (inside the Classify tab's layout); ``labels``: the classes of the model
    selected when the page opens, the true-label filter's choices."""
    compare_open = gr.State(False)
    with gr.Accordion("Inside the model: every model on this review, and how far back each one reads",
                      open=False, elem_id="compare-section") as compare_section:
        compare_table = gr.Dataframe(label="Every model on this review", interactive=False, wrap=True,
                                     elem_id="compare-table")
        gradient = gr.Plot(label=GRADIENT_LABEL, elem_id="gradient", elem_classes="chart")
        gradient_caption = gr.Markdown(GRADIENT_CAPTION, elem_id="gradient-caption")
    with gr.Accordion("Mistakes: the reviews this model gets wrong", open=False, elem_id="errors-section"):
        gr.Markdown(ERRORS_INTRO)
        with gr.Row():
            err_split = gr.Radio(list(ins.SPLITS), value="validation", label="Reviews", min_width=160)
            err_label = gr.Radio(ins.label_filters(labels), value=ins.ANY_LABEL, label="True label", min_width=220)
            err_order = gr.Radio(list(ins.ORDERS), value=ins.ORDERS[0], label="Order", min_width=220)
        with gr.Row(equal_height=True):
            err_min = gr.Number(0, label="Shortest (tokens)", precision=0, minimum=0,
                                maximum=ins.MAX_LENGTH_FILTER, min_width=120)
            err_max = gr.Number(0, label="Longest (tokens, 0: any)", precision=0, minimum=0,
                                maximum=ins.MAX_LENGTH_FILTER, min_width=120)
            err_find = gr.Button("Find the mistakes", variant="primary", min_width=160, elem_id="find-errors")
        err_summary = gr.Markdown(NOT_YET, elem_id="errors-summary")
        err_table = gr.Dataframe(headers=ins.ERROR_COLUMNS, interactive=False, wrap=True, max_height=480,
                                 elem_id="errors-table")
        err_shown = gr.State({})
    return InsightComponents(compare_open, compare_section, compare_table, gradient, gradient_caption, err_split,
                             err_label, err_order, err_min, err_max, err_find, err_summary, err_table, err_shown)


GRADIENT_CAPTION = (
    "**How far back does each model look?** For every token of the review, the size of the gradient of the "
    "model's score (its logit) with respect to that token's word vector: how much the prediction would move if "
    "that word were nudged. Left is the end of the review, right its beginning. A line that stays high reads "
    "the whole review; a line that falls straight down, as a vanilla RNN's does a few dozen tokens back, is the "
    f"**vanishing gradient**: the model barely feels, and during training barely learned from, those words. "
    f"Values at or below {GRADIENT_FLOOR:.0e} (the dashed line) have vanished. A bidirectional model also reads "
    "from the end backwards, so it feels the beginning too.")


def compare_chart(readings: list[ModelReading], selected: str | None):
    """The gradient flow of every compared model, the selected one thicker."""
    flows = [(ins.reading_name(r, selected), r.flow.tokens, r.flow.distances, r.flow.norms) for r in readings]
    names = [name for name, *_ in flows]
    return gradient_chart(flows, selected=names[0] if readings and readings[0].entry.key == selected else "")


def compare_caption(readings: list[ModelReading], notes: list[str]) -> str:
    """The caption under the plot: how to read it, and which models read only part of the review."""
    lines = [GRADIENT_CAPTION]
    cut = [f"{md.code(r.entry.path.stem)} ({len(r.flow.tokens):,})" for r in readings if r.flow.truncated]
    if cut:
        lines.append("Long review: these models read only its beginning and end, so their lines stop at the tokens "
                     f"they read: {', '.join(cut)}.")
    return "\n\n".join([*lines, *notes])


SHOWN_CONFUSIONS = 4  # the commonest kinds of mistake the summary names, for a model of more than two classes


def confusions(table: ErrorTable, noun: str) -> str:
    """The kinds of mistake and their counts: both for two classes, the commonest for more."""
    labels, confusion = table.labels, table.metrics.confusion
    pairs = [(confusion[t][p], t, p) for t in range(len(labels)) for p in range(len(labels)) if t != p]
    if len(labels) > 2:
        pairs = sorted((pair for pair in pairs if pair[0]), key=lambda pair: (-pair[0], pair[1], pair[2]))
    named = [f"{n:,} {sentiment(labels[t])} {noun} called {md.text(labels[p])}" for n, t, p in pairs[:SHOWN_CONFUSIONS]]
    rest = sum(n for n, _, _ in pairs[SHOWN_CONFUSIONS:])
    return ", ".join(named) + (f", {rest:,} others" if rest else "")


def summary(table: ErrorTable, model_key: str, shown: int, matching: int, noun: str = "reviews") -> str:
    """What the explorer found: the model's mistakes on the split, and how many the filters show; ``noun``:
    what the model's data calls an example (``ModelEntry.examples``)."""
    metrics = table.metrics
    wrong = metrics.count - sum(metrics.confusion[c][c] for c in range(len(metrics.confusion)))
    split = "validation" if table.split == "val" else "test"
    kinds = f": {confusions(table, noun)}" if wrong else ""
    lines = [f"{md.code(model_key)} gets **{wrong:,} of the {metrics.count:,} {split} {noun}** wrong "
             f"(accuracy {metrics.accuracy:.1%}){kinds}."]
    if not matching:
        lines.append("None of them passes the filters.")
    else:
        which = (f"the first {shown:,} of the {matching:,}" if shown < matching
                 else f"{'all ' if matching > 1 else ''}{matching:,}")
        lines.append(f"Showing {which} that pass the filters. **Click a row** to load that review into the "
                     "Review box above and see its explanation.")
    return "  \n".join(lines)


def styled_errors(rows: list[ErrorRow]) -> Any:
    """The page's table with both label columns in their colours."""
    return palette.style_labels(ins.error_frame(rows), ["true label", "predicted"])




def compare_view(registry: ModelRegistry, c: InsightComponents, opened: bool, model_key: str | None,
                 text: str | None) -> dict:
    """The comparison table, gradient plot and caption of a text, while the section is open."""
    outputs = (c.compare_table, c.gradient, c.gradient_caption)
    if not opened:
        return dict.fromkeys(outputs, gr.skip())
    try:
        readings, notes = ins.compare(registry, text, model_key)
    except ClassifyProblem as exc:
        return dict(zip(outputs, (None, None, md.text(str(exc))), strict=True))
    frame = palette.style_labels(ins.compare_frame(readings, model_key), "prediction")
    return dict(zip(outputs, (frame, compare_chart(readings, model_key), compare_caption(readings, notes)),
                    strict=True))


def find_view(explorer: ins.ErrorExplorer, c: InsightComponents, model_key: str | None, split: str, label: str,
              min_tokens: Any, max_tokens: Any, order: str, shown: dict, only_if_shown: bool = False,
              progress: gr.Progress = gr.Progress()) -> dict:  # noqa: B008 (how Gradio asks for a progress bar)
    """The selected model's mistakes, filtered; with ``only_if_shown`` (a filter changed), only when a
    table is already on the page."""
    outputs = (c.err_summary, c.err_table, c.err_shown)
    if only_if_shown and not shown:
        return dict.fromkeys(outputs, gr.skip())

    def hook(stage: str, done: int, total: int) -> None:
        desc, unit = ins.STAGES.get(stage, (stage, "steps"))
        progress((done, max(total, 1)), desc=desc, unit=unit)

    if not only_if_shown:  # a filter changed: the table is scored already
        rate_limited(limits.ERRORS)
    try:
        table = explorer.table(model_key, ins.split_of(split), hook)
        matching = ins.select(table, label, min_tokens, max_tokens, order == ins.ORDERS[1], 0)
    except (ClassifyProblem, ValueError) as exc:
        return dict(zip(outputs, (md.text(str(exc)), None, {}), strict=True))
    rows = matching[:ins.MAX_ROWS]
    key = model_key or explorer.registry.default_key()
    try:
        noun = explorer.registry.entry(key).examples
    except KeyError:
        noun = "reviews"
    texts = {"model": key, "split": split, "texts": {row.id: row.text for row in rows}}
    return dict(zip(outputs, (summary(table, key, len(rows), len(matching), noun), styled_errors(rows), texts),
                    strict=True))


def pick_view(shown: dict, evt: gr.SelectData) -> Any:
    """The clicked mistake's full text, for the Review box (which then classifies and explains it)."""
    row = evt.row_value or []
    text = shown.get("texts", {}).get(row[0]) if row else None
    return text if text is not None else gr.skip()


def clear_view(registry: ModelRegistry, c: InsightComponents, model_key: str | None) -> dict:
    """A new model: the explorer's table was another model's, and the true-label filter offers its classes."""
    try:
        labels = registry.entry(model_key or registry.default_key() or "").labels
    except KeyError:
        labels = []
    return {c.err_summary: NOT_YET, c.err_table: None, c.err_shown: {},
            c.err_label: gr.Radio(choices=ins.label_filters(labels), value=ins.ANY_LABEL)}


SCROLL_TO_REVIEW = "() => document.getElementById('review').scrollIntoView({behavior: 'smooth', block: 'start'})"


def wire(c: InsightComponents, model: gr.Dropdown, text: gr.Textbox, registry: ModelRegistry,
         explorer: ins.ErrorExplorer, explained: list, model_changed) -> None:
    """The sections' events: ``model`` and ``text`` are the Classify tab's model selector and Review box;
    ``explained`` are the events that explain a new text or model, which the comparison follows;
    ``model_changed`` the model selector's change event."""
    compare_io = {"fn": functools.partial(compare_view, registry, c),
                  "inputs": [c.compare_open, model, text],
                  "outputs": [c.compare_table, c.gradient, c.gradient_caption],
                  "concurrency_limit": COMPARE_CONCURRENCY, "concurrency_id": "compare", "api_visibility": "private"}
    for event in explained:
        event.then(**compare_io, show_progress="hidden")
    c.compare_section.expand(lambda: True, None, [c.compare_open], queue=False, show_progress="hidden",
                                api_visibility="private").then(**compare_io, show_progress="minimal")
    c.compare_section.collapse(lambda: False, None, [c.compare_open], queue=False, show_progress="hidden",
                                  api_visibility="private")

    find_inputs = [model, c.err_split, c.err_label, c.err_min, c.err_max, c.err_order,
                   c.err_shown]
    find_outputs = [c.err_summary, c.err_table, c.err_shown]
    find = {"fn": functools.partial(find_view, explorer, c), "inputs": find_inputs, "outputs": find_outputs,
            "concurrency_limit": ERRORS_CONCURRENCY, "concurrency_id": "errors", "api_visibility": "private"}
    c.err_find.click(**find, show_progress="full")
    refilter = {**find, "fn": functools.partial(find_view, explorer, c, only_if_shown=True)}
    for control in (c.err_split, c.err_label, c.err_order):
        control.input(**refilter, show_progress="full")
    for box in (c.err_min, c.err_max):
        box.submit(**refilter, show_progress="full")
        box.blur(**refilter, show_progress="full")
    c.err_table.select(pick_view, [c.err_shown], [text], queue=False, show_progress="hidden",
                          api_visibility="private").then(None, js=SCROLL_TO_REVIEW, api_visibility="private")
    model_changed.then(functools.partial(clear_view, registry, c), [model], [*find_outputs, c.err_label],
                       queue=False, show_progress="hidden", api_visibility="private")


def add_api(registry: ModelRegistry, explorer: ins.ErrorExplorer) -> None:
    """The sections' API endpoints: named parameters, plain JSON results, bad input a ``gr.Error``."""

    def compare_models(text: str, model: str | None = None) -> dict:
        """Every listed model on one review (at most 6, the named model first): probabilities, test accuracy,
        and the gradient norm of the logit at each token with the token's distance from the end."""
        text, model = text_argument(text), model_argument(registry, model)
        with refusing():
            readings, notes = ins.compare(registry, text, model)
        return ins.compare_json(readings, notes, model)

    def errors(model: str | None = None, split: str = "validation", label: str = "any", min_tokens: int = 0,
               max_tokens: int = 0, least_confident: bool = False, top: int = 50) -> dict:
        """The reviews a model gets wrong on the validation or test split, most confident first (or least), with
        their full texts; label (any, or one of the model's classes: the true one) and length in tokens filter them."""
        rate_limited(limits.ERRORS)  # before anything else: a refused call costs little, but counts
        model = model_argument(registry, model)
        with refusing():
            top = ins.whole("top", top, ins.MAX_API_ROWS)
            if not isinstance(least_confident, bool):
                raise ClassifyProblem(f"least_confident must be true or false, not {least_confident!r}.")
            table = explorer.table(model, ins.split_of(split))
            matching = ins.select(table, label, min_tokens, max_tokens, least_confident, 0)
        return ins.error_json(table, model, matching[:top] if top else matching[:ins.MAX_API_ROWS], len(matching))

    gr.api(compare_models, api_name="compare_models", concurrency_id="compare", concurrency_limit=COMPARE_CONCURRENCY)
    gr.api(errors, api_name="errors", concurrency_id="errors", concurrency_limit=ERRORS_CONCURRENCY)
