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
from typing import Any

import gradio as gr

from sentiment_core import markdown as md

from . import insight as ins
from . import palette
from .classify import ClassifyProblem
from .errors import model_argument, text_argument, user_error
from .models import ModelRegistry

# One comparison at a time: each is a forward and a backward pass of every model (up to ~0.5 s on one thread).
COMPARE_CONCURRENCY = 1
# One scoring at a time: a test split is 25,000 reviews (about a minute on one thread the first time).
ERRORS_CONCURRENCY = 1

ERRORS_INTRO = (
    "The reviews the selected model classifies wrongly, scored when you press **Find the mistakes** (the "
    "validation split's 2,500 reviews take a few seconds; the test split's 25,000 about a minute the first "
    "time, then they are cached). *Confidence* is the probability the model gave its wrong answer: the most "
    "confident mistakes are often sarcasm, mixed reviews or a twist at the end.")
GRADIENT_LABEL = "Gradient flow: how strongly each model's prediction depends on each token"
NOT_YET = "Press **Find the mistakes** to score the selected model's reviews."


def lay_out(c: dict[str, Any]) -> None:
    """The two sections' components, added to ``c`` (inside the Classify tab's layout)."""
    c["compare_open"] = gr.State(False)
    with gr.Accordion("Inside the model: every model on this review, and how far back each one reads",
                      open=False, elem_id="compare-section") as c["compare_section"]:
        c["compare_table"] = gr.Dataframe(label="Every model on this review", interactive=False, wrap=True,
                                          elem_id="compare-table")
        c["gradient"] = gr.Plot(label=GRADIENT_LABEL, elem_id="gradient", elem_classes="chart")
        c["gradient_caption"] = gr.Markdown(ins.GRADIENT_CAPTION, elem_id="gradient-caption")
    with gr.Accordion("Mistakes: the reviews this model gets wrong", open=False, elem_id="errors-section"):
        gr.Markdown(ERRORS_INTRO)
        with gr.Row():
            c["err_split"] = gr.Radio(list(ins.SPLITS), value="validation", label="Reviews", min_width=160)
            c["err_label"] = gr.Radio(list(ins.LABEL_FILTERS), value="any", label="True label", min_width=220)
            c["err_order"] = gr.Radio(list(ins.ORDERS), value=ins.ORDERS[0], label="Order", min_width=220)
        with gr.Row(equal_height=True):
            c["err_min"] = gr.Number(0, label="Shortest (tokens)", precision=0, minimum=0,
                                     maximum=ins.MAX_LENGTH_FILTER, min_width=120)
            c["err_max"] = gr.Number(0, label="Longest (tokens, 0: any)", precision=0, minimum=0,
                                     maximum=ins.MAX_LENGTH_FILTER, min_width=120)
            c["err_find"] = gr.Button("Find the mistakes", variant="primary", min_width=160, elem_id="find-errors")
        c["err_summary"] = gr.Markdown(NOT_YET, elem_id="errors-summary")
        c["err_table"] = gr.Dataframe(headers=ins.ERROR_COLUMNS, interactive=False, wrap=True, max_height=480,
                                      elem_id="errors-table")
        c["err_shown"] = gr.State({})  # per page: the model and split shown, and the shown rows' texts by id


def compare_view(registry: ModelRegistry, c: dict[str, Any], opened: bool, model_key: str | None,
                 text: str | None) -> dict:
    """The comparison table, gradient plot and caption of a text, while the section is open."""
    outputs = (c["compare_table"], c["gradient"], c["gradient_caption"])
    if not opened:
        return dict.fromkeys(outputs, gr.skip())
    try:
        readings, notes = ins.compare(registry, text, model_key)
    except ClassifyProblem as exc:
        return dict(zip(outputs, (None, None, md.text(str(exc))), strict=True))
    frame = palette.style_labels(ins.compare_frame(readings, model_key), "prediction")
    return dict(zip(outputs, (frame, ins.compare_chart(readings, model_key), ins.compare_caption(readings, notes)),
                    strict=True))


def find_view(explorer: ins.ErrorExplorer, c: dict[str, Any], model_key: str | None, split: str, label: str,
              min_tokens: Any, max_tokens: Any, order: str, shown: dict, only_if_shown: bool = False,
              progress: gr.Progress = gr.Progress()) -> dict:  # noqa: B008 (how Gradio asks for a progress bar)
    """The selected model's mistakes, filtered; with ``only_if_shown`` (a filter changed), only when a
    table is already on the page."""
    outputs = (c["err_summary"], c["err_table"], c["err_shown"])
    if only_if_shown and not shown:
        return dict.fromkeys(outputs, gr.skip())

    def hook(stage: str, done: int, total: int) -> None:
        desc, unit = ins.STAGES.get(stage, (stage, "steps"))
        progress((done, max(total, 1)), desc=desc, unit=unit)

    try:
        table = explorer.table(model_key, ins.split_of(split), hook)
        matching = ins.select(table, label, min_tokens, max_tokens, order == ins.ORDERS[1], 0)
    except (ClassifyProblem, ValueError) as exc:
        return dict(zip(outputs, (md.text(str(exc)), None, {}), strict=True))
    rows = matching[:ins.MAX_ROWS]
    key = model_key or explorer.registry.default_key()
    texts = {"model": key, "split": split, "texts": {row.id: row.text for row in rows}}
    return dict(zip(outputs, (ins.summary(table, key, len(rows), len(matching)), ins.styled_errors(rows), texts),
                    strict=True))


def pick_view(shown: dict, evt: gr.SelectData) -> Any:
    """The clicked mistake's full text, for the Review box (which then classifies and explains it)."""
    row = evt.row_value or []
    text = shown.get("texts", {}).get(row[0]) if row else None
    return text if text is not None else gr.skip()


def clear_view(c: dict[str, Any]) -> dict:
    """A new model: the explorer's table was another model's."""
    return {c["err_summary"]: NOT_YET, c["err_table"]: None, c["err_shown"]: {}}


SCROLL_TO_REVIEW = "() => document.getElementById('review').scrollIntoView({behavior: 'smooth', block: 'start'})"


def wire(c: dict[str, Any], registry: ModelRegistry, explorer: ins.ErrorExplorer, explained: list,
         model_changed) -> None:
    """The sections' events: ``explained`` are the events that explain a new text or model, which the
    comparison follows; ``model_changed`` the model selector's change event."""
    compare_io = {"fn": functools.partial(compare_view, registry, c),
                  "inputs": [c["compare_open"], c["model"], c["text"]],
                  "outputs": [c["compare_table"], c["gradient"], c["gradient_caption"]],
                  "concurrency_limit": COMPARE_CONCURRENCY, "concurrency_id": "compare", "api_visibility": "private"}
    for event in explained:
        event.then(**compare_io, show_progress="hidden")
    c["compare_section"].expand(lambda: True, None, [c["compare_open"]], queue=False, show_progress="hidden",
                                api_visibility="private").then(**compare_io, show_progress="minimal")
    c["compare_section"].collapse(lambda: False, None, [c["compare_open"]], queue=False, show_progress="hidden",
                                  api_visibility="private")

    find_inputs = [c["model"], c["err_split"], c["err_label"], c["err_min"], c["err_max"], c["err_order"],
                   c["err_shown"]]
    find_outputs = [c["err_summary"], c["err_table"], c["err_shown"]]
    find = {"fn": functools.partial(find_view, explorer, c), "inputs": find_inputs, "outputs": find_outputs,
            "concurrency_limit": ERRORS_CONCURRENCY, "concurrency_id": "errors", "api_visibility": "private"}
    c["err_find"].click(**find, show_progress="full")
    refilter = {**find, "fn": functools.partial(find_view, explorer, c, only_if_shown=True)}
    for control in (c["err_split"], c["err_label"], c["err_order"]):
        control.input(**refilter, show_progress="full")
    for box in (c["err_min"], c["err_max"]):
        box.submit(**refilter, show_progress="full")
        box.blur(**refilter, show_progress="full")
    c["err_table"].select(pick_view, [c["err_shown"]], [c["text"]], queue=False, show_progress="hidden",
                          api_visibility="private").then(None, js=SCROLL_TO_REVIEW, api_visibility="private")
    model_changed.then(functools.partial(clear_view, c), None, find_outputs, queue=False, show_progress="hidden",
                       api_visibility="private")


def add_api(registry: ModelRegistry, explorer: ins.ErrorExplorer) -> None:
    """The sections' API endpoints: named parameters, plain JSON results, bad input a ``gr.Error``."""

    def compare_models(text: str, model: str | None = None) -> dict:
        """Every listed model on one review (at most 6, the named model first): probabilities, test accuracy,
        and the gradient norm of the logit at each token with the token's distance from the end."""
        text, model = text_argument(text), model_argument(registry, model)
        try:
            readings, notes = ins.compare(registry, text, model)
        except ClassifyProblem as exc:
            raise user_error(str(exc)) from None
        return ins.compare_json(readings, notes, model)

    def errors(model: str | None = None, split: str = "validation", label: str = "any", min_tokens: int = 0,
               max_tokens: int = 0, least_confident: bool = False, top: int = 50) -> dict:
        """The reviews a model gets wrong on the validation or test split, most confident first (or least), with
        their full texts; label (any, negative, positive: the true one) and length in tokens filter them."""
        model = model_argument(registry, model)
        try:
            top = ins.whole("top", top, ins.MAX_API_ROWS)
            if not isinstance(least_confident, bool):
                raise ClassifyProblem(f"least_confident must be true or false, not {least_confident!r}.")
            table = explorer.table(model, ins.split_of(split))
            matching = ins.select(table, label, min_tokens, max_tokens, least_confident, 0)
        except ClassifyProblem as exc:
            raise user_error(str(exc)) from None
        return ins.error_json(table, model, matching[:top] if top else matching[:ins.MAX_API_ROWS], len(matching))

    gr.api(compare_models, api_name="compare_models", concurrency_id="compare", concurrency_limit=COMPARE_CONCURRENCY)
    gr.api(errors, api_name="errors", concurrency_id="errors", concurrency_limit=ERRORS_CONCURRENCY)
