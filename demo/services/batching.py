"""Labels asked for at the same moment are computed together: one model pass for every waiting text.

    probabilities = BATCHER.predict(predictor, text)   # as predictor.predict(text), batched with its neighbours

Twenty visitors (or REST clients) asking at once used to mean twenty one-row passes through the
recurrence, one after another, each paying the per-step overhead of a GRU of width 256 (about 4 ms for
a sentence). Here each request reads and encodes its own text (so a text with nothing to read fails on
its own), then waits for the model's turn; whoever gets the turn runs every text waiting for that model
in one padded batch (``Predictor.predict_encoded``; exact: the recurrence stops at each row's length),
and hands each request its row. A lone request runs at once, as a batch of one: nothing waits for
company.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from sentiment_core.predict import Predictor

MAX_BATCH = 64  # rows a pass takes; more waiting wait for the next pass


@dataclass
class _Job:
    ids: Any  # the encoded text
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, float] | None = None
    error: BaseException | None = None


@dataclass
class _Model:
    turn: threading.Lock = field(default_factory=threading.Lock)  # one pass of a model at a time
    waiting: list[_Job] = field(default_factory=list)


class Batcher:
    """Batches concurrent ``predict`` calls per model."""

    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self._lock = threading.Lock()  # guards _models and each model's waiting list
        self._models: weakref.WeakKeyDictionary[Predictor, _Model] = weakref.WeakKeyDictionary()

    def predict(self, predictor: Predictor, text: str) -> dict[str, float]:
        """``predictor.predict(text)``, computed in one pass with whatever other texts wait for the same model."""
        job = _Job(predictor.encode(predictor.read(text).tokens))  # EmptyTextError here, for this text alone
        with self._lock:
            model = self._models.setdefault(predictor, _Model())
            model.waiting.append(job)
        while not job.done.is_set():
            with model.turn:
                if job.done.is_set():  # another request's pass took it
                    break
                with self._lock:
                    batch, model.waiting = model.waiting[: self.max_batch], model.waiting[self.max_batch :]
                self._run(predictor, batch)
        if job.error is not None:
            raise job.error
        return job.result

    @staticmethod
    def _run(predictor: Predictor, batch: list[_Job]) -> None:
        try:
            results = predictor.predict_encoded([job.ids for job in batch])
        except BaseException as exc:  # every waiting request learns of it, not only the one that ran the pass
            for job in batch:
                job.error = exc
        else:
            for job, result in zip(batch, results, strict=True):
                job.result = result
        finally:
            for job in batch:
                job.done.set()


BATCHER = Batcher()  # the app's one batcher: requests of every page and API caller share it
