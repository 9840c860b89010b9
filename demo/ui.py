"""The Gradio app: ``build_demo(...)`` lays out the Classify and Train tabs and wires their events.

Handlers live in ``classify.py`` and ``training.py`` as plain functions; here they are bound to
this demo's model registry and training worker, which ``build_demo`` owns (nothing is shared
between two demos built in one process).
"""

from __future__ import annotations

import atexit
import functools
import os
import tempfile
import weakref
from pathlib import Path
from typing import Any

import gradio as gr

from sentiment_core import DEFAULT_CHECKPOINT
from sentiment_core.utils import available_devices

from . import classify as cl
from . import training as tr
from .models import ModelRegistry

ROOT = Path(__file__).resolve().parent.parent
CLASSIFY_CONCURRENCY = 4  # classification is read-only and thread-safe; let a few visitors run at once
POLL_SECONDS = 1.0

INTRO = """\
# Movie-review sentiment with recurrent networks
Type a review and see what an RNN, LSTM or GRU trained on IMDB movie reviews makes of it, word by word;
or train your own in the **Train** tab and compare it with the shipped model."""

WORDS_LABEL = ("Word contributions (integrated gradients): red pushed towards positive, purple towards negative; "
               "the strongest word has the full colour")
RUNNING_LABEL = "Running prediction: P(positive) had the review ended after each token"
# The Train tab's form, two controls a row; every field of ``training.FIELDS`` appears once.
FORM = {
    "Model": [("cell", "bidirectional"), ("embed_dim", "hidden_dim"), ("num_layers", "dropout")],
    "Training": [("epochs", "batch_size"), ("lr", "max_tokens"), ("max_train_samples", "max_eval_samples"),
                 ("device",)],
}


CSS = """
.words-box .textfield { line-height: 1.9; }
.status-box { min-height: 3.2em; }
"""


def launch_options() -> dict[str, Any]:
    """Theme and CSS for ``demo.launch`` (Gradio 6 takes them there, not in ``gr.Blocks``)."""
    return {"theme": gr.themes.Soft(primary_hue="blue"), "css": CSS}


def _example_label(example: dict[str, str]) -> str:
    words = example["text"].split()
    snippet = " ".join(words[:9]) + ("…" if len(words) > 9 else "")
    if example["source"].startswith("aclImdb/"):
        review_id = example["source"].rsplit("/", 1)[-1].removesuffix(".txt")
        return f"{snippet} ({example['label']}, IMDB {review_id.replace('_', ', rated ')}/10)"
    return f"{snippet} ({example['label']})"


def _control(name: str, value: Any, cap: int | None) -> gr.components.Component:
    """A form control for one config field: label from ``training.LABELS``, info from the field's help."""
    f = tr.field_info(name)
    label, info = tr.LABELS[name], f.metadata["help"]
    if info.lower() == label.lower():
        info = None
    if name == "device":
        return gr.Radio([(tr.DEVICE_NAMES.get(d, d), d) for d in available_devices()], value=value, label=label,
                        info=info)
    if f.metadata.get("choices"):
        return gr.Radio([(c.upper(), c) for c in f.metadata["choices"]], value=value, label=label, info=info)
    if isinstance(f.default, bool):
        return gr.Checkbox(value=value, label=label, info=info)
    if name in tr.RANGES:
        low, high, step = tr.RANGES[name]
        if cap and name in ("max_train_samples", "max_eval_samples"):
            high = cap
        is_int = isinstance(f.default, int)
        return gr.Slider(low, high, value=value, step=step, precision=0 if is_int else None, label=label, info=info)
    return gr.Number(value=value, label=label, info=info)


def _shutdown_worker(ref: weakref.ref) -> None:
    worker = ref()
    if worker is not None:
        worker.shutdown()


def build_demo(
    checkpoint_dir: str | os.PathLike | None = None,
    runs_dir: str | os.PathLike | None = None,
    default_model: str | os.PathLike | None = None,
    allow_training: bool = True,
    max_train_samples: int | None = None,
) -> gr.Blocks:
    """The whole app. Nothing heavy happens here: models load on first use, data when training starts.

    checkpoint_dir: shipped models (default: the repo's ``checkpoints/``); runs_dir: where runs
    trained in the app are saved (default: ``runs/``); default_model: the model selected at
    first (default: ``checkpoint_dir/default.safetensors``); allow_training: build the Train
    tab's controls; max_train_samples: cap on training (and evaluation) reviews per run.
    """
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else DEFAULT_CHECKPOINT.parent
    runs_dir = Path(runs_dir) if runs_dir else ROOT / "runs"
    default_model = Path(default_model) if default_model else checkpoint_dir / DEFAULT_CHECKPOINT.name
    cap = max_train_samples or None
    registry = ModelRegistry(checkpoint_dir, runs_dir, default_model)
    worker = tr.TrainingWorker()
    # At exit (Ctrl-C), end a run cleanly so it keeps its best checkpoint; a weak reference
    # lets the demos that tests build and drop be collected.
    atexit.register(_shutdown_worker, weakref.ref(worker))
    batch_dir = Path(tempfile.mkdtemp(prefix="sentiment-batch-"))
    examples = cl.load_examples()

    # -- handlers bound to this demo ------------------------------------------------------------

    classify = functools.partial(cl.classify, registry)

    def classify_file(model_key: str | None, path: str | None):
        return cl.classify_file(registry, model_key, path, batch_dir)

    def describe_model(model_key: str | None) -> tuple[str, str]:
        if not model_key:
            return cl.NO_MODEL_MESSAGE, ""
        try:
            entry = registry.entry(model_key)
        except KeyError:
            return f"The model `{model_key}` is gone; pick another one.", ""
        return entry.summary(), registry.card(model_key)

    def model_problems() -> str:
        problems = registry.scan()[1]
        if not problems:
            return ""
        return "**Unusable model files** (left out of the list):  \n" + "  \n".join(problems)

    def refresh_models(model_key: str | None, seen: dict) -> tuple:
        """New choices for the model selector when a checkpoint appeared, changed or vanished."""
        signature = registry.signature()
        if seen.get("models") == signature:
            return gr.skip(), gr.skip(), seen
        seen = {**seen, "models": signature}
        choices = registry.choices()
        keys = [key for _, key in choices]
        value = model_key if model_key in keys else registry.default_key()
        return gr.Dropdown(choices=choices, value=value), model_problems(), seen

    def compare(metric: str):
        histories = {e.name: registry.history(e.key) for e in registry.scan()[0] if e.key.startswith("runs/")}
        _, current = worker.snapshot()
        if current is not None and current.of_kind("EpochEnd"):
            histories[current.name] = tr.run_histories(current)
        return tr.compare_chart(histories, worker.runs(), metric)

    def refresh_training(metric: str, seen: dict) -> tuple:
        """Status, plots and buttons of the shared run; skipped when nothing changed since the last poll."""
        version, run = worker.snapshot()
        if seen.get("training") == version:
            return (*[gr.skip()] * 7, seen)
        seen = {**seen, "training": version}
        status, loss, accuracy, results, can_start, can_stop = tr.training_view(run)
        return (status, loss, accuracy, results, gr.Button(interactive=can_start), gr.Button(interactive=can_stop),
                compare(metric), seen)

    def start(preset_name: str, run_name: str, *values: Any) -> str:
        settings = dict(zip(tr.FIELDS, values, strict=True))
        return tr.start_training(worker, runs_dir, preset_name, run_name, settings, cap)

    def stop() -> str:
        return tr.stop_training(worker)

    def training_status() -> dict:
        """The shared training run's state (name, status, steps, loss, error...)."""
        return tr.status_dict(worker.snapshot()[1])

    # -- layout ----------------------------------------------------------------------------------

    with gr.Blocks(title="Movie-review sentiment") as demo:
        gr.Markdown(INTRO)
        seen = gr.State({})
        timer = gr.Timer(POLL_SECONDS)
        with gr.Tabs():
            with gr.Tab("Classify", id="classify"):
                with gr.Row(equal_height=False):
                    # The list grows while the app runs; a key outside the choices the page started with
                    # (an API caller naming a new run) must pass, and unknown keys get a message.
                    model = gr.Dropdown(registry.choices(), value=registry.default_key(), label="Model",
                                        info="shipped models and runs trained here", scale=2,
                                        allow_custom_value=True)
                    with gr.Column(scale=3):
                        model_summary = gr.Markdown()
                        problems = gr.Markdown(model_problems())
                with gr.Accordion("Model card", open=False):
                    card = gr.Markdown()
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        text = gr.Textbox(label="Review", lines=6, max_lines=14, elem_id="review",
                                          placeholder="Type or paste a movie review; the prediction follows "
                                                      "as you type.")
                        with gr.Row():
                            classify_button = gr.Button("Classify", variant="primary")
                            gr.ClearButton([text], value="Clear")
                    with gr.Column(scale=2):
                        label = gr.Label(label="Prediction", num_top_classes=2, elem_id="prediction")
                        info = gr.Markdown(cl.EMPTY_MESSAGE, elem_id="info")
                real = [e for e in examples if e["source"].startswith("aclImdb/")]
                short = [e for e in examples if not e["source"].startswith("aclImdb/")]
                with gr.Row():
                    gr.Examples([[e["text"]] for e in short], [text], label="Short reviews",
                                example_labels=[_example_label(e) for e in short])
                    gr.Examples([[e["text"]] for e in real], [text], label="Real IMDB test reviews",
                                example_labels=[_example_label(e) for e in real])
                words = gr.HighlightedText(label=WORDS_LABEL, show_legend=True, elem_classes="words-box",
                                           elem_id="words")
                running = gr.Plot(label=RUNNING_LABEL, elem_id="running")
                with gr.Accordion("Batch: classify a file of reviews", open=False):
                    gr.Markdown(f"A **.txt** file with one review per line, or a **.csv** file with a header row and "
                                f"a column named {', '.join(cl.TEXT_COLUMNS)} (else the first text column is "
                                f"used). Up to {cl.MAX_BATCH_ROWS:,} reviews and "
                                f"{cl.MAX_BATCH_BYTES // 2**20} MB per file.")
                    with gr.Row():
                        upload = gr.File(label="Reviews file", file_types=[".txt", ".csv"], scale=1)
                        download = gr.File(label="Predictions (CSV)", interactive=False, scale=1)
                    batch_button = gr.Button("Classify file", variant="primary")
                    batch_message = gr.Markdown()
                    batch_table = gr.Dataframe(label="Predictions", interactive=False, wrap=True, max_height=400)

            with gr.Tab("Train", id="train"):
                if not allow_training:
                    gr.Markdown("## Training is disabled on this server\nThis deployment only classifies with the "
                                "models it has. Run the app yourself (`python app.py`) to train models; see the "
                                "README.")
                else:
                    initial = tr.preset_settings(tr.PRESET_ORDER[0], cap)
                    with gr.Row(equal_height=False):
                        with gr.Column(scale=1, min_width=360):
                            preset_choice = gr.Dropdown(
                                list(tr.PRESET_ORDER), value=tr.PRESET_ORDER[0], label="Preset",
                                info="fills the settings below; 'tutorial' is the original PyTorch sentiment "
                                     "tutorial's RNN, 'quick' a small model for a CPU demo")
                            run_name = gr.Textbox(label="Run name", placeholder="optional, e.g. my-first-gru",
                                                  info="letters, digits, - and _; empty: generated from the cell "
                                                       "and time")
                            controls = {}
                            for section, rows in FORM.items():
                                with gr.Accordion(section, open=True):
                                    if cap and section == "Training":
                                        gr.Markdown(f"This server trains on at most {cap:,} reviews per run.")
                                    for row in rows:
                                        with gr.Row(equal_height=True):
                                            for name in row:
                                                controls[name] = _control(name, initial[name], cap)
                        with gr.Column(scale=1, min_width=360):
                            with gr.Row():
                                start_button = gr.Button("Start training", variant="primary", elem_id="start")
                                stop_button = gr.Button("Stop", variant="stop", interactive=False, elem_id="stop")
                            notice = gr.Markdown()
                            status = gr.Markdown(tr.status_markdown(None), elem_classes="status-box",
                                                 elem_id="status")
                            loss_plot = gr.Plot(label="Loss", elem_id="loss-plot")
                            accuracy_plot = gr.Plot(label="Validation accuracy per epoch")
                            results = gr.Markdown(elem_id="results")
                    gr.Markdown("### Compare runs\nRuns saved in the runs folder (this session's and earlier "
                                "ones), one colour per run.")
                    compare_metric = gr.Radio(list(tr.COMPARE_METRICS), value="validation loss", label="Metric")
                    compare_plot = gr.Plot(label="Runs compared")

        # -- events --------------------------------------------------------------------------------

        classify_io = {"fn": classify, "inputs": [model, text], "outputs": [label, words, running, info],
                       "concurrency_limit": CLASSIFY_CONCURRENCY, "concurrency_id": "classify"}
        # As-you-type: only the newest text waits while one runs, and no spinner on every key.
        text.change(**classify_io, trigger_mode="always_last", show_progress="hidden", api_visibility="private")
        classify_button.click(**classify_io, show_progress="minimal", api_name="classify")
        model.change(describe_model, [model], [model_summary, card], api_name="model_card").then(
            **classify_io, show_progress="hidden", api_visibility="private")
        batch_io = {"fn": classify_file, "inputs": [model, upload], "outputs": [batch_table, download, batch_message],
                    "concurrency_limit": 2, "concurrency_id": "batch"}
        batch_button.click(**batch_io, api_name="classify_file")
        upload.upload(**batch_io, api_visibility="private")

        demo.load(describe_model, [model], [model_summary, card], api_visibility="private")
        model_refresh = {"fn": refresh_models, "inputs": [model, seen], "outputs": [model, problems, seen],
                         "show_progress": "hidden", "api_visibility": "private"}
        if allow_training:
            training_io = {"fn": refresh_training, "inputs": [compare_metric, seen],
                           "outputs": [status, loss_plot, accuracy_plot, results, start_button, stop_button,
                                       compare_plot, seen],
                           "show_progress": "hidden", "api_visibility": "private"}
            demo.load(**training_io).then(**model_refresh)
            timer.tick(**training_io, concurrency_limit=None).then(**model_refresh)
            preset_choice.change(lambda name: [tr.preset_settings(name, cap)[f] for f in tr.FIELDS],
                                 [preset_choice], [controls[f] for f in tr.FIELDS], api_visibility="private")
            start_button.click(start, [preset_choice, run_name, *(controls[f] for f in tr.FIELDS)], [notice],
                               api_name="start_training").then(**training_io)
            stop_button.click(stop, None, [notice], api_name="stop_training").then(**training_io)
            compare_metric.change(compare, [compare_metric], [compare_plot], api_visibility="private")
            gr.api(training_status, api_name="training_status")
        else:
            demo.load(**model_refresh)
            timer.tick(**model_refresh, concurrency_limit=None)
    return demo
