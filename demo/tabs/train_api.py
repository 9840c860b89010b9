"""The Train tab's API endpoints: start, stop and watch the shared training run with named parameters."""

# No ``from __future__ import annotations`` here: ``gr.api`` reads the endpoints' annotations as types
# to describe their parameters and results on the API page.

import inspect
from typing import TYPE_CHECKING, Any

import gradio as gr

from sentiment_core.config import PRESETS

from ..services import form
from .inputs import user_error

if TYPE_CHECKING:  # train.py builds the tab and adds these endpoints
    from .train import TrainTab


def _api_type(field: form.FormField) -> Any:
    """The Python type an API caller sends for a form field (None: the preset's value)."""
    return type(field.config_field.default) | None


# The API's data-source parameters (no upload: a file is uploaded in the page, or named in the
# server's training data folder).
API_SOURCE = ("data_source", "data_file", "text_column", "label_column")


def add_api(tab: "TrainTab") -> None:
    """The training endpoints: named parameters with defaults, plain JSON results, bad input a ``gr.Error``."""
    first = form.PRESET_ORDER[0]

    sources = [name for name in API_SOURCE if name != "data_file" or tab.data_dir]

    def start_training(*args: Any) -> dict:
        preset_name, run_name, *values = args
        values, password, source = values[: len(form.FIELDS)], values[len(form.FIELDS)], values[len(form.FIELDS) + 1:]
        if not isinstance(preset_name, str) or preset_name not in PRESETS:
            raise user_error(f"Unknown preset {preset_name!r}; choose one of {', '.join(form.PRESET_ORDER)}.")
        base = form.preset_settings(preset_name, tab.cap)
        settings = {f: base[f] if v is None else v for f, v in zip(form.FIELDS, values)}
        run, notes = tab.start_run(preset_name, run_name, settings, password, dict(zip(sources, source)))
        return {"name": run.name, "status": run.status, "checkpoint": run.path, "settings": run.settings,
                "notes": notes}

    parameters = [inspect.Parameter("preset", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=first, annotation=str),
                  inspect.Parameter("run_name", inspect.Parameter.POSITIONAL_OR_KEYWORD, default="",
                                    annotation=str | None)]
    parameters += [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                     annotation=_api_type(f)) for f in form.FORM]
    parameters.append(inspect.Parameter("password", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                        annotation=str | None))
    parameters += [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=str | None)
                   for name in sources]
    start_training.__signature__ = inspect.Signature(parameters, return_annotation=dict)  # type: ignore[attr-defined]
    start_training.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": dict}
    start_training.__doc__ = (f"Start a training run: a preset ({', '.join(form.PRESET_ORDER)}), an optional run "
                              "name, any settings to change (the others come from the preset), the password "
                              "when the server sets one, and the data: data_source 'imdb', 'ratings' (IMDB star "
                              "ratings, 4 classes) or 'file' (a labelled file in the server's training data folder, "
                              "data_file, with text_column and label_column found by name when empty; upload a "
                              "file in the page). Returns the run's name, status, checkpoint path and settings.")

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
