"""The progress events of a training run, as the CLI prints them and the app plots them.

    [Timing|Status...] Started (Step... EpochEnd Timing [CheckpointSaved])... Timing [CheckpointSaved] Finished

``Timing`` events say where the run's time went, one per finished phase: loading the data,
the vocabulary, the word vectors, each epoch (its validation included) and the test evaluation.

Every event is a dataclass with ``kind`` (its class name) and ``to_dict()`` (plain values,
JSON-ready), so a front-end in another process can receive them as dicts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    """Base of all progress events; ``kind`` names the event for front-ends and JSON."""

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}


@dataclass
class Status(Event):
    """A preparation stage that takes a while, before the first step."""

    message: str


@dataclass
class Progress(Event):
    """Counts of a long preparation phase (e.g. the word vectors), sent at least every second.

    A phase done in several passes names its pass in ``stage`` ("pass 2 of 2: ..."), so a counter
    that starts again from zero says why.
    """

    stage: str
    done: int
    total: int
    unit: str  # what is counted: "reviews", "steps"
    elapsed_s: float


@dataclass
class Timing(Event):
    """A phase of the run has ended and took ``seconds`` of wall time."""

    phase: str  # e.g. "tokenizing", "word vectors", "epoch 2", "testing"
    seconds: float
    note: str = ""  # e.g. "from the cache"


@dataclass
class Started(Event):
    device: str
    num_parameters: int
    vocab_size: int
    train_size: int
    val_size: int
    test_size: int
    steps_per_epoch: int
    total_steps: int
    processes: int = 1  # training processes (torchrun); steps are global, each reads its share of a batch
    classes: list[str] = field(default_factory=list)  # class names, in label order
    epochs: int = 0  # the run's epochs (a preset with fit_steps sets them when the run starts)


@dataclass
class Step(Event):
    epoch: int  # 1-based
    step: int  # global, 1-based
    total_steps: int
    loss: float
    lr: float
    tokens_per_s: float
    elapsed_s: float
    eta_s: float


@dataclass
class EpochEnd(Event):
    epoch: int
    step: int
    train_loss: float
    val: dict[str, Any]  # the validation metrics (Metrics.to_dict())
    improved: bool
    elapsed_s: float
    # The row this epoch adds to the checkpoint's metrics["history"]:
    # {"epoch", "step", "train_loss", "val_loss", "val_accuracy"}.
    history_row: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckpointSaved(Event):
    path: str
    epoch: int
    val_accuracy: float


@dataclass
class Finished(Event):
    status: str  # finished | stopped | failed
    path: str = ""  # empty when nothing was saved (a failure, a stop before the first step, a rank other than 0)
    val: dict[str, Any] = field(default_factory=dict)
    test: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    error: str = ""
