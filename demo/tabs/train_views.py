"""What a page shows of a training run: the status line, loss and accuracy charts, results, comparisons.

Pure functions of a ``Run`` snapshot (``demo.worker``), so any page, opened at any time, draws the
same full history.
"""

from __future__ import annotations

import math
import time
from typing import Any

from sentiment_core import markdown as md
from sentiment_core.fit import FITTED, majority_note
from sentiment_core.report import class_table, confusion_table, metrics_table, timings_table

from ..services.datasource import failure_hint
from ..services.worker import Run
from .charts import line_chart, thin

EMA_ALPHA = 0.1  # weight of the newest loss in the smoothed curve
MAX_PLOT_POINTS = 500


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
        lines.append(f"**Preparing {run.name}**: {md.text(run.stage)}…")
    elif run.status == "training":
        head = f"**Training {run.name}** on `{started['device']}`" if started else f"**Training {run.name}**"
        if step:
            epochs = _epochs(run, "?")
            head += (f" · epoch {step['epoch']}/{epochs} · step {step['step']:,}/{step['total_steps']:,} "
                     f"({step['step'] / step['total_steps']:.0%}) · {step['tokens_per_s']:,.0f} tokens/s · "
                     f"elapsed {_clock(time.time() - run.started_at)} since Start · ETA {_clock(step['eta_s'])}")
        else:
            head += " · first batch…"
        lines.append(head)
    else:
        finished = run.last("Finished")
        # From pressing Start, data loading included: the total of the time table below.
        took = f" in {_clock(run.ended_at - run.started_at)}" if run.ended_at else ""
        if run.status == "failed":
            hint = failure_hint(run.error) or "Adjust the settings and press **Start** again."
            lines.append(f"**{run.name} failed**{took}: {md.code(run.error)}  \n{hint}")
        elif finished and finished["path"]:
            lines.append(f"**{run.name} {run.status}**{took}. Saved {md.code(finished['path'])}: pick it in the "
                         "**Classify** tab's model selector.")
        elif run.status == "stopped":  # stopped before a batch was trained: nothing was worth saving
            lines.append(f"**{run.name} stopped** before training began; no checkpoint was saved.")
        else:
            lines.append(f"**{run.name} {run.status}** ({md.text(run.stage or 'no checkpoint was saved')}).")
    if run.stop_requested and run.running:
        lines.append("Stopping at the next batch…")
    fitted = next((e["message"] for e in run.of_kind("Status") if e["message"].startswith(FITTED)), "")
    if fitted:  # the preset fitted its batch and epochs to the data when the run started: not what the form says
        lines.append(md.text(fitted[0].upper() + fitted[1:]) + ".")
    if started:
        lines.append(f"{started['num_parameters']:,} parameters · vocabulary {started['vocab_size']:,} · "
                     f"{started['train_size']:,} train / {started['val_size']:,} validation / "
                     f"{started['test_size']:,} test {run.examples} · device `{started['device']}`")
    text = "  \n".join(lines)
    timings = timings_markdown(run)
    return f"{text}\n\n{timings}" if timings else text


def _current_phase(run: Run) -> str:
    """The phase a running run is in: its data-loading stage, or the epoch or test under way."""
    if run.status == "preparing":
        return run.stage or "starting"
    done = {t["phase"] for t in run.of_kind("Timing")}
    step = run.last("Step")
    epoch = step["epoch"] if step else 1
    if f"epoch {epoch}" not in done:
        return f"epoch {epoch}"
    return "testing" if epoch >= _epochs(run, epoch) else f"epoch {epoch + 1}"


def _epochs(run: Run, unknown: Any) -> Any:
    """The run's epochs: as it started them (a preset that fits its schedule changes the form's), else the
    form's, else ``unknown``."""
    started = run.last("Started")
    return (started and started.get("epochs")) or run.settings.get("epochs", unknown)


def timings_markdown(run: Run | None, now: float | None = None) -> str:
    """Where the run's time went, phase by phase (reading, tokenizing, word vectors, epochs,
    testing), with the phase under way and the time since Start."""
    if run is None:
        return ""
    timings = run.of_kind("Timing")
    if run.running:
        elapsed = (now or time.time()) - run.started_at
        # The phase under way may be a data-loading line that names the user's file or classes.
        current = {"phase": md.text(_current_phase(run)),
                   "seconds": max(0.0, elapsed - sum(t["seconds"] for t in timings)), "note": "under way"}
        rows = [*timings, current]
    else:
        if not timings:
            return ""
        rows = list(timings)
        if run.ended_at is not None:
            # Starting the process and saving checkpoints are in no phase: show them, so the
            # total is the time from pressing Start to the end.
            other = run.ended_at - run.started_at - sum(t["seconds"] for t in timings)
            if other >= 0.05:
                rows.append({"phase": "start-up and saving", "seconds": other, "note": ""})
    return "**Where the time goes**\n\n" + timings_table(rows)


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


def results_markdown(run: Run | None) -> str:
    """Final validation/test metrics and the confusion matrix, once the run has ended."""
    finished = run.last("Finished") if run else None
    if not finished or finished["status"] == "failed" or not finished["val"]:
        return ""
    metrics = {"validation": finished["val"], "test": finished["test"]}
    lines = ["### Results", "", metrics_table(metrics, transpose=True)]  # a column per split: fits half the page
    if note := majority_note(finished["val"]):
        lines += ["", f"⚠️ {note}"]
    if not finished["test"]:
        lines += ["", "_Test metrics are computed only when a run finishes all its epochs._"]
    split = "test" if finished["test"] else "validation"
    scored = finished["test"] or finished["val"]
    classes = (run.last("Started") or {}).get("classes") or None  # class names (absent from older runs' events)
    if scored.get("confusion"):
        table = confusion_table(scored["confusion"], labels=classes)
        if not classes or len(classes) == 2:
            # The wrapper lets palette.CSS colour the labels: negative red, positive green, as everywhere.
            table = "\n".join(['<div class="confusion">', "", table, "", "</div>"])
        lines += ["", f"Confusion matrix ({split}; rows: truth, columns: prediction)", "", table]
        if classes and len(classes) > 2:
            lines += ["", f"Per class ({split})", "", class_table(scored, classes)]
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
    """The per-epoch history of a run in progress, as its checkpoint records it."""
    if run is None:
        return []
    return [e["history_row"] for e in run.of_kind("EpochEnd")]


def training_view(run: Run | None) -> dict[str, Any]:
    """Everything a page shows of the shared run, from one snapshot, by name."""
    running = run is not None and run.running
    return {"status": status_markdown(run), "loss": loss_chart(run), "accuracy": accuracy_chart(run),
            "results": results_markdown(run), "can_start": not running,
            "can_stop": running and not run.stop_requested}


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
