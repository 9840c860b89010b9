"""The Train tab: the form, Start and Stop, and the live view of the shared training run.

``build_train_tab`` lays out the tab and wires its own buttons; it returns a ``TrainTab`` holding its
components (``TrainComponents``) so ``ui.build_demo`` can hook the page-wide timer to
``TrainTab.refresh``. Handlers return dicts keyed by component. The settings form is ``train_form``'s,
the API endpoints ``train_api``'s, the run's charts and text ``train_views``'. Training itself runs in a
child process owned by ``demo.services.worker``.
"""

from __future__ import annotations

import dataclasses
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from sentiment_core.data.table import is_table

from ..services import datasource, form, limits, own_data
from ..services.public import PublicTraining, cap_configs
from ..services.registry import ModelRegistry
from ..services.worker import Run, TrainingBusyError, TrainingWorker
from . import model_files
from . import public_mode as public_mode_tab
from . import train_views as views
from .data_source import DataSourceControls, build_data_source, wire_data_source, wire_plan
from .inputs import client_id, gradio_uploads, refusing, user_error
from .train_api import add_api
from .train_form import control as control  # re-exported: the tab's public names include its form's control
from .train_form import form_updates, lay_out_controls

DISABLED = ("## Training is disabled on this server\nThis deployment only classifies with the models it has. "
            "Run the app yourself (`python app.py`) to train models; see the README.")
PRESET_INFO = ("fills the settings below; 'fast' reaches 91% in two to three minutes on a 2-core CPU, 'quick' "
               "trains a small model on a slice in under a minute, 'transfer' is 'fast' started from a pretrained "
               "language model (transfer learning: it learns far more from a few labelled reviews; try 1,000), "
               "'reader' fine-tunes the larger language model the shipped readers came from (slow on a CPU), "
               "'tutorial' is the original PyTorch sentiment tutorial's RNN")


def _running(run: Run | None) -> str | None:
    """Which run is going, as a key that a page remembers (a name can come back after a run is deleted)."""
    return f"{run.name}@{run.started_at}" if run is not None and run.running else None


@dataclass
class TrainComponents:
    """The Train tab's components; ``controls`` holds the form's, by ``form.FIELDS`` name."""

    seen: gr.State
    preset: gr.Dropdown
    run_name: gr.Textbox
    own_data: DataSourceControls
    controls: dict[str, gr.components.Component]
    password: gr.Textbox | None
    data: gr.Markdown
    start: gr.Button
    stop: gr.Button
    notice: gr.Markdown
    status: gr.Markdown
    loss_plot: gr.Plot
    accuracy_plot: gr.Plot
    results: gr.Markdown
    compare_metric: gr.Radio
    compare_plot: gr.Plot


@dataclass
class TrainTab:
    """The tab's components, and the handlers bound to this app's worker and settings."""

    worker: TrainingWorker
    registry: ModelRegistry
    runs_dir: Path
    cap: int | None
    password: str | None
    components: TrainComponents | None  # None: the handlers alone, without a page (tests, scripts)
    data: str = dataclasses.field(default_factory=datasource.setting)  # see ``demo.services.datasource``
    data_dir: Path | None = None  # a server folder whose labelled files a run may name (--train-data-dir)
    public: PublicTraining | None = None  # public mode: caps, one run per visitor, its token stops it

    def _check_password(self, given: str | None) -> None:
        """Refuse a wrong password, and every attempt of a client that has guessed wrong too often."""
        if not self.password:
            return
        client = client_id()
        with refusing():
            limits.PASSWORD.check(client)
        if not hmac.compare_digest(str(given or "").encode(), self.password.encode()):
            limits.PASSWORD.record(client)
            raise user_error("Wrong or missing training password: on this server, starting and stopping runs needs it.")

    def start_run(self, preset_name: str, run_name: str | None, settings: dict[str, Any],
                  password: str | None = None, source: dict[str, Any] | None = None) -> tuple[Run, list[str]]:
        """Check the password, the data and the settings, pick the run's name and start it: (run, notes).
        ``source``: the data source (``own_data.overrides``' arguments by name; None: the preset's IMDB
        data). Problems are ``gr.Error`` messages."""
        visitor = self._admit(password)
        source = source or {}
        own_file = source.get("data_source") == "file"
        trouble = None if own_file else datasource.problem(self.data)
        if trouble:
            raise user_error(f"Training cannot start: {trouble}. To fix it, {datasource.HOW_TO_SET}.")
        if run_name is not None and not isinstance(run_name, str):
            raise user_error(f"The run name must be text, not {type(run_name).__name__}.")
        try:
            model_cfg, train_cfg, settings, notes = form.parse_settings(preset_name, settings, self.cap)
            if self.public is not None:
                model_cfg, train_cfg, capped = cap_configs(model_cfg, train_cfg)
                notes += capped
            name, path = form.run_path(self.runs_dir, run_name, model_cfg)
            data_settings, data_note = own_data.overrides(
                source.get("data_source"), source.get("upload"), source.get("data_file"), source.get("text_column"),
                source.get("label_column"), self.runs_dir, self.data_dir, **gradio_uploads())
            train_cfg = dataclasses.replace(train_cfg, output=str(path), **{"data": self.data, **data_settings},
                                            **model_files.start_settings(self.registry, source))
        except (form.FormError, own_data.DataSourceError) as exc:
            raise user_error(str(exc)) from None
        except ValueError as exc:  # a setting of the data source that the configs refuse
            raise user_error(f"Bad settings: {exc}") from None
        if data_note:
            notes.append(data_note)
        info = {"name": name, "preset": preset_name, "trained_in": "web app",
                "command": form.cli_command(preset_name, name, path, settings)}
        info.update(model_files.given_data_name(source))
        try:
            examples = "rows" if is_table(train_cfg.data) else "reviews"
            run = self.worker.start(Run(name, str(path), preset_name, settings, examples), model_cfg, train_cfg, info)
        except TrainingBusyError as exc:
            raise user_error(f"Another training run is in progress ({exc}); wait for it or stop it first.") from None
        if visitor:
            self.public.started(run.name, visitor, client_id())
        return run, notes

    def _admit(self, given: Any) -> str | None:
        """Public mode: the token digest of a visitor who may start a run now; else the password check."""
        if self.public is None:
            return self._check_password(given)
        with refusing():
            return self.public.admit(given, client_id())

    def data_names(self) -> list[str]:
        """The data-source arguments of Start, after the settings (and the password)."""
        return ["data_source", "upload", *(["data_file"] if self.data_dir else []), "text_column", "label_column",
                "start_from", "positive_label"]

    def start(self, preset_name: str, run_name: str | None, *values: Any) -> str:
        """The page's Start: the form's values in ``form.FIELDS`` order, the password when one is set,
        then the data source (``data_names``; left out: the preset's IMDB data)."""
        values, rest = values[: len(form.FIELDS)], list(values[len(form.FIELDS) :])
        given = rest.pop(0) if (self.password or self.public) and rest else None
        if len(values) != len(form.FIELDS):
            raise user_error(f"Expected {len(form.FIELDS)} settings ({', '.join(form.FIELDS)}), got {len(values)}.")
        names = self.data_names()
        if len(rest) > len(names):
            raise user_error(f"Expected at most {len(names)} data arguments ({', '.join(names)}), got {len(rest)}.")
        run, notes = self.start_run(preset_name, run_name, dict(zip(form.FIELDS, values)), given,
                                    dict(zip(names, rest)))
        return f"Started **{run.name}**" + (f" ({'; '.join(notes)})" if notes else "") + "."

    def stop_run(self, password: str | None = None) -> tuple[bool, str]:
        """Ask the running job to stop: (whether one was running, what happens now)."""
        if self.public is None:
            self._check_password(password)
        elif _running(self.worker.snapshot()[1]) and not self.public.may_stop(password):
            raise user_error("In public mode only the browser that started a run can stop it.")
        _, run = self.worker.snapshot()
        if not self.worker.stop():
            return False, "No training run is in progress."
        if run is not None and run.last("Step") is None:
            # Not a batch trained yet: nothing worth saving, and the worker ends it within seconds.
            return True, "Stopping: the run has not trained yet, so it ends without saving a checkpoint."
        return True, "Stopping at the next batch; the best checkpoint so far is kept."

    def stop(self, password: str | None = None) -> str:
        """The page's Stop."""
        return self.stop_run(password)[1]

    def compare(self, metric: str):
        """The compare plot: saved runs' histories plus the run in progress."""
        histories = {e.name: e.history for e in self.registry.scan()[0] if e.key.startswith("runs/")}
        _, current = self.worker.snapshot()
        if current is not None and current.of_kind("EpochEnd"):
            histories[current.name] = views.run_histories(current)
        return views.compare_chart(histories, self.worker.runs(), metric)

    def refresh(self, metric: str, seen: dict) -> dict:
        """Status, plots, buttons, data line and form of the shared run; nothing is sent when nothing changed."""
        version, run = self.worker.snapshot()
        c = self.components
        if seen.get("training") == version:
            return dict.fromkeys(self.refresh_event()["outputs"], gr.skip())
        view, running = views.training_view(run), _running(run)
        data = datasource.describe(self.data)  # a run may have downloaded the archive since
        return {c.status: view["status"], c.loss_plot: view["loss"], c.accuracy_plot: view["accuracy"],
                c.results: view["results"], c.start: gr.Button(interactive=view["can_start"]),
                c.stop: gr.Button(interactive=view["can_stop"]), c.compare_plot: self.compare(metric),
                c.data: data if seen.get("data") != data else gr.skip(), **form_updates(c, run, running, seen),
                c.seen: {**seen, "training": version, "data": data, "form": running}}

    def refresh_event(self) -> dict[str, Any]:
        """Arguments of an event listener that redraws the tab (page load, timer, after Start/Stop)."""
        c = self.components
        outputs = [c.status, c.loss_plot, c.accuracy_plot, c.results, c.start, c.stop, c.compare_plot, c.data,
                   c.preset, c.run_name, *c.controls.values(), c.seen]
        return {"fn": self.refresh, "inputs": [c.compare_metric, c.seen], "outputs": outputs,
                "show_progress": "hidden", "api_visibility": "private"}

    def landing(self) -> Any:
        """The tab a page opens on: this one while a run goes (a reload shows the run), else the first."""
        _, run = self.worker.snapshot()
        return gr.Tabs(selected="train") if run is not None and run.running else gr.skip()

    def status(self) -> dict:
        """The shared training run's state (name, status, steps, loss, error...)."""
        return views.status_dict(self.worker.snapshot()[1])


def build_train_tab(worker: TrainingWorker, registry: ModelRegistry, runs_dir: Path, seen: gr.State,
                    cap: int | None = None, password: str | None = None, data: str | None = None,
                    data_dir: Path | None = None, public_mode: bool = False) -> TrainTab:
    """Lay out the Train tab (inside an open ``gr.Tab``) and wire Start, Stop and the preset picker.

    ``data`` is where runs read the IMDB reviews (``demo.services.datasource.setting``)."""
    data = datasource.setting(data)
    initial = form.preset_settings(form.PRESET_ORDER[0], cap)
    with gr.Row(equal_height=False, elem_id="train-row"):
        with gr.Column(scale=1, min_width=360, elem_id="train-settings"):
            preset = gr.Dropdown(list(form.PRESET_ORDER), value=form.PRESET_ORDER[0], label="Preset",
                                 info=PRESET_INFO)
            run_name = gr.Textbox(label="Run name", placeholder="optional, e.g. my-first-gru",
                                  info="letters, digits, - and _; empty: generated from the cell and time")
            data_source = build_data_source(data_dir)
            files = model_files.lay_out_train(registry, Path(runs_dir))
            controls = lay_out_controls(initial, cap)
        with gr.Column(scale=1, min_width=360, elem_id="train-run"):
            password_box, token, gate = None, None, None
            if public_mode and not password:  # public and no password: training within caps (services.public)
                token, gate = public_mode_tab.lay_out(worker)
            if password:
                password_box = gr.Textbox(label="Training password", type="password", elem_id="password",
                                          info="this server asks for it to start or stop a run")
            data_line = gr.Markdown(datasource.describe(data), elem_id="data")
            with gr.Row():
                start = gr.Button("Start training", variant="primary", elem_id="start")
                stop = gr.Button("Stop", variant="stop", interactive=False, elem_id="stop")
            notice = gr.Markdown(elem_id="notice")
            status = gr.Markdown(views.status_markdown(None), elem_classes="status-box", elem_id="status")
            loss_plot = gr.Plot(label="Loss", elem_id="loss-plot", elem_classes="chart")
            accuracy_plot = gr.Plot(label="Validation accuracy per epoch", elem_id="accuracy-plot",
                                    elem_classes="chart")
            results = gr.Markdown(elem_id="results")
            download_run, run_bundle = model_files.lay_out_train_download()
    gr.Markdown("### Compare runs\nRuns saved in the runs folder (this session's and earlier ones), one colour per "
                "run.")
    compare_metric = gr.Radio(list(views.COMPARE_METRICS), value="validation loss", label="Metric")
    compare_plot = gr.Plot(label="Runs compared", elem_id="compare-plot", elem_classes="chart")
    c = TrainComponents(seen, preset, run_name, data_source, controls, password_box, data_line, start, stop, notice,
                        status, loss_plot, accuracy_plot, results, compare_metric, compare_plot)
    tab = TrainTab(worker, registry, Path(runs_dir), cap, password, c, data, data_dir, gate)
    # Copies of training files that no checkpoint records go at start and after each run (the running one stays).
    own_data.prune_copies(tab.runs_dir, worker.data_in_use())
    worker.after_run.append(lambda: own_data.prune_copies(tab.runs_dir, worker.data_in_use()))
    data_inputs = wire_data_source(c.own_data, c.preset, data_dir)
    wire_plan(c.own_data, c.preset, controls, data_dir, cap, lambda: _running(worker.snapshot()[1]) is not None)

    refresh = tab.refresh_event()
    fields = [controls[f] for f in form.FIELDS]
    # .input, not .change: a preset shown because a run is going must not refill the form.
    c.preset.input(lambda name: dict(zip(fields, (form.preset_settings(name, cap)[f] for f in form.FIELDS))),
                   [c.preset], fields, api_visibility="private")
    secret = [c.password] if c.password is not None else [token] if token is not None else []
    c.start.click(tab.start, [c.preset, c.run_name, *fields, *secret, *data_inputs, *files.start_inputs], [c.notice],
                  api_visibility="private").then(**refresh)
    c.stop.click(tab.stop, secret, [c.notice], api_visibility="private").then(**refresh)
    c.compare_metric.change(tab.compare, [c.compare_metric], [c.compare_plot], api_visibility="private")
    model_files.wire_train(files, download_run, run_bundle, registry, worker)
    add_api(tab)
    return tab
