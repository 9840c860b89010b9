"""One job at a time for the whole app, with a bounded number waiting their turn, each in a fresh interpreter.

    turns = Turns(waiting=2, job_seconds=60, busy="The data check is busy; try again in a minute.")
    with turns.take():          # raises Busy(busy) when too many wait, or when the turn does not come
        process = start_child("demo.services.data_check")   # the job, alone

For the heavy jobs a stranger can start (a data check, scoring a model's mistakes), each in a child
process: a queue without a bound would let a few visitors stack up hours of them.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from sentiment_core.data import DataError

ROOT = Path(__file__).resolve().parents[2]  # the repository: where a child finds demo and sentiment_core


def start_child(module: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m module`` in a fresh interpreter, run from the repository, ``env`` added to this process's
    environment; its stdin and stdout are pipes to this process, its stderr is dropped.

    A fresh interpreter, not a multiprocessing child: it imports neither the app's main module (Gradio)
    nor its settings.
    """
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ, **(env or {}), "PYTHONPATH": path}, cwd=ROOT)


class Busy(DataError):
    """Too many jobs of one kind at once: the visitor should try again."""


class Turns:
    """A lock taken in turn, with at most ``waiting`` callers queued besides the one holding it. A job takes at
    most ``job_seconds``, so a caller that has waited for all the jobs ahead of it and one more gives up."""

    def __init__(self, waiting: int, job_seconds: float, busy: str) -> None:
        self.waiting, self.busy = waiting, busy
        self.wait_seconds = job_seconds * (waiting + 1)
        self._turn = threading.Lock()  # held by the job that is running
        self._count = threading.Lock()  # guards _queued
        self._queued = 0  # jobs running or waiting

    @contextlib.contextmanager
    def take(self) -> Iterator[None]:
        with self._count:
            if self._queued > self.waiting:
                raise Busy(self.busy)
            self._queued += 1
        try:
            if not self._turn.acquire(timeout=self.wait_seconds):
                raise Busy(self.busy)
            try:
                yield
            finally:
                self._turn.release()
        finally:
            with self._count:
                self._queued -= 1
