"""The Train tab's API endpoints: start, stop and watch the shared training run with named parameters."""

# No ``from __future__ import annotations`` here: ``gr.api`` reads the endpoints' annotations as types
# to describe their parameters and results on the API page.

import inspect
from typing import TYPE_CHECKING, Any

import gradio as gr
from gradio.data_classes import FileData

from sentiment_core.config import PRESETS

from ..services import data_plan, form, own_data
from .inputs import gradio_uploads, user_error

if TYPE_CHECKING:  # train.py builds the tab and adds these endpoints
    from .train import TrainTab


def _api_type(field: form.FormField) -> Any:
    """The Python type an API caller sends for a form field (None: the preset's value)."""
    return type(field.config_field.default) | None


# The API's data-source parameters besides ``upload`` (a file sent with ``gradio_client.handle_file``,
# checked like the page's upload); ``data_file`` names a file in the server's training data folder.
API_SOURCE = ("data_source", "data_file", "text_column", "label_column", "start_from", "positive_label")


UPLOAD_HOW = "upload must be a file sent with gradio_client.handle_file(path)"


def _upload_path(upload: Any) -> str | None:
    """The upload route's path of the file an API caller sent (whether the app received it is checked later)."""
    if upload is None:
        return None
    path = upload.get("path") if isinstance(upload, dict) else getattr(upload, "path", None)
    if not isinstance(path, str) or not path:
        raise user_error(f"{UPLOAD_HOW}, not {type(upload).__name__}.")
    return path


def _file_plan(tab: "TrainTab", source: dict[str, Any]) -> data_plan.Plan | None:
    """The plan of the file a caller sent (``data_plan``), or None without one."""
    if source.get("data_source") != "file":
        return None
    try:
        _, table = own_data.check_file(source.get("upload"), source.get("data_file"), source.get("text_column"),
                                       source.get("label_column"), tab.data_dir, **gradio_uploads())
    except own_data.DataSourceError as exc:
        raise user_error(str(exc)) from None
    return data_plan.plan(table, tab.cap)


def add_api(tab: "TrainTab") -> None:
    """The training endpoints: named parameters with defaults, plain JSON results, bad input a ``gr.Error``."""
    first = form.PRESET_ORDER[0]
    sources = list(API_SOURCE)

    def start_training(*args: Any) -> dict:
        preset_name, run_name, *values = args
        values, password, rest = values[: len(form.FIELDS)], values[len(form.FIELDS)], values[len(form.FIELDS) + 1:]
        upload, source = _upload_path(rest[0]), dict(zip(sources, rest[1:]))
        for key, value in source.items():
            if value is not None and not isinstance(value, str):
                raise user_error(f"{key} must be a string, not {type(value).__name__}.")
        if upload:
            source = {**source, "upload": upload, "data_source": source.get("data_source") or "file"}
        plan = _file_plan(tab, source)
        if preset_name is None or preset_name == "":  # a file's own preset (as the page opens on), else the first
            preset_name = plan.preset if plan else first
        if not isinstance(preset_name, str) or preset_name not in PRESETS:
            raise user_error(f"Unknown preset {preset_name!r}; choose one of {', '.join(form.PRESET_ORDER)}.")
        base = plan.settings if plan and plan.preset == preset_name else form.preset_settings(preset_name, tab.cap)
        settings = {f: base[f] if v is None else v for f, v in zip(form.FIELDS, values)}
        run, notes = tab.start_run(preset_name, run_name, settings, password, source)
        return {"name": run.name, "status": run.status, "checkpoint": run.path, "settings": run.settings,
                "notes": notes}

    parameters = [inspect.Parameter("preset", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                    annotation=str | None),
                  inspect.Parameter("run_name", inspect.Parameter.POSITIONAL_OR_KEYWORD, default="",
                                    annotation=str | None)]
    parameters += [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                     annotation=_api_type(f)) for f in form.FORM]
    parameters.append(inspect.Parameter("password", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                        annotation=str | None))
    parameters.append(inspect.Parameter("upload", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                        annotation=FileData | None))
    parameters += [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=str | None)
                   for name in sources]
    start_training.__signature__ = inspect.Signature(parameters, return_annotation=dict)  # type: ignore[attr-defined]
    start_training.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": dict}
    start_training.__doc__ = (f"Start a training run: a preset ({', '.join(form.PRESET_ORDER)}; empty: the one "
                              "the page opens on for the data, fitted to a file's size), an optional run name, any "
                              "settings to change (the others come from the preset; bounds as in the page and the "
                              "CLI), the password when the server sets one, and the data: upload (a labelled file, "
                              "gradio_client.handle_file(path)), or data_source 'imdb', 'ratings' (IMDB star "
                              "ratings, 4 classes) or 'file' (upload, or data_file in the server's training data "
                              "folder), with text_column and label_column found by name when empty. Returns the "
                              "run's name, status, checkpoint path and settings.")

    def stop_training(password: str | None = None) -> dict:
        """Stop the running training run at its next batch (it keeps its best checkpoint): {"stopping", "message"}."""
        stopping, message = tab.stop_run(password)
        return {"stopping": stopping, "message": message}

    def training_status() -> dict:
        """The shared training run's state: name, status, stage, steps, loss, validation accuracy, checkpoint, error."""
        return tab.status()

    gr.api(start_training, api_name="start_training")
    gr.api(stop_training, api_name="stop_training")
    gr.api(training_status, api_name="training_status", queue=False)
