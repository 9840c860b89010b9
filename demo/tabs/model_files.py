"""The model-file controls: download a model and upload one (Classify tab), where runs are kept, what a
run starts from and which class is positive (Train tab), examples from a model's own data; and the
``/download_model`` and ``/upload_model`` endpoints. The work is ``services.model_files``'."""

# No ``from __future__ import annotations``: ``gr.api`` reads the endpoints' annotations as types.

import atexit
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.data_classes import FileData

from ..services import model_files as mf
from ..services.registry import ModelRegistry
from ..services.storage import storage_note
from .inputs import gradio_uploads, refusing, user_error

NEW_MODEL = ("a new model", "")
UPLOAD_INFO = ("a .safetensors checkpoint that this app or 'python -m sentiment_core train' saved, at most "
               f"{mf.MAX_UPLOAD_MB} MB; it is checked like the runs folder's files and added to it")


@dataclass
class ClassifyFiles:
    """The Classify tab's model-file components."""

    own_examples: gr.Dataset
    download: gr.Button
    bundle: gr.File
    upload: gr.File
    name: gr.Textbox
    add: gr.Button
    message: gr.Markdown


@dataclass
class TrainFiles:
    """The Train tab's model-file components: Start reads ``start_from`` and ``positive_label``."""

    storage: gr.Markdown
    start_from: gr.Dropdown
    positive_label: gr.Textbox

    @property
    def start_inputs(self) -> list:
        return [self.start_from, self.positive_label]


def _download(registry: ModelRegistry, out_dir: Path, key: Any) -> str:
    with refusing():
        return str(mf.bundle(registry, key, out_dir))


def _examples(registry: ModelRegistry, key: str | None) -> list[list[str]]:
    try:
        return mf.data_examples(registry.entry(key)) if key else []
    except KeyError:
        return []


def lay_out_examples(registry: ModelRegistry) -> gr.Dataset:
    """The examples taken from the default model's own data (hidden for a model without a file)."""
    rows = _examples(registry, registry.default_key())
    return gr.Dataset(components=[gr.Textbox(visible=False)], samples=[[t] for t, _ in rows] or [[""]],
                      sample_labels=[f"{label}: {t[:70]}" for t, label in rows] or None, type="values",
                      visible=bool(rows), label="Examples from the model's own data (validation rows)",
                      elem_id="own-examples")


def lay_out_classify(own_examples: gr.Dataset) -> ClassifyFiles:
    """The Classify tab's download and upload section (inside the tab)."""
    with gr.Accordion("Your model: download it, or upload one", open=False, elem_id="model-files"), \
            gr.Row(equal_height=False):
        with gr.Column(min_width=280):
            download = gr.Button("Download the selected model (checkpoint and card, .zip)", elem_id="download-model")
            bundle = gr.File(label="Model files", interactive=False, elem_id="model-bundle")
        with gr.Column(min_width=280):
            upload = gr.File(label="Upload a checkpoint", file_types=[mf.SUFFIX], elem_id="upload-model")
            name = gr.Textbox(label="Name", placeholder="e.g. my-model", max_length=mf.MAX_NAME_CHARS,
                              info="letters, digits, - and _; empty: the file's name", elem_id="upload-name")
            add = gr.Button("Add and classify with it", variant="primary", elem_id="add-model")
            message = gr.Markdown(elem_id="upload-message")
    return ClassifyFiles(own_examples, download, bundle, upload, name, add, message)


def wire_classify(c: ClassifyFiles, registry: ModelRegistry, model: gr.Dropdown, text: gr.Textbox,
                  imdb_examples: gr.Row, out_dir: Path) -> None:
    """Download, upload (the new model is selected at once, so the review is classified with it), and the
    own-data examples that follow the selected model, in place of the IMDB ones."""

    def examples(key: str | None) -> list:
        rows = _examples(registry, key)
        if not rows:
            return [gr.Dataset(samples=[[""]], visible=False), gr.Row(visible=True)]
        return [gr.Dataset(samples=[[t] for t, _ in rows], visible=True,
                           sample_labels=[f"{label}: {t[:70]}" for t, label in rows]), gr.Row(visible=False)]

    def add(upload: str | None, name: str | None) -> dict:
        with refusing():
            key = mf.add_upload(registry, upload, name, **gradio_uploads())
        return {model: gr.Dropdown(choices=registry.choices(), value=key),
                c.message: f"Added as `{key}` and selected.", c.upload: None}

    model.change(examples, [model], [c.own_examples, imdb_examples], show_progress="hidden", api_visibility="private")
    c.own_examples.click(lambda sample: sample[0], [c.own_examples], [text], api_visibility="private")
    c.download.click(lambda key: _download(registry, out_dir, key), [model], [c.bundle], api_visibility="private")
    c.add.click(add, [c.upload, c.name], [model, c.message, c.upload], api_visibility="private")


def start_choices(registry: ModelRegistry) -> list[tuple[str, str]]:
    """What a run can start from: a new model, or any listed classifier (its classes are checked at Start)."""
    return [NEW_MODEL, *registry.choices()]


def lay_out_train(registry: ModelRegistry, runs_dir: Path) -> TrainFiles:
    """Where runs are kept, the run's starting point and positive class (inside the form's column)."""
    storage = gr.Markdown(storage_note(runs_dir), elem_id="storage")
    with gr.Row(equal_height=True):
        start_from = gr.Dropdown(start_choices(registry), value="", label="Start from", elem_id="start-from",
                                 info="continue training a model of the same classes (its words, architecture and "
                                      "weights), or a new one")
        positive = gr.Textbox(label="Positive class (two classes)", max_length=200, elem_id="positive-label",
                              placeholder="e.g. good", info="empty: the second class in the file's first rows")
    return TrainFiles(storage, start_from, positive)


def lay_out_train_download() -> tuple[gr.Button, gr.File]:
    """The finished run's download (beside its results)."""
    download = gr.Button("Download the last run (checkpoint and card, .zip)", elem_id="download-run")
    return download, gr.File(label="Run files", interactive=False, elem_id="run-bundle")


def wire_train(t: TrainFiles, download: gr.Button, bundle: gr.File, registry: ModelRegistry, worker: Any) -> None:
    """The start-from list (refreshed when opened) and the download of the worker's last run, once it ended."""
    out_dir = Path(tempfile.mkdtemp(prefix="sentiment-models-"))
    atexit.register(shutil.rmtree, out_dir, ignore_errors=True)

    def download_run() -> str:
        run = worker.snapshot()[1]
        path = run.path if run is not None and not run.running else None
        if not path or not Path(path).is_file():
            raise user_error("No finished run to download yet: train one first.")
        return _download(registry, out_dir, f"runs/{Path(path).stem}")

    t.start_from.focus(lambda value: gr.Dropdown(choices=start_choices(registry), value=value), [t.start_from],
                       [t.start_from], show_progress="hidden", api_visibility="private")
    download.click(download_run, None, [bundle], api_visibility="private")


def start_settings(registry: ModelRegistry, source: dict[str, Any]) -> dict[str, str]:
    """The ``TrainConfig`` settings of Start's 'start from' and 'positive class' (checked: a listed model key,
    a short printable class name)."""
    start_from, positive_label = source.get("start_from"), source.get("positive_label")
    settings = {}
    if start_from:
        with refusing():
            settings["init_checkpoint"] = str(mf.entry_of(registry, start_from).stamp[0])
    if positive_label is not None and not isinstance(positive_label, str):
        raise user_error("positive_label must be text (a class name).")
    label = (positive_label or "").strip()
    if len(label) > 200 or not label.isprintable():
        raise user_error("positive_label must be a class name of at most 200 printable characters.")
    if label:
        settings["positive_label"] = label
    return settings


def add_api(registry: ModelRegistry, out_dir: Path) -> None:
    """``/download_model`` and ``/upload_model``."""

    def download_model(model: str = "") -> FileData:
        """A model's checkpoint and Markdown card in one .zip; model: a key from /models."""
        return FileData(path=_download(registry, out_dir, model))

    def upload_model(file: FileData, name: str = "") -> dict:
        """Add a .safetensors checkpoint of this project to the runs folder under ``name`` (sanitised; empty: the
        file's name): {"model": its key for the other endpoints, "label"}. Refused with the reason otherwise."""
        path = file.get("path") if isinstance(file, dict) else getattr(file, "path", None)
        with refusing():
            key = mf.add_upload(registry, path, name, **gradio_uploads())
        return {"model": key, "label": registry.entry(key).label}

    gr.api(download_model, api_name="download_model", concurrency_id="model_files", concurrency_limit=2)
    gr.api(upload_model, api_name="upload_model", concurrency_id="model_files", concurrency_limit=2)


def given_data_name(source: dict[str, Any]) -> dict[str, str]:
    """The card fact naming a training file as the visitor gave it (the run reads a copy named by its hash)."""
    if source.get("data_source") != "file":
        return {}
    name = Path(str(source.get("upload") or source.get("data_file") or "")).name[:200]
    return {"data_name": name} if name and name.isprintable() else {}
