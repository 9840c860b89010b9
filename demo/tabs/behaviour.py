"""The Behaviour tab: test the models like software. The suite's capability report per model, your own
template test, and edits that should flip a review; with the ``/behaviour_report``, ``/run_template`` and
``/edit_to_flip`` API endpoints.

Nothing here listens to the Review box: the tab only writes into it (a clicked example), so typing a
review costs what it did before.
"""

# No ``from __future__ import annotations`` here: ``gr.api`` reads the endpoints' annotations as types.

import functools
from dataclasses import dataclass
from typing import Any

import gradio as gr

from sentiment_core import markdown as md
from sentiment_core.behaviour import EXPECTATIONS, MAX_FILLS, TemplateError, default_lexicons
from sentiment_core.behaviour.templates import check_lexicons

from ..services import behaviour as bh
from ..services import flip
from ..services.registry import ModelRegistry
from . import behaviour_views as views
from .inputs import refusing

INTRO = """\
### Test the models like software
A **behavioural test** checks one capability with many short sentences made from a template, the way a unit
test checks one function. A *minimum functionality* test expects a label ("This film was not good." is
negative); an *invariance* test expects nothing to change when something irrelevant does (a name, a city, a
full stop); a *directional* test expects a change one way ("very good" is no less positive than "good").
Accuracy on real reviews hides these: a model that is right on 93% of IMDB reviews learned the words that
usually decide a review, and negation or "but" decide few of them, so it can fail half of the sentences of a
capability and still score well. The suite has two halves: look at the **dev** half's failing examples; the
**held-out** half, written apart from it, shows figures only, so it stays a fair test."""
REPORT_HELP = ("Shipped models' reports were recorded with their cards and show at once; another model's are "
               "computed once (about 19,000 sentences, under a minute on one core) and cached. **Click an "
               "example** to load it into the Classify tab's Review box.")
OWN_HELP = (f"Placeholders such as `{{pos_adj}}` take every word of the lexicon of that name (edit them below, or "
            f"add a row); every combination is one fill, at most {MAX_FILLS}. A comparison fills each sentence "
            "with and without the placeholder X (or, for *same whatever X*, with two of its words). "
            + "; ".join(f"*{e.name}*: {e.help}" for e in EXPECTATIONS) + ".")
FLIP_HELP = ("Edit a review as little as you can so that its label should change (or should not: that is yours "
             "to say), and see what each model makes of both. The pairs below are reviews and the revisions "
             "people wrote to flip them (Kaushik, Hovy and Lipton, ICLR 2020; Apache-2.0).")
NOT_YET = "Press **Run the suite** for the chosen models' capability report."
REPORT_CONCURRENCY = 1  # one suite run at a time: ~19,000 sentences per model
OWN_CONCURRENCY = 1
LEXICON_HEADERS = ["placeholder", "words (comma-separated)"]


@dataclass
class BehaviourComponents:
    """The tab's components."""

    models: gr.CheckboxGroup
    run: gr.Button
    table: gr.HTML
    examples_of: gr.Dropdown
    examples: gr.Dataframe
    report: gr.State  # per page: the report shown, {model key: [[example texts, rewritten texts], ...]}
    template: gr.Textbox
    expect: gr.Dropdown
    slot: gr.Textbox
    lexicons: gr.Dataframe
    run_own: gr.Button
    own_summary: gr.Markdown
    own_table: gr.Dataframe
    original: gr.Textbox
    edited: gr.Textbox
    from_review: gr.Button
    compare: gr.Button
    target: gr.Radio
    diff: gr.HTML
    flip_table: gr.Dataframe


def lexicon_rows(lexicons: dict[str, tuple[str, ...]]) -> list[list[str]]:
    return [[name, ", ".join(words)] for name, words in sorted(lexicons.items())]


def lexicons_of(rows: Any) -> dict[str, list[str]]:
    """The edited lexicon table as {placeholder: words}; rows without a name are skipped."""
    values = rows.values.tolist() if hasattr(rows, "values") else rows or []
    out = {}
    for row in values:
        name, words = [*list(row), "", ""][:2]
        if str(name or "").strip():
            out[str(name).strip().strip("{}")] = [w for w in str(words or "").split(",")]
    return out


def lay_out(registry: ModelRegistry) -> BehaviourComponents:
    """The tab's components (inside an open ``gr.Tab``)."""
    gr.Markdown(INTRO, elem_id="behaviour-intro")
    keys = [key for _, key in registry.choices()]
    models = gr.CheckboxGroup(registry.choices(), value=keys[:bh.MAX_MODELS], label="Models",
                              info=f"at most {bh.MAX_MODELS}", elem_id="behaviour-models")
    gr.Markdown("#### Capability report\n" + REPORT_HELP)
    run = gr.Button("Run the suite", variant="primary", elem_id="behaviour-run")
    table = gr.HTML(NOT_YET, elem_id="behaviour-table", padding=False)
    examples_of = gr.Dropdown([], label="Failing examples of", elem_id="examples-of", interactive=True)
    examples = gr.Dataframe(headers=views.EXAMPLE_COLUMNS, interactive=False, wrap=True, max_height=420,
                            column_widths=views.EXAMPLE_WIDTHS, elem_id="behaviour-examples")
    report = gr.State({})
    gr.Markdown("#### Your own test\n" + OWN_HELP)
    with gr.Row(equal_height=True):
        template = gr.Textbox("This {thing} is not {pos_adj}.", label="Template", scale=4, elem_id="template")
        expect = gr.Dropdown([e.name for e in EXPECTATIONS], value="negative", label="Expected", scale=2,
                             elem_id="expect")
        slot = gr.Textbox("", label="X", placeholder="comparisons: the last placeholder", scale=1,
                          min_width=120)
    with gr.Accordion("Lexicons (editable)", open=False):
        lexicons = gr.Dataframe(lexicon_rows(default_lexicons()), headers=LEXICON_HEADERS, interactive=True,
                                column_count=(2, "fixed"), wrap=True, max_height=360, elem_id="lexicons")
    run_own = gr.Button("Run the test", variant="primary", elem_id="run-template")
    own_summary = gr.Markdown(elem_id="template-summary")
    own_table = gr.Dataframe(headers=views.OWN_COLUMNS, interactive=False, wrap=True, max_height=360,
                             column_widths=views.OWN_WIDTHS, elem_id="template-failures")
    gr.Markdown("#### Edit to flip\n" + FLIP_HELP)
    with gr.Row(equal_height=False):
        original = gr.Textbox(label="Review", lines=5, max_lines=12, elem_id="flip-original")
        edited = gr.Textbox(label="Your edit", lines=5, max_lines=12, elem_id="flip-edited")
    pairs = flip.load_pairs()
    gr.Examples([[p["original"]["text"], p["revised"]["text"]] for p in pairs], [original, edited],
                label="Counterfactual pairs", example_labels=[flip.pair_label(p) for p in pairs])
    with gr.Row():
        from_review = gr.Button("Start from the Review box", min_width=160)
        compare = gr.Button("Compare", variant="primary", min_width=160, elem_id="flip-compare")
    target = gr.Radio(["positive", "negative"], value="positive", label="Change in P(class) of", elem_id="flip-target")
    diff = gr.HTML(elem_id="flip-diff")
    flip_table = gr.Dataframe(interactive=False, wrap=True, elem_id="flip-table")
    return BehaviourComponents(models, run, table, examples_of, examples, report, template, expect, slot, lexicons,
                               run_own, own_summary, own_table, original, edited, from_review, compare, target,
                               diff, flip_table)


def report_view(reports: bh.BehaviourReports, keys: list, progress: gr.Progress = gr.Progress()):  # noqa: B008
    """The capability table, the first model's examples, and the page's record of the examples' texts."""
    def hook(what: str, done: int, total: int) -> None:
        progress((done, max(total, 1)), desc=f"running the suite: {what}", unit="sentences")

    with refusing():
        if not keys:
            raise bh.BehaviourProblem("Choose at least one model.")
        models = bh.report(reports, keys, "both", hook)
    ran = [m for m in models if m.results]
    frames = {m.entry.key: views.examples_frame(m) for m in ran}
    shown = {key: frame[["sentence", "rewritten"]].values.tolist() for key, frame in frames.items()}
    first = ran[0].entry.key if ran else None
    choices = [(m.entry.path.stem, m.entry.key) for m in ran]
    return (views.capability_table(models), gr.Dropdown(choices=choices, value=first),
            views.styled_examples(frames[first]) if first else None, {"frames": shown, "keys": keys})


def examples_view(reports: bh.BehaviourReports, key: str | None, shown: dict):
    """Another model's failing examples, from the report already run (cached in memory or on disk)."""
    if not key or key not in shown.get("frames", {}):
        return gr.skip()
    with refusing():
        model = bh.report(reports, [key], "both")[0]
    return views.styled_examples(views.examples_frame(model))


def pick(texts: list, evt: gr.SelectData):
    """The clicked sentence (or its rewrite, if that column was clicked) for the Review box, on the Classify tab."""
    row, column = (evt.index or [None, None])[:2]
    if not isinstance(row, int) or not 0 <= row < len(texts):
        return gr.skip(), gr.skip()
    sentence, rewritten = texts[row]
    clicked = evt.row_value[column] if evt.row_value and isinstance(column, int) else None
    text = rewritten if rewritten and clicked == rewritten else sentence
    return text, gr.Tabs(selected="classify")


def pick_example(shown: dict, key: str | None, evt: gr.SelectData):
    """The clicked failing example of the suite, for the Review box."""
    return pick(shown.get("frames", {}).get(key, []), evt)


def own_view(registry: ModelRegistry, keys: list, template: str, expectation: str, slot: str, rows: Any):
    with refusing():
        if not keys:
            raise bh.BehaviourProblem("Choose at least one model.")
        try:
            lexicons = check_lexicons(lexicons_of(rows))
        except TemplateError as exc:
            raise bh.BehaviourProblem(str(exc)) from None
        results = bh.own_test(registry, keys, template, expectation, slot, lexicons)
    frame = views.own_frame(results)
    texts = frame.data[["sentence", "rewritten"]].values.tolist()
    return views.own_summary(template, expectation, results), frame, texts


def flip_view(registry: ModelRegistry, keys: list, original: str, edited: str, target: str):
    """The review and the edit with the changed words marked, each model's labels and change in P(class)."""
    with refusing():
        if not keys:
            raise bh.BehaviourProblem("Choose at least one model.")
        rows, notes = flip.compare_edit(registry, keys, original, edited)
    classes = flip.classes_of(rows) or ["positive", "negative"]
    target = target if target in classes else classes[-1]
    diff = views.diff_html(original, edited) + "".join(f"<p>{md.text(note)}</p>" for note in notes)
    return diff, views.flip_frame(rows, target), gr.Radio(choices=classes, value=target)


def model_choices(registry: ModelRegistry, keys: list):
    """The model boxes with the current list (training may have added a model), keeping the ticks still listed."""
    choices = registry.choices()
    listed = [key for _, key in choices]
    return gr.CheckboxGroup(choices=choices, value=[k for k in keys or [] if k in listed])


SCROLL_TO_REVIEW = "() => document.getElementById('review').scrollIntoView({behavior: 'smooth', block: 'start'})"


def build_behaviour_tab(registry: ModelRegistry, tab: gr.Tab, tabs: gr.Tabs, review: gr.Textbox) -> None:
    """Lay out the Behaviour tab (inside the open ``tab``) and wire its events: a clicked example goes into
    ``review`` (the Classify tab's Review box) and ``tabs`` switch to the Classify tab."""
    reports = bh.BehaviourReports(registry)
    c = lay_out(registry)
    own_texts = gr.State([])
    private = {"api_visibility": "private"}
    tab.select(functools.partial(model_choices, registry), [c.models], [c.models], queue=False,
               show_progress="hidden", **private)
    c.run.click(functools.partial(report_view, reports), [c.models], [c.table, c.examples_of, c.examples, c.report],
                concurrency_limit=REPORT_CONCURRENCY, concurrency_id="behaviour", show_progress="full", **private)
    c.examples_of.input(functools.partial(examples_view, reports), [c.examples_of, c.report], [c.examples],
                        concurrency_limit=REPORT_CONCURRENCY, concurrency_id="behaviour", **private)
    for table, fn, texts in ((c.examples, pick_example, [c.report, c.examples_of]), (c.own_table, pick, [own_texts])):
        table.select(fn, texts, [review, tabs], queue=False, show_progress="hidden", **private).then(
            None, js=SCROLL_TO_REVIEW, **private)
    own_inputs = [c.models, c.template, c.expect, c.slot, c.lexicons]
    own = {"fn": functools.partial(own_view, registry), "inputs": own_inputs,
           "outputs": [c.own_summary, c.own_table, own_texts], "concurrency_limit": OWN_CONCURRENCY,
           "concurrency_id": "behaviour-own", **private}
    c.run_own.click(**own, show_progress="full")
    c.template.submit(**own, show_progress="full")
    c.from_review.click(lambda text: (text, text), [review], [c.original, c.edited], queue=False, **private)
    flip_io = {"fn": functools.partial(flip_view, registry),
               "inputs": [c.models, c.original, c.edited, c.target], "outputs": [c.diff, c.flip_table, c.target],
               "concurrency_limit": 2, "concurrency_id": "flip", **private}
    c.compare.click(**flip_io, show_progress="minimal")
    c.target.input(**flip_io, show_progress="hidden")
    add_api(registry, reports)


def add_api(registry: ModelRegistry, reports: bh.BehaviourReports) -> None:
    """The tab's API endpoints: named parameters, plain JSON results, bad input a ``gr.Error``."""

    def behaviour_report(models: list | None = None, half: str = "both") -> dict:
        """The behaviour suite's results of up to 6 listed models (default: the first 6) on the dev, held-out or
        both halves: per test its cases and failure rate, and for the dev half its first failing examples."""
        with refusing():
            return bh.report_json(bh.report(reports, models, half))

    def run_template(template: str, expect: str = "negative", x: str = "", models: list | None = None,
                     lexicons: dict | None = None) -> dict:
        """Your own test: a template such as 'This {thing} is not {pos_adj}.' filled from the dev half's lexicons
        (or those given), at most 500 fills, on up to 6 models; each model's failure rate and failing fills."""
        with refusing():
            return bh.own_json(template, expect, bh.own_test(registry, models, template, expect, x, lexicons))

    def edit_to_flip(review: str, edit: str, models: list | None = None) -> dict:
        """A review and an edit of it: the words that changed, and each model's label and probabilities of both."""
        with refusing():
            rows, notes = flip.compare_edit(registry, models, review, edit)
        return flip.flip_json(rows, notes, review, edit)

    gr.api(behaviour_report, api_name="behaviour_report", concurrency_id="behaviour",
           concurrency_limit=REPORT_CONCURRENCY)
    gr.api(run_template, api_name="run_template", concurrency_id="behaviour-own", concurrency_limit=OWN_CONCURRENCY)
    gr.api(edit_to_flip, api_name="edit_to_flip", concurrency_id="flip", concurrency_limit=2)
