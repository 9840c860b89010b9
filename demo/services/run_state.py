"""A training run's state on disk, next to its checkpoint, so a restart knows what was going (no Gradio here).

    runs/run-3.safetensors      the best checkpoint so far (written by the training child)
    runs/run-3.run.json         {"name", "status", "stage", "saved", "started_at", "ended_at", "error"}

The worker writes the state when a run starts, saves a checkpoint and ends. A server killed mid-run
(``kill -9``, a crash, a restart of the Space) leaves a state that says "training"; ``recover`` at
start-up marks such runs ``interrupted``, writes the card of the last best checkpoint (the card is
what makes a run's checkpoint complete) and hands the runs back for the Train tab to show.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from sentiment_core.card import write_card
from sentiment_core.tempfiles import atomic_file

log = logging.getLogger(__name__)

SUFFIX = ".run.json"
GOING = ("preparing", "training")
RECORDED = ("Started", "CheckpointSaved", "Finished")  # the events after which the state is written
INTERRUPTED = "interrupted"


def state_path(checkpoint: str | Path) -> Path:
    """Where the state of the run saving ``checkpoint`` lives: beside it, ``<stem>.run.json``."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + SUFFIX)


def save(run: Any, saved: str) -> None:
    """Write ``run``'s state (a ``worker.Run``) beside its checkpoint; a full disk only logs. A run that
    ended without a checkpoint leaves nothing behind."""
    if run.status not in GOING and not saved:
        with contextlib.suppress(OSError):
            state_path(run.path).unlink(missing_ok=True)
        return
    state = {"name": run.name, "path": run.path, "status": run.status, "stage": run.stage, "saved": saved,
             "started_at": run.started_at, "ended_at": run.ended_at, "error": run.error, "server": os.getpid()}
    try:
        with atomic_file(state_path(run.path), "w", hidden=True, encoding="utf-8") as f:
            json.dump(state, f)
    except OSError as exc:  # the run goes on; only a restart would not know of it
        log.warning("could not record the state of run %s: %s", run.name, exc)


def load(path: Path) -> dict[str, Any] | None:
    """A state file's content, or None if it is unreadable."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("name"), str) else None


def recover(runs_dir: str | Path) -> list[dict[str, Any]]:
    """Runs that were going when the server stopped, now marked interrupted, with a card for their best
    checkpoint (or none: nothing was saved); oldest first. Call once at start-up, before any run starts."""
    recovered = []
    for path in sorted(Path(runs_dir).glob(f"*{SUFFIX}")):
        state = load(path)
        if state is None or state.get("status") not in GOING or _alive(state.get("server")):
            continue  # ended, or going in a server that still runs (two apps on one runs folder)
        saved = state.get("saved") or ""
        if saved and Path(saved).is_file():
            try:
                write_card(saved)
            except Exception:  # the checkpoint may be damaged: the registry will say why it is unusable
                log.exception("could not write the model card of %s", saved)
            stage = "interrupted by a restart of the app; its best checkpoint so far is kept"
        else:
            saved, stage = "", "interrupted by a restart of the app before a checkpoint was saved"
        started = state.get("started_at") if isinstance(state.get("started_at"), (int, float)) else time.time()
        state.update(status=INTERRUPTED, stage=stage, saved=saved, started_at=started, ended_at=time.time(),
                     error="the app stopped while this run was going")
        try:
            with atomic_file(path, "w", hidden=True, encoding="utf-8") as f:
                json.dump(state, f)
        except OSError as exc:
            log.warning("could not record that run %s was interrupted: %s", state["name"], exc)
        recovered.append(state)
    return sorted(recovered, key=lambda s: s["started_at"])


def _alive(pid: Any) -> bool:
    """Whether ``pid`` is another process that is running now."""
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but not ours to signal
        return True
    return True


def run_fields(state: dict[str, Any]) -> dict[str, Any]:
    """A recovered state as ``worker.Run`` arguments: its history ends with a ``Finished`` event without
    metrics (it never finished), naming the checkpoint it kept."""
    finished = {"kind": "Finished", "status": state["status"], "path": state["saved"], "val": {}, "test": {},
                "elapsed_s": state["ended_at"] - state["started_at"], "error": state["error"]}
    return {"name": state["name"], "path": str(state.get("path") or ""), "preset": "", "settings": {},
            "status": state["status"], "stage": state["stage"], "events": [finished], "error": state["error"],
            "started_at": state["started_at"], "ended_at": state["ended_at"]}


def exit_reason(code: int | None) -> str:
    """How a training process ended, for its run's error line."""
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (the system may have run out of memory)" if -code == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited unexpectedly with code {code}"
