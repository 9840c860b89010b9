"""The Train tab: the form, Start and Stop, and the live view of the shared training run.

``build_train_tab`` lays out the tab and wires its own buttons; it returns its components by name
so ``ui.build_demo`` can hook the page-wide timer to ``TrainTab.refresh``. Handlers return dicts
keyed by component. Training itself runs in a child process owned by ``demo.worker``.
"""

from __future__ import annotations

import dataclasses
import hmac
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from sentiment_core.utils import available_devices

from . import form, own_data, views
from .models import ModelRegistry
from .worker import Run, TrainingBusyError, TrainingWorker

DISABLED = ("## Training is disabled on this server\nThis deployment only classifies with the models it has. "
            "Run the app yourself (`python app.py`) to train models; see the README.")
PRESET_INFO = "fills the settings below; 'tutorial' is the original PyTorch sentiment tutorial's RNN, 'quick' a " \
              "small model for a CPU demo"


def control(field: form.FormField, value: Any, cap: int | None) -> gr.components.Component:
    """The input for one form field: radio for choices, checkbox for flags, slider for ranges."""
    label, info = field.label, field.help
    if field.name == "device":
        choices = [(form.DEVICE_NAMES.get(d, d), d) for d in available_devices()]
        return gr.Radio(choices, value=value, label=label, info=info)
    if field.config_field.metadata.get("choices"):
        choices = [(c.upper(), c) for c in field.config_field.metadata["choices"]]
        return gr.Radio(choices, value=value, label=label, info=info)
    if isinstance(field.config_field.default, bool):
        return gr.Checkbox(value=value, label=label, info=info)
    if field.range:
        low, high, step = field.range
        if cap and field.capped:
            high = cap
        return gr.Slider(low, high, value=value, step=step, precision=0 if field.is_int else None, label=label,
                         info=info)
    return gr.Number(value=value, label=label, info=info)


@dataclass
class TrainTab:
    """The tab's components, and the handlers bound to this app's worker and settings."""

    worker: TrainingWorker
    registry: ModelRegistry
    runs_dir: Path
    cap: int | None
    password: str | None
    components: dict[str, Any]
    data_dir: Path | None = None  # a server folder whose files a run may name (--train-data-dir)

    def __getitem__(self, name: str) -> Any:
        return self.components[name]

    def _check_password(self, given: str | None) -> None:
        if self.password and not hmac.compare_digest((given or "").encode(), self.password.encode()):
            raise gr.Error("Wrong or missing training password: on this server, starting and stopping runs needs it.")

    def data_names(self) -> list[str]:
        """The data arguments of Start, after the settings (and the password): see ``own_data.overrides``."""
        return ["data_source", "upload", *(["data_file"] if self.data_dir else []), "text_column", "label_column"]

    def start(self, preset_name: str, run_name: str | None, *values: Any) -> str:
        """Validate the form, pick the run's name and start it; problems are ``gr.Error`` messages.

        ``values``: the settings (``form.FIELDS``), the password when the server has one, then the
        data source (``data_names``; left out, the preset's IMDB data)."""
        settings_values, rest = values[: len(form.FIELDS)], list(values[len(form.FIELDS) :])
        given = rest.pop(0) if self.password and rest else None
        self._check_password(given)
        if len(settings_values) != len(form.FIELDS):
            raise gr.Error(f"Expected {len(form.FIELDS)} settings ({', '.join(form.FIELDS)}), "
                           f"got {len(settings_values)}.")
        names = self.data_names()
        if len(rest) > len(names):
            raise gr.Error(f"Expected at most {len(names)} data arguments ({', '.join(names)}), got {len(rest)}.")
        data = dict(zip(names, rest + [None] * (len(names) - len(rest))))
        try:
            model_cfg, train_cfg, settings, notes = form.parse_settings(
                preset_name, dict(zip(form.FIELDS, settings_values)), self.cap)
            name, path = form.run_path(self.runs_dir, run_name, model_cfg)
            data_settings, data_note = own_data.overrides(
                data["data_source"], data["upload"], data.get("data_file"), data["text_column"],
                data["label_column"], self.runs_dir, self.data_dir)
            train_cfg = dataclasses.replace(train_cfg, output=str(path), **data_settings)
        except (form.FormError, own_data.DataSourceError) as exc:
            raise gr.Error(str(exc)) from None
        except ValueError as exc:  # a setting the data source makes that the configs refuse
            raise gr.Error(f"Bad settings: {exc}") from None
        if data_note:
            notes.append(data_note)
        info = {"name": name, "preset": preset_name, "trained_in": "web app",
                "command": form.cli_command(preset_name, name, path, settings)}
        try:
            self.worker.start(Run(name, str(path), preset_name, settings), model_cfg, train_cfg, info)
        except TrainingBusyError as exc:
            raise gr.Error(f"Another training run is in progress ({exc}); wait for it or stop it first.") from None
        return f"Started **{name}**" + (f" ({'; '.join(notes)})" if notes else "") + "."

    def stop(self, password: str | None = None) -> str:
        """Ask the running job to stop; it ends at the next batch and keeps its best checkpoint."""
        self._check_password(password)
        _, run = self.worker.snapshot()
        if not self.worker.stop():
            return "No training run is in progress."
        if run is not None and run.status == "preparing":
            return "Stopping: the run ends before training begins and saves no checkpoint."
        return "Stopping at the next batch; the best checkpoint so far is kept."

    def compare(self, metric: str):
        """The compare plot: saved runs' histories plus the run in progress."""
        histories = {e.name: self.registry.history(e.key) for e in self.registry.scan()[0]
                     if e.key.startswith("runs/")}
        _, current = self.worker.snapshot()
        if current is not None and current.of_kind("EpochEnd"):
            histories[current.name] = views.run_histories(current)
        return views.compare_chart(histories, self.worker.runs(), metric)

    def refresh(self, metric: str, seen: dict) -> dict:
        """Status, plots and buttons of the shared run; nothing is sent when nothing changed."""
        version, run = self.worker.snapshot()
        c = self.components
        if seen.get("training") == version:
            return dict.fromkeys(self.refresh_event()["outputs"], gr.skip())
        view = views.training_view(run)
        return {c["status"]: view["status"], c["loss_plot"]: view["loss"], c["accuracy_plot"]: view["accuracy"],
                c["results"]: view["results"], c["start"]: gr.Button(interactive=view["can_start"]),
                c["stop"]: gr.Button(interactive=view["can_stop"]), c["compare_plot"]: self.compare(metric),
                c["seen"]: {**seen, "training": version}}

    def refresh_event(self) -> dict[str, Any]:
        """Arguments of an event listener that redraws the tab (page load, timer, after Start/Stop)."""
        c = self.components
        outputs = [c[k] for k in ("status", "loss_plot", "accuracy_plot", "results", "start", "stop", "compare_plot",
                                  "seen")]
        return {"fn": self.refresh, "inputs": [c["compare_metric"], c["seen"]], "outputs": outputs,
                "show_progress": "hidden", "api_visibility": "private"}

    def status(self) -> dict:
        """The shared training run's state (name, status, steps, loss, error...)."""
        return views.status_dict(self.worker.snapshot()[1])


def named(fn: Callable[..., Any], names: list[str], optional: tuple[str, ...] = ()) -> Callable[..., Any]:
    """``fn`` taking positional arguments under these names, so the API page and clients show them;
    the ``optional`` ones (last) default to None, so a client may leave them out."""

    def call(*args: Any) -> Any:
        return fn(*args)

    call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                           default=None if n in optional else inspect.Parameter.empty) for n in names])
    call.__doc__ = fn.__doc__
    return call


def build_train_tab(worker: TrainingWorker, registry: ModelRegistry, runs_dir: Path, seen: gr.State,
                    cap: int | None = None, password: str | None = None, data_dir: Path | None = None) -> TrainTab:
    """Lay out the Train tab (inside an open ``gr.Tab``) and wire Start, Stop and the preset picker."""
    c: dict[str, Any] = {"seen": seen}
    initial = form.preset_settings(form.PRESET_ORDER[0], cap)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=360):
            c["preset"] = gr.Dropdown(list(form.PRESET_ORDER), value=form.PRESET_ORDER[0], label="Preset",
                                      info=PRESET_INFO)
            c["run_name"] = gr.Textbox(label="Run name", placeholder="optional, e.g. my-first-gru",
                                       info="letters, digits, - and _; empty: generated from the cell and time")
            c["data"] = own_data.build_data_source(data_dir)
            controls: dict[str, Any] = {}
            for section in form.SECTIONS:
                fields = [f for f in form.FORM if f.section == section]
                with gr.Accordion(section, open=True):
                    if cap and section == "Training":
                        gr.Markdown(f"This server trains on at most {cap:,} reviews per run.")
                    for i in range(0, len(fields), 2):  # two controls a row
                        with gr.Row(equal_height=True):
                            for f in fields[i : i + 2]:
                                controls[f.name] = control(f, initial[f.name], cap)
            c["controls"] = controls
        with gr.Column(scale=1, min_width=360):
            if password:
                c["password"] = gr.Textbox(label="Training password", type="password", elem_id="password",
                                           info="this server asks for it to start or stop a run")
            with gr.Row():
                c["start"] = gr.Button("Start training", variant="primary", elem_id="start")
                c["stop"] = gr.Button("Stop", variant="stop", interactive=False, elem_id="stop")
            c["notice"] = gr.Markdown()
            c["status"] = gr.Markdown(views.status_markdown(None), elem_classes="status-box", elem_id="status")
            c["loss_plot"] = gr.Plot(label="Loss", elem_id="loss-plot")
            c["accuracy_plot"] = gr.Plot(label="Validation accuracy per epoch")
            c["results"] = gr.Markdown(elem_id="results")
    gr.Markdown("### Compare runs\nRuns saved in the runs folder (this session's and earlier ones), one colour per "
                "run.")
    c["compare_metric"] = gr.Radio(list(views.COMPARE_METRICS), value="validation loss", label="Metric")
    c["compare_plot"] = gr.Plot(label="Runs compared")
    tab = TrainTab(worker, registry, Path(runs_dir), cap, password, c, data_dir)
    data_inputs = own_data.wire_data_source(c["data"], c["preset"], data_dir)

    refresh = tab.refresh_event()
    fields = [controls[f] for f in form.FIELDS]
    c["preset"].change(lambda name: dict(zip(fields, (form.preset_settings(name, cap)[f] for f in form.FIELDS))),
                       [c["preset"]], fields, api_visibility="private")
    secret = [c["password"]] if password else []
    c["start"].click(named(tab.start, ["preset", "run_name", *form.FIELDS, *(["password"] if password else []),
                            *tab.data_names()], optional=tuple(tab.data_names())),
                     [c["preset"], c["run_name"], *fields, *secret, *data_inputs], [c["notice"]],
                     api_name="start_training").then(**refresh)
    c["stop"].click(tab.stop, secret, [c["notice"]], api_name="stop_training").then(**refresh)
    c["compare_metric"].change(tab.compare, [c["compare_metric"]], [c["compare_plot"]], api_visibility="private")
    gr.api(tab.status, api_name="training_status")
    return tab
