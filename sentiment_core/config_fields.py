"""How a config field is declared and checked: ``option`` (help text, choices, bounds), the bounds
themselves, and the checks every config dataclass runs on its fields.

``sentiment_core.config`` declares ``ModelConfig`` and ``TrainConfig`` with these; the language model's
config (``sentiment_core.lm``) and the pretraining settings use them too. Validation, the CLI and the app
all read a field's bounds from its metadata, so they agree.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import field
from typing import Any

# Bounds on every setting: a config from the command line, the app or a checkpoint header is
# checked against them before anything is allocated (a header asking for embed_dim=30000 would
# otherwise build a 3 GB model before its weights are even looked at).
MAX_VOCAB = 1_000_000  # words kept in a vocabulary, <pad> and <unk> not counted
MAX_DIM = 4096  # embedding and hidden sizes
MAX_LAYERS = 8
MAX_TOKENS = 5_000  # tokens read per review; the app's text limit derives from it
MAX_BATCH = 4096
MAX_EPOCHS = 100  # the page, the API and the CLI all stop here (their bounds are these fields')
MAX_SAMPLES = 1_000_000  # review slices (IMDB has 25,000 per split)
MAX_STEPS = 10_000_000  # warm-up steps
MAX_THREADS = 1024
MAX_SEED = 2**32 - 1  # NumPy's seed range
MAX_LR = 10.0
MAX_CLASSES = 1000  # classes of a labelled dataset: more is a text or score column, not labels
MAX_COLUMN_NAME = 200  # characters of a --text-column, --label-column or --split-column name
MAX_LABEL_NAME = 200  # characters of a class name (checkpoint_header.MAX_LABEL_CHARS)


def option(default: Any, help: str, **kwargs: Any) -> Any:
    """A config field with its help text and, for numbers, bounds (``min``/``max`` inclusive,
    ``above``/``below`` exclusive) that validation, the CLI and the app all read; ``public_max``: the tighter
    maximum of a run a stranger starts on a public server (``demo.services.public``)."""
    return field(default=default, metadata={"help": help, **kwargs})


_KINDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}


def check_value(f: dataclasses.Field, value: Any) -> Any:
    """``value`` checked against the type, choices and bounds of config field ``f`` (ints become
    floats for float fields); a ``ValueError`` naming the field otherwise."""
    kind = type(f.default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind:  # bool is an int subclass: True is not a batch size
        raise ValueError(f"{f.name} must be {_KINDS[kind]}, not {type(value).__name__} {value!r}")
    meta = f.metadata
    if meta.get("choices") and value not in meta["choices"]:
        raise ValueError(f"{f.name} must be one of {meta['choices']}, not {value!r}")
    if kind is float and not math.isfinite(value):
        raise ValueError(f"{f.name} must be a finite number, not {value}")
    for key, ok, words in (("min", lambda v, b: v >= b, "at least"), ("max", lambda v, b: v <= b, "at most"),
                           ("above", lambda v, b: v > b, "above"), ("below", lambda v, b: v < b, "below")):
        if key in meta and not ok(value, meta[key]):
            raise ValueError(f"{f.name} must be {words} {meta[key]}, not {value}")
    return value


def check_fields(cfg: Any) -> None:
    """Check (``check_value``) and normalise every field of config dataclass ``cfg`` in place."""
    for f in dataclasses.fields(cfg):
        setattr(cfg, f.name, check_value(f, getattr(cfg, f.name)))
