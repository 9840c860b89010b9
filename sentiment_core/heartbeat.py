"""Run a long computation that reports through a progress hook, as a stream of ``Progress`` events.

The trainer is a generator of events, but a computation such as the word vectors' co-occurrence
counting and SVD is one long call. It runs in a thread here while the generator yields its latest
counts every ``every`` seconds, even while the counts stand still (a long sort), so no front-end
ever waits more than that for a sign of life.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from typing import Any, Protocol, TypeVar

from .events import Progress

T = TypeVar("T")


class _Flag(Protocol):
    def is_set(self) -> bool: ...


class Stopped(Exception):
    """Raised from the progress hook when the run's stop flag is set."""


def with_progress(work: Callable[[Callable[[str, int, int], None]], T], stop: _Flag, unit_of: Callable[[str], str],
                  every: float = 1.0) -> Generator[Progress, None, T | None]:
    """Run ``work(progress=hook)`` in a thread; yield a ``Progress`` of its latest report every ``every``
    seconds; return its result, or None when the stop flag ends it (checked at each report)."""
    latest: list[Any] = []  # (stage, done, total) of the last report
    ended: list[tuple[str, int, int, float]] = []  # the last report of each stage that gave way to the next
    outcome: dict[str, Any] = {}
    start = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        if stop.is_set():
            raise Stopped
        if latest and latest[0] != stage:  # a pass however short is seen to end
            ended.append((*latest, time.perf_counter() - start))
        latest[:] = [stage, done, total]

    def target() -> None:
        try:
            outcome["value"] = work(progress=progress)
        except BaseException as exc:  # handed to the caller's thread, raised there
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="with-progress", daemon=True)
    thread.start()
    while True:
        thread.join(every)
        alive = thread.is_alive()
        while ended:
            stage, done, total, seconds = ended.pop(0)
            yield Progress(stage, done, total, unit_of(stage), round(seconds, 1))
        if latest and (alive or "value" in outcome):
            stage, done, total = latest
            yield Progress(stage, done, total, unit_of(stage), round(time.perf_counter() - start, 1))
        if not alive:
            break
    if isinstance(outcome.get("error"), Stopped):
        return None
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
