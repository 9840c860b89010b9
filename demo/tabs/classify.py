"""The Classify tab: model picker and card, a review classified as you type, examples, batch files.

``build_classify_tab`` lays out the tab and wires its events; it returns the model views with the
tab's components (``ClassifyComponents``) so ``ui.build_demo`` can refresh the model list when training
adds a model.
"""

# No ``from __future__ import annotations`` here: ``gr.api`` reads the endpoints' annotations as types
# to describe their parameters and results on the API page.

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.data_classes import FileData

from sentiment_core import markdown as md

from ..services import batch, uploads
from ..services import classify as cl
from ..services.insight import ErrorExplorer
from ..services.registry import ModelRegistry
from . import classify_views as views
from . import insight, model_files, palette
from .inputs import gradio_uploads, model_argument, refusing, text_argument, user_error

# Labels skip Gradio's queue (one POST, a few ms; its event machinery cost more than the model):
# bench/bench_load.py measured p95 time-to-label 0.41 s instead of 0.74 s for 20 typists. They are
# cheap and bounded (the predictor clips long texts), so Gradio's thread pool bounds them well.
# Explanations run one at a time in the queue, so however many visitors type, a core stays free
# for their labels.
EXPLAIN_CONCURRENCY = 1
MAX_SHOWN_CLASSES = 20  # class probabilities in the Prediction box: every class of any model but a huge one
RUNNING_LABEL = "Running prediction: the probability had the review ended after each token"


def example_label(example: dict[str, str]) -> str:
    """The button text of an example: its first words, label and, for a real review, its IMDB id."""
    words = example["text"].split()
    snippet = " ".join(words[:9]) + ("…" if len(words) > 9 else "")
    if example["source"].startswith("aclImdb/"):
        review_id = example["source"].rsplit("/", 1)[-1].removesuffix(".txt")
        return f"{snippet} ({example['label']}, IMDB {review_id.replace('_', ', rated ')}/10)"
    return f"{snippet} ({example['label']})"


@dataclass
class ClassifyComponents:
    """The Classify tab's components."""

    seen: gr.State  # per page: the versions it has drawn (shared with the Train tab)
    model: gr.Dropdown
    model_summary: gr.Markdown
    problems: gr.Markdown
    card: gr.Markdown
    text: gr.Textbox
    classify: gr.Button
    label: gr.Label
    info: gr.Markdown
    words: gr.HTML
    running: gr.Plot
    insight: insight.InsightComponents
    upload: gr.File
    download: gr.File
    batch: gr.Button
    batch_message: gr.Markdown
    batch_table: gr.Dataframe


class ModelViews:
    """Handlers for the model picker, bound to one registry; ``c`` is set once the tab is laid out."""

    def __init__(self, registry: ModelRegistry):
        self.registry = registry
        self.c: ClassifyComponents | None = None

    def describe(self, model_key: str | None) -> dict:
        """The model's one-paragraph summary and full card."""
        summary, card = self.c.model_summary, self.c.card
        if not model_key:
            return {summary: cl.NO_MODEL_MESSAGE, card: ""}
        try:
            entry = self.registry.entry(model_key)
        except KeyError:
            return {summary: f"The model {md.code(model_key)} is gone; pick another one.", card: ""}
        return {summary: entry.summary(), card: self.registry.card(model_key)}

    def labels(self, model_key: str | None) -> list[str]:
        """The classes of a listed model (none if it is gone)."""
        try:
            return self.registry.entry(model_key or "").labels
        except KeyError:
            return []

    def problems(self) -> str:
        problems = self.registry.scan()[1]
        if not problems:
            return ""
        return "**Unusable model files** (left out of the list):  \n" + "  \n".join(problems)

    def refresh(self, model_key: str | None, seen: dict) -> dict:
        """New choices for the model selector when a checkpoint appeared, changed or vanished."""
        signature = self.registry.signature()
        if seen.get("models") == signature:
            return dict.fromkeys(self.refresh_event()["outputs"], gr.skip())
        choices = self.registry.choices()
        keys = [key for _, key in choices]
        value = model_key if model_key in keys else self.registry.default_key()
        return {self.c.model: gr.Dropdown(choices=choices, value=value), self.c.problems: self.problems(),
                self.c.seen: {**seen, "models": signature}}

    def refresh_event(self) -> dict[str, Any]:
        """Arguments of an event listener that refreshes the model list (page load, timer)."""
        c = self.c
        outputs = [c.model, c.problems, c.seen]
        return {"fn": self.refresh, "inputs": [c.model, c.seen], "outputs": outputs, "show_progress": "hidden",
                "api_visibility": "private"}


def build_classify_tab(registry: ModelRegistry, seen: gr.State, batch_dir: Path, data: str = "") -> ModelViews:
    """Lay out the Classify tab (inside an open ``gr.Tab``) and wire its events; ``data`` is where the
    error explorer reads the IMDB reviews (as ``TrainConfig.data``)."""
    models = ModelViews(registry)
    examples = cl.load_examples()
    with gr.Row(equal_height=False):
        # Only listed models: the list grows while the app runs, and each page's timer sends it the
        # new choices, which Gradio then accepts from that page (the API checks keys itself).
        model = gr.Dropdown(registry.choices(), value=registry.default_key(), label="Model",
                            info="shipped models and runs trained here", scale=2)
        with gr.Column(scale=3):
            model_summary = gr.Markdown(elem_id="model-summary")
            problems = gr.Markdown(models.problems())
    with gr.Accordion("Model card", open=False):
        card = gr.Markdown(elem_id="card")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            text = gr.Textbox(label="Review", lines=6, max_lines=14, elem_id="review",
                              placeholder="Type or paste a movie review; the prediction follows as you type.")
            with gr.Row():
                classify = gr.Button("Classify", variant="primary")
                gr.ClearButton([text], value="Clear")
        with gr.Column(scale=2):
            label = gr.Label(label="Prediction", num_top_classes=MAX_SHOWN_CLASSES, elem_id="prediction")
            info = gr.Markdown(cl.EMPTY_MESSAGE, elem_id="info")
    real = [e for e in examples if e["source"].startswith("aclImdb/")]
    short = [e for e in examples if not e["source"].startswith("aclImdb/")]
    own_examples = model_files.lay_out_examples(registry)
    with gr.Row() as imdb_examples:
        gr.Examples([[e["text"]] for e in short], [text], label="Short reviews",
                    example_labels=[example_label(e) for e in short])
        gr.Examples([[e["text"]] for e in real], [text], label="Real IMDB test reviews",
                    example_labels=[example_label(e) for e in real])
    words = gr.HTML(views.WORDS_EMPTY, elem_classes="words-box", elem_id="words", container=True, padding=True)
    running = gr.Plot(label=RUNNING_LABEL, elem_id="running", elem_classes="chart")
    inside = insight.lay_out(models.labels(registry.default_key()))
    with gr.Accordion("Batch: classify a file of reviews", open=False):
        gr.Markdown(f"A **.txt** file with one review per line, or a **.csv** file with a header row and a column "
                    f"named {', '.join(uploads.TEXT_COLUMNS)} (else the first text column is used). Up to "
                    f"{uploads.MAX_BATCH_ROWS:,} reviews and {uploads.MAX_BATCH_BYTES // 2**20} MB per file.")
        with gr.Row():
            upload = gr.File(label="Reviews file", file_types=[".txt", ".csv"], scale=1, elem_id="upload")
            download = gr.File(label="Predictions (CSV)", interactive=False, scale=1)
        batch_button = gr.Button("Classify file", variant="primary")
        batch_message = gr.Markdown(elem_id="batch-message")
        batch_table = gr.Dataframe(label="Predictions", interactive=False, wrap=True, max_height=400,
                                   elem_id="batch-table")
    files = model_files.lay_out_classify(own_examples)

    c = models.c = ClassifyComponents(seen, model, model_summary, problems, card, text, classify, label, info, words,
                                      running, inside, upload, download, batch_button, batch_message, batch_table)

    # Two events per keystroke, each keeping only the newest text: the label (a few ms) never
    # waits for the explanation (word attributions and running prediction, tens of ms).
    text_model = [c.model, c.text]
    label_io = {"fn": functools.partial(views.label_view, registry), "inputs": text_model, "outputs": [c.label],
                "queue": False, "api_visibility": "private"}
    explain_io = {"fn": functools.partial(views.explanation_view, registry), "inputs": text_model,
                  "outputs": [c.words, c.running, c.info], "concurrency_limit": EXPLAIN_CONCURRENCY,
                  "concurrency_id": "explain", "api_visibility": "private"}
    explained = []  # the events that explain a new text or model: the model comparison follows each
    for io in (label_io, explain_io):
        typed = c.text.change(**io, trigger_mode="always_last", show_progress="hidden")
        clicked = c.classify.click(**io, show_progress="minimal")
    explained += [typed, clicked]
    describe = {"fn": models.describe, "inputs": [c.model], "outputs": [c.model_summary, c.card],
                "api_visibility": "private"}
    described = c.model.change(**describe)
    described.then(**label_io, show_progress="hidden")
    explained.append(described.then(**explain_io, show_progress="hidden"))
    explorer = ErrorExplorer(registry, data)
    insight.wire(c.insight, c.model, c.text, registry, explorer, explained, described)

    # A file's old results go before a new file is read, so an error never sits over stale ones.
    batch_outputs = [c.batch_table, c.download, c.batch_message]
    clear = {"fn": lambda: (None, None, ""), "inputs": None, "outputs": batch_outputs, "queue": False,
             "show_progress": "hidden", "api_visibility": "private"}

    def classify_file_view(model_key: str | None, path: str | None):
        with refusing():
            preview, csv_path, message = batch.classify_file(registry, model_key, path, batch_dir, **gradio_uploads())
        return (None if preview is None else palette.style_labels(preview, "prediction")), csv_path, message

    batch_io = {"fn": classify_file_view, "inputs": [c.model, c.upload], "outputs": batch_outputs,
                "concurrency_limit": 2, "concurrency_id": "batch", "api_visibility": "private"}
    c.batch.click(**clear).then(**batch_io)
    c.upload.upload(**clear).then(**batch_io)
    c.upload.clear(**clear)
    model_files.wire_classify(files, registry, c.model, c.text, imdb_examples, batch_dir / "models")
    add_api(registry)
    insight.add_api(registry, explorer)
    model_files.add_api(registry, batch_dir / "models")
    return models


def add_api(registry: ModelRegistry) -> None:
    """The Classify tab's API endpoints: named parameters, plain JSON results, bad input a ``gr.Error``."""

    # The model is resolved once per call (the default when none is named): listing the models
    # stats every checkpoint file, and classify is the hot path.
    def classify(text: str, model: str | None = None) -> dict:
        """Classify one review: {"label", "probabilities", "model"}; the model defaults to the app's default."""
        text, model = text_argument(text), model_argument(registry, model)
        with refusing():
            probabilities = cl.probabilities(registry, text, model)
        return {"label": max(probabilities, key=probabilities.get), "probabilities": probabilities, "model": model}

    def explain(text: str, model: str | None = None) -> dict:
        """Explain one review: label, probabilities, tokens, word attributions, the running prediction and which
        words the model knows."""
        text, model = text_argument(text), model_argument(registry, model)
        with refusing():
            result, predictor = cl.analysis(registry, text, model)
        return {**cl.explanation_json(result, cl.known_words(predictor, result.tokens)), "model": model}

    def classify_file(file: FileData, model: str | None = None) -> dict:
        """Classify every review in a .txt (one a line) or .csv (a text column) file: each row with its
        prediction and the probability of its positive class (of every class for more than two), and the counts."""
        model = model_argument(registry, model)
        with refusing():
            return batch.classify_file_json(registry, model, file, **gradio_uploads())

    def model_card(model: str | None = None) -> dict:
        """A model's name, a plain-text summary and its Markdown card."""
        model = model_argument(registry, model)
        try:
            entry = registry.entry(model)
        except KeyError:
            raise user_error(f"The model {model!r} is gone or unknown; /models lists them.") from None
        return {"model": model, "name": entry.name, "summary": entry.summary(markdown=False),
                "card": registry.card(model)}

    def models() -> list:
        """The models to choose from: key (what the other endpoints take), label, and which is the default."""
        default = registry.default_key()
        return [{"model": key, "label": label, "default": key == default} for label, key in registry.choices()]

    gr.api(classify, api_name="classify", queue=False)
    gr.api(explain, api_name="explain", concurrency_id="explain", concurrency_limit=EXPLAIN_CONCURRENCY)
    gr.api(classify_file, api_name="classify_file", concurrency_id="batch", concurrency_limit=2)
    gr.api(model_card, api_name="model_card", queue=False)
    gr.api(models, api_name="models", queue=False)
