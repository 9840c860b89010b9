"""One job at a time for the whole app, with a bounded number waiting their turn.

    turns = Turns(waiting=2, wait_seconds=180, busy="The data check is busy; try again in a minute.")
    with turns.take():          # raises Busy(busy) when too many wait, or when the turn does not come
        ...                     # the job, alone

For the heavy jobs a stranger can start (a data check, scoring a model's mistakes), each in a child
process: a queue without a bound would let a few visitors stack up hours of them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from sentiment_core.data import DataError


class Busy(DataError):
    """Too many jobs of one kind at once: the visitor should try again."""


class Turns:
    """A lock taken in turn, with at most ``waiting`` callers queued besides the one holding it."""

    def __init__(self, waiting: int, wait_seconds: float, busy: str) -> None:
        self.waiting, self.wait_seconds, self.busy = waiting, wait_seconds, busy
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
