"""Train-tab logic: one background training run at a time, shared by every visitor.

The run lives in a worker thread owned by the app, not in a Gradio event: closing or
refreshing the page does not stop it, and any page opened later reads the same state (a
``gr.Timer`` polls ``TrainingWorker.snapshot``). The worker drives ``sentiment_core.train``
and only records its events; the UI never contains a training loop.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import re
import shlex
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from sentiment_core import ModelConfig, TrainConfig, load_corpus, preset, train
from sentiment_core.card import write_card
from sentiment_core.config import PRESETS

from .charts import line_chart, thin

log = logging.getLogger(__name__)

# The controls of the Train tab, in order. Their labels are short names; their help text comes
# from the config dataclasses, like the CLI's --help, so the two cannot drift apart.
MODEL_FIELDS = ("cell", "bidirectional", "num_layers", "embed_dim", "hidden_dim", "dropout")
TRAIN_FIELDS = ("epochs", "batch_size", "lr", "max_tokens", "max_train_samples", "max_eval_samples", "device")
FIELDS = MODEL_FIELDS + TRAIN_FIELDS
LABELS = {
    "cell": "Recurrent cell", "bidirectional": "Bidirectional", "num_layers": "Layers", "embed_dim": "Embedding size",
    "hidden_dim": "Hidden size", "dropout": "Dropout", "epochs": "Epochs", "batch_size": "Batch size",
    "lr": "Learning rate", "max_tokens": "Max tokens per review", "max_train_samples": "Training reviews",
    "max_eval_samples": "Validation/test reviews", "device": "Device",
}
# Slider bounds (minimum, maximum, step) for the integer and float fields.
TRAIN_REVIEWS = 22_500  # the 25,000 training reviews minus the default 10% validation share
RANGES = {
    "num_layers": (1, 4, 1), "embed_dim": (4, 512, 1), "hidden_dim": (4, 512, 1), "dropout": (0.0, 0.9, 0.05),
    "epochs": (1, 30, 1), "batch_size": (4, 512, 1), "max_tokens": (0, 2_000, 10),
    "max_train_samples": (0, TRAIN_REVIEWS, 100), "max_eval_samples": (0, 25_000, 100),
}
DEVICE_NAMES = {"auto": "auto", "cpu": "CPU", "cuda": "GPU (CUDA)", "mps": "Apple GPU (MPS)"}
PRESET_ORDER = tuple(sorted(PRESETS, key=lambda name: (name != "quick", name)))  # the CPU-friendly one first
NAME_RE = re.compile(r"[^A-Za-z0-9_-]+")
EMA_ALPHA = 0.1  # weight of the newest loss in the smoothed curve
MAX_PLOT_POINTS = 500


def field_info(name: str) -> dataclasses.Field:
    """The ModelConfig or TrainConfig dataclass field called ``name``."""
    for cls in (ModelConfig, TrainConfig):
        for f in dataclasses.fields(cls):
            if f.name == name:
                return f
    raise KeyError(name)


def preset_settings(name: str, cap: int | None = None) -> dict[str, Any]:
    """The control values of a preset; with a cap, 'all reviews' becomes the cap."""
    model_cfg, train_cfg = preset(name)
    values = {f: getattr(model_cfg if f in MODEL_FIELDS else train_cfg, f) for f in FIELDS}
    if cap:
        for key in ("max_train_samples", "max_eval_samples"):
            values[key] = min(values[key] or cap, cap)
    return values


# ---------------------------------------------------------------------------------------------
# Run names


def sanitize_name(name: str | None) -> str:
    """Letters, digits, '-' and '_' only (other runs of characters become one '-'), at most 64."""
    return NAME_RE.sub("-", (name or "").strip()).strip("-_")[:64]


def generated_name(model_cfg: ModelConfig, now: dt.datetime | None = None) -> str:
    """Such as 'gru-bi-20261129-2031': cell, direction, local time."""
    now = now or dt.datetime.now()
    return f"{model_cfg.cell}{'-bi' if model_cfg.bidirectional else ''}-{now:%Y%m%d-%H%M}"


def run_path(runs_dir: Path, name: str | None, model_cfg: ModelConfig) -> tuple[str, Path]:
    """The sanitized run name and its checkpoint path; an existing run of that name is an error.

    A generated name that is taken (two runs in one minute) gets a numeric suffix instead.
    """
    wanted = sanitize_name(name)
    if wanted:
        path = runs_dir / f"{wanted}.safetensors"
        if path.exists():
            raise gr.Error(f"A run named '{wanted}' already exists in {runs_dir}; choose another name.")
        return wanted, path
    base = generated_name(model_cfg)
    for i in range(1, 1000):
        candidate = base if i == 1 else f"{base}-{i}"
        path = runs_dir / f"{candidate}.safetensors"
        if not path.exists():
            return candidate, path
    raise gr.Error(f"Too many runs named {base}-*; give the run a name.")


def cli_command(preset_name: str, name: str, path: Path, settings: dict[str, Any]) -> str:
    """The equivalent ``python -m sentiment_core train`` command, recorded in the model card."""
    base = preset_settings(preset_name)
    args = ["python", "-m", "sentiment_core", "train", "--preset", preset_name, "--name", name, "--output", str(path)]
    for key, value in settings.items():
        if value == base.get(key):
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        else:
            args += [flag, str(value)]
    return shlex.join(args)


# ---------------------------------------------------------------------------------------------
# The worker


class TrainingBusyError(RuntimeError):
    """A training run is already in progress."""


class _Stopped(Exception):
    """Raised from the data-loading progress hook when Stop is pressed before training starts."""


@dataclass
class Run:
    """One training run: its settings and everything the trainer has reported so far."""

    name: str
    path: str
    preset: str
    settings: dict[str, Any]
    status: str = "preparing"  # preparing | training | finished | stopped | failed
    stage: str = "starting"  # a line about data loading, empty once training runs
    events: list[dict[str, Any]] = field(default_factory=list)  # each event's to_dict(), in order
    error: str = ""
    stop_requested: bool = False
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None

    @property
    def running(self) -> bool:
        return self.status in ("preparing", "training")

    def last(self, kind: str) -> dict[str, Any] | None:
        return next((e for e in reversed(self.events) if e["kind"] == kind), None)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]


class TrainingWorker:
    """Runs ``sentiment_core.train`` in a background thread, one run at a time, and records its events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: list[Run] = []  # this app session's runs, oldest first
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._version = 0  # bumped on every change, so pages redraw only when something happened

    def start(self, run: Run, model_cfg: ModelConfig, train_cfg: TrainConfig, info: dict[str, Any]) -> Run:
        """Start ``run`` in a new thread; ``TrainingBusyError`` if one is already running."""
        with self._lock:
            if self._runs and self._runs[-1].running:
                raise TrainingBusyError(f"run '{self._runs[-1].name}' is in progress")
            self._stop = threading.Event()
            self._runs.append(run)
            self._version += 1
            self._thread = threading.Thread(target=self._work, args=(run, model_cfg, train_cfg, info, self._stop),
                                            name=f"train-{run.name}", daemon=True)
            self._thread.start()
        return run

    def stop(self) -> bool:
        """Ask the current run to stop at the next batch; False if nothing is running."""
        with self._lock:
            if not self._runs or not self._runs[-1].running:
                return False
            self._runs[-1].stop_requested = True
            self._version += 1
        self._stop.set()
        return True

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the current run's thread to end; True if it did."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop the current run (it saves its best checkpoint) and wait for it, e.g. at exit."""
        self.stop()
        self.join(timeout)

    @property
    def version(self) -> int:
        return self._version

    def snapshot(self) -> tuple[int, Run | None]:
        """(version, a copy of the latest run) — safe to read while the worker appends."""
        with self._lock:
            if not self._runs:
                return self._version, None
            run = self._runs[-1]
            return self._version, dataclasses.replace(run, events=list(run.events), settings=dict(run.settings))

    def runs(self) -> list[Run]:
        """Copies of every run of this app session, oldest first."""
        with self._lock:
            return [dataclasses.replace(r, events=list(r.events)) for r in self._runs]

    def _update(self, run: Run, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(run, key, value)
            self._version += 1

    def _append(self, run: Run, event: dict[str, Any]) -> None:
        with self._lock:
            run.events.append(event)
            if event["kind"] == "Status":  # a slow preparation step, e.g. computing word vectors
                run.stage = event["message"]
            elif event["kind"] == "Started":
                run.status, run.stage = "training", ""
            elif event["kind"] == "Finished":
                run.status, run.error, run.ended_at = event["status"], event["error"], time.time()
            self._version += 1

    def _work(self, run: Run, model_cfg: ModelConfig, train_cfg: TrainConfig, info: dict[str, Any],
              stop: threading.Event) -> None:
        def progress(stage: str, done: int, total: int) -> None:
            if stop.is_set():
                raise _Stopped
            verb = {"tokenize": "tokenizing", "download": "downloading"}.get(stage, stage)
            unit = "bytes" if stage == "download" else "reviews"
            self._update(run, stage=f"{verb} {done:,}/{total:,} {unit}")

        try:
            self._update(run, stage="reading the IMDB data")
            corpus = load_corpus(train_cfg, progress=progress)
            if stop.is_set():
                raise _Stopped
            self._update(run, stage="building the vocabulary and model")
            for event in train(model_cfg, train_cfg, corpus, stop=stop, info=info):
                self._append(run, event.to_dict())
        except _Stopped:
            self._update(run, status="stopped", stage="stopped before training began", ended_at=time.time())
        except Exception as exc:  # a worker that died silently would leave every page "running"
            log.exception("training run %s failed", run.name)
            self._update(run, status="failed", error=f"{type(exc).__name__}: {exc}", ended_at=time.time())
        if run.running:  # the trainer ended without a Finished event: never leave the run "running"
            self._update(run, status="failed", error=run.error or "training ended unexpectedly", ended_at=time.time())
        if Path(run.path).is_file():
            try:
                write_card(run.path)
            except Exception:  # the checkpoint is fine; only its Markdown card is missing
                log.exception("could not write the model card of %s", run.path)


# ---------------------------------------------------------------------------------------------
# Handlers


def start_training(worker: TrainingWorker, runs_dir: str | Path, preset_name: str, run_name: str | None,
                   settings: dict[str, Any], cap: int | None = None) -> str:
    """Validate the form, pick the run's name and start it; problems are ``gr.Error`` messages."""
    settings = dict(settings)
    notes = []
    if cap:
        for key in ("max_train_samples", "max_eval_samples"):
            if not settings.get(key) or settings[key] > cap:
                notes.append(f"{LABELS[key].lower()} capped at {cap:,} on this server")
                settings[key] = cap
    for key, value in settings.items():
        # Numbers arrive as floats from sliders and number boxes; the configs want ints.
        if isinstance(field_info(key).default, int) and not isinstance(field_info(key).default, bool):
            if value is None or (isinstance(value, float) and not value.is_integer()):
                raise gr.Error(f"{LABELS[key]} must be a whole number, not {value!r}.")
            settings[key] = int(value)
        elif value is None:
            raise gr.Error(f"{LABELS[key]} is empty.")
    if preset_name not in PRESETS:
        raise gr.Error(f"Unknown preset '{preset_name}'; choose one of {', '.join(PRESET_ORDER)}.")
    try:
        model_cfg, train_cfg = preset(preset_name, **settings)
    except ValueError as exc:
        raise gr.Error(f"Bad settings: {exc}") from None
    runs_dir = Path(runs_dir)
    name, path = run_path(runs_dir, run_name, model_cfg)
    train_cfg = dataclasses.replace(train_cfg, output=str(path))
    info = {"name": name, "preset": preset_name, "trained_in": "web app",
            "command": cli_command(preset_name, name, path, settings)}
    run = Run(name, str(path), preset_name, settings)
    try:
        worker.start(run, model_cfg, train_cfg, info)
    except TrainingBusyError as exc:
        raise gr.Error(f"Another training run is in progress ({exc}); wait for it or stop it first.") from None
    return f"Started **{name}**" + (f" ({'; '.join(notes)})" if notes else "") + "."


def stop_training(worker: TrainingWorker) -> str:
    """Set the running job's stop flag; it ends at the next batch and keeps its best checkpoint."""
    if worker.stop():
        return "Stopping at the next batch; the best checkpoint so far is kept."
    return "No training run is in progress."


# ---------------------------------------------------------------------------------------------
# Views of a run


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def status_markdown(run: Run | None) -> str:
    """What the run is doing now: stage, device, epoch/step, speed, ETA, or how it ended."""
    if run is None:
        return "No training run yet in this app session. Pick a preset, adjust the settings and press **Start**."
    started = run.last("Started")
    step = run.last("Step")
    lines = []
    if run.status == "preparing":
        lines.append(f"**Preparing {run.name}**: {run.stage}…")
    elif run.status == "training":
        head = f"**Training {run.name}** on `{started['device']}`" if started else f"**Training {run.name}**"
        if step:
            epochs = run.settings.get("epochs", "?")
            head += (f" · epoch {step['epoch']}/{epochs} · step {step['step']:,}/{step['total_steps']:,} "
                     f"({step['step'] / step['total_steps']:.0%}) · {step['tokens_per_s']:,.0f} tokens/s · "
                     f"elapsed {_clock(step['elapsed_s'])} · ETA {_clock(step['eta_s'])}")
        else:
            head += " · first batch…"
        lines.append(head)
    else:
        finished = run.last("Finished")
        took = f" in {_clock(finished['elapsed_s'])}" if finished else ""
        if run.status == "failed":
            lines.append(f"**{run.name} failed**{took}: {run.error}  \nAdjust the settings and press **Start** again.")
        elif finished and finished["path"]:
            lines.append(f"**{run.name} {run.status}**{took}. Saved `{finished['path']}`: pick it in the "
                         "**Classify** tab's model selector.")
        else:
            lines.append(f"**{run.name} {run.status}** ({run.stage or 'no checkpoint was saved'}).")
    if run.stop_requested and run.running:
        lines.append("Stopping at the next batch…")
    if started:
        lines.append(f"{started['num_parameters']:,} parameters · vocabulary {started['vocab_size']:,} · "
                     f"{started['train_size']:,} train / {started['val_size']:,} validation / "
                     f"{started['test_size']:,} test reviews · device `{started['device']}`")
    return "  \n".join(lines)


def ema(values: list[float], alpha: float = EMA_ALPHA) -> list[float]:
    """Exponential moving average, bias-corrected so the first values aren't pulled towards 0."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = (1 - alpha) * avg + alpha * v
        out.append(avg / (1 - (1 - alpha) ** i))
    return out


def loss_chart(run: Run | None):
    """Train loss per step (raw and smoothed) and validation loss per epoch, against the step."""
    if run is None:
        return None
    steps = run.of_kind("Step")
    losses = [s["loss"] for s in steps]
    raw = [{"step": s["step"], "loss": s["loss"], "series": "train (raw)"} for s in steps]
    smooth = [{"step": s["step"], "loss": v, "series": "train (EMA)"} for s, v in zip(steps, ema(losses), strict=True)]
    val = [{"step": e["step"], "loss": e["val"]["loss"], "series": "validation"} for e in run.of_kind("EpochEnd")]
    rows = thin(raw, MAX_PLOT_POINTS) + thin(smooth, MAX_PLOT_POINTS) + val
    return line_chart(rows, "step", "loss", x_title="step", y_title="loss",
                      series_order=["train (raw)", "train (EMA)", "validation"], faint=["train (raw)"])


def accuracy_chart(run: Run | None):
    """Validation accuracy after each epoch."""
    if run is None:
        return None
    rows = [{"epoch": e["epoch"], "accuracy": e["val"]["accuracy"], "series": "validation accuracy"}
            for e in run.of_kind("EpochEnd")]
    return line_chart(rows, "epoch", "accuracy", x_title="epoch", y_title="validation accuracy", y_format=".0%")


def _metrics_table(metrics: dict[str, dict[str, Any]]) -> list[str]:
    """Metrics as rows and splits as columns, narrow enough for half the page."""
    splits = {name: m for name, m in metrics.items() if m}
    rows = ["| | " + " | ".join(splits) + " |", "|---|" + "---:|" * len(splits)]
    for label, key, fmt in [("reviews", "count", "{:,}"), ("accuracy", "accuracy", "{:.2%}"),
                            ("precision", "precision", "{:.2%}"), ("recall", "recall", "{:.2%}"),
                            ("F1", "f1", "{:.4f}"), ("loss", "loss", "{:.4f}")]:
        rows.append(f"| {label} | " + " | ".join(fmt.format(m[key]) for m in splits.values()) + " |")
    return rows


def results_markdown(run: Run | None) -> str:
    """Final validation/test metrics and the confusion matrix, once the run has ended."""
    finished = run.last("Finished") if run else None
    if not finished or finished["status"] == "failed":
        return ""
    lines = ["### Results", "", *_metrics_table({"validation": finished["val"], "test": finished["test"]})]
    if not finished["test"]:
        lines += ["", "_Test metrics are computed only when a run finishes all its epochs._"]
    split = "test" if finished["test"] else "validation"
    confusion = (finished["test"] or finished["val"]).get("confusion")
    if confusion:
        (tn, fp), (fn, tp) = confusion
        lines += ["", f"Confusion matrix ({split}; rows: truth, columns: prediction)", "",
                  "| | predicted negative | predicted positive |", "|---|---:|---:|",
                  f"| **negative** | {tn:,} | {fp:,} |", f"| **positive** | {fn:,} | {tp:,} |"]
    return "\n".join(lines)


COMPARE_METRICS = {
    "validation loss": ("val_loss", "epoch"),
    "validation accuracy": ("val_accuracy", "epoch"),
    "train loss": ("train_loss", "epoch"),
    "train loss per step (EMA, this session's runs)": ("loss", "step"),
}


def compare_chart(histories: dict[str, list[dict[str, Any]]], worker_runs: list[Run], metric: str):
    """One line per run: a per-epoch metric from checkpoint histories, or the smoothed step loss."""
    key, x = COMPARE_METRICS.get(metric, COMPARE_METRICS["validation loss"])
    rows: list[dict[str, Any]] = []
    if x == "step":
        for run in worker_runs:
            steps = run.of_kind("Step")
            smooth = ema([s["loss"] for s in steps])
            points = [{"step": s["step"], "loss": v, "series": run.name} for s, v in zip(steps, smooth, strict=True)]
            rows += thin(points, MAX_PLOT_POINTS // 2)
    else:
        for name, history in histories.items():
            rows += [{"epoch": h["epoch"], key: h[key], "series": name} for h in history
                     if isinstance(h.get(key), (int, float)) and math.isfinite(h[key])]
    return line_chart(rows, x, key, x_title=x, y_title=metric.split(" (")[0],
                      y_format=".0%" if key == "val_accuracy" else None)


def run_histories(run: Run | None) -> list[dict[str, Any]]:
    """The per-epoch history of a run in progress, as checkpoints record it."""
    if run is None:
        return []
    return [{"epoch": e["epoch"], "train_loss": e["train_loss"], "val_loss": e["val"]["loss"],
             "val_accuracy": e["val"]["accuracy"]} for e in run.of_kind("EpochEnd")]


def training_view(run: Run | None) -> tuple[str, Any, Any, str, bool, bool]:
    """Everything a page shows of the shared run, from a snapshot: any page, opened at any time,
    gets the full history. (status, loss chart, accuracy chart, results, start enabled, stop enabled)"""
    running = run is not None and run.running
    return (status_markdown(run), loss_chart(run), accuracy_chart(run), results_markdown(run),
            not running, running and not run.stop_requested)


def status_dict(run: Run | None) -> dict[str, Any]:
    """The run's state as plain values, for API clients and tests."""
    if run is None:
        return {"status": "idle"}
    started, step, finished = run.last("Started"), run.last("Step"), run.last("Finished")
    epochs = run.of_kind("EpochEnd")
    return {
        "name": run.name,
        "status": run.status,
        "stage": run.stage,
        "stop_requested": run.stop_requested,
        "device": started["device"] if started else None,
        "steps_done": step["step"] if step else 0,
        "total_steps": step["total_steps"] if step else (started["total_steps"] if started else None),
        "epochs_done": len(epochs),
        "last_loss": step["loss"] if step else None,
        "val_accuracy": epochs[-1]["val"]["accuracy"] if epochs else None,
        # Not "path": gradio_client would take a dict with a "path" key for a file to download.
        "checkpoint": finished["path"] if finished else "",
        "error": run.error,
    }
