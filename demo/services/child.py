"""The training child process: load the data, train, and send every event to the app over a pipe.

Started by ``demo.worker.TrainingWorker`` with the ``spawn`` method; it imports no Gradio. Besides
the trainer's events it sends ``Stage`` lines (data-loading progress) and one ``StopAck`` the
first time it sees the stop flag between batches, which tells the app it is alive and saving.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sentiment_core.config import ModelConfig, TrainConfig, from_dict
from sentiment_core.data.table import is_table
from sentiment_core.processes import die_with_parent, yield_cpu

log = logging.getLogger(__name__)

STAGE_INTERVAL_S = 0.25  # data-loading progress lines are sent at most this often


class _Stopped(Exception):
    """Raised from the data-loading progress hook when Stop is pressed before training starts."""


class _StopFlag:
    """The trainer's stop flag; tells the app the first time it is seen set (the child is alive)."""

    def __init__(self, event: Any, send: Any) -> None:
        self.event, self.send, self.seen = event, send, False

    def is_set(self) -> bool:
        if self.event.is_set():
            if not self.seen:
                self.seen = True
                self.send({"kind": "StopAck"})
            return True
        return False


def stage_line(stage: str, done: int, total: int, unit: str) -> str:
    """One status line of a preparation stage with its counts, e.g. "tokenizing 1,000/5,000 reviews"."""
    if unit == "B":  # the archive, counted in bytes
        return f"{stage} {done / 1e6:,.1f}/{total / 1e6:,.1f} MB of the IMDB archive"
    return f"{stage} {done:,}/{total:,} {unit}"


def main(spec: dict[str, Any], conn: Any, stop: Any) -> None:
    """Entry point of a training child: load the data, train, send every event to the app."""
    # No orphaned run, even if the app is killed with SIGKILL. Not by the kernel's parent-death
    # signal: it fires when the request thread that pressed Start ends, long before the app does.
    die_with_parent(spec["parent"], kernel_signal=False)
    # Visitors typing come first: the run takes the CPU time classification leaves (measured in
    # the README with bench/bench_load.py and bench/bench_threads.py).
    yield_cpu()
    import torch

    torch.set_num_threads(spec["threads"])
    from sentiment_core.data import load_corpus
    from sentiment_core.training import Finished, train

    send_lock = threading.Lock()

    def send(message: dict[str, Any]) -> None:
        with send_lock:
            conn.send(message)

    last_stage = 0.0

    def progress(stage: str, done: int, total: int) -> None:
        nonlocal last_stage
        if stop.is_set():
            raise _Stopped
        now = time.monotonic()
        if now - last_stage >= STAGE_INTERVAL_S or done >= total:
            last_stage = now
            verb = {"tokenize": "tokenizing", "download": "downloading", "read": "reading",
                    "check": "checking rows"}.get(stage, stage)
            send({"kind": "Stage", "message": stage_line(verb, done, total, "B" if stage in ("download", "read")
                                                         else examples)})

    model_cfg, train_cfg = from_dict(ModelConfig, spec["model"]), from_dict(TrainConfig, spec["train"])
    own_file = is_table(train_cfg.data)
    examples = "rows" if own_file else "reviews"
    try:
        send({"kind": "Stage", "message": "reading the labelled file" if own_file else "reading the IMDB data"})
        corpus = load_corpus(train_cfg, progress=progress)
        if stop.is_set():
            raise _Stopped
        send({"kind": "Stage", "message": "building the vocabulary and model"})
        for event in train(model_cfg, train_cfg, corpus, stop=_StopFlag(stop, send), info=spec["info"]):
            if event.kind == "Progress":  # a status line with counts, not history
                line = stage_line(event.stage, event.done, event.total, event.unit)
                send({"kind": "Stage", "message": f"{line} ({event.elapsed_s:.0f} s)"})
            else:
                send(event.to_dict())
    except _Stopped:
        send({**Finished("stopped").to_dict(), "stage": "stopped before training began; no checkpoint was saved"})
    except Exception as exc:  # e.g. the data is missing: the page must say so
        log.exception("training run failed")
        send(Finished("failed", error=f"{type(exc).__name__}: {exc}").to_dict())
    finally:
        conn.close()
