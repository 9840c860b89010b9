"""Settings that fit a labelled file: the preset a file starts from, scaled to its size and vocabulary,
what a run will do with it, and whether a finished run learned more than the majority class.

AutoTrain-style: the file, not the IMDB-tuned preset, decides how many passes and how big a batch a
run gets. A small file gets the ``small`` preset (many short epochs, stopped early on validation); a
vocabulary smaller than the word vectors' dimensions shrinks them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .config import ModelConfig, TrainConfig, preset

SMALL_EXAMPLES = 5_000  # a file with up to this many rows starts from the "small" preset
LARGE_PRESET = "fast"
SMALL_PRESET = "small"
MIN_STEPS_PER_EPOCH = 20  # a batch is halved (down to MIN_BATCH) until an epoch has this many steps
MIN_BATCH = 8
REFERENCE_EXAMPLES = 22_500  # what the presets were tuned on: IMDB's training reviews
MIN_CLASS_EXAMPLES = 10  # fewer training examples in a class: too few to learn it (data.table warns too)
FITTED = "fitted to "  # how a run's status line about the batch and epochs it fitted begins (fit_steps)
MAJORITY_MARGIN = 0.05  # validation accuracy within this of the majority class's share learned nothing
# Seconds per training example and epoch of the "small" preset on one CPU core (2-core machine, one
# thread; measured on the test files), and of "fast" on IMDB's long reviews (two minutes for 2 epochs).
SECONDS_PER_EXAMPLE = {"small": 0.0006, "fast": 0.0027}


@dataclass(frozen=True)
class DataStats:
    """What fitting needs of a file: rows per class, and the words a vocabulary would keep."""

    class_counts: dict[str, int]
    vocab_words: int | None = None  # None: not counted (a large file is counted when its run starts)

    @property
    def examples(self) -> int:
        return sum(self.class_counts.values())


def preset_for(stats: DataStats) -> str:
    """The preset the Train tab opens on for a file: ``small`` up to ``SMALL_EXAMPLES`` rows, else ``fast``."""
    return SMALL_PRESET if stats.examples <= SMALL_EXAMPLES else LARGE_PRESET


def train_examples(stats: DataStats, cfg: TrainConfig) -> int:
    """Rows a run trains on: the file less its test and validation shares (a slice caps it)."""
    n = round(stats.examples * (1 - cfg.test_fraction) * (1 - cfg.val_fraction))
    return min(n, cfg.max_train_samples) if cfg.max_train_samples else n


def fit_changes(model_cfg: ModelConfig, cfg: TrainConfig, stats: DataStats) -> dict[str, Any]:
    """The settings to change so a preset fits the file: word-vector dimensions no more than its words,
    and the batch and epochs of ``schedule_changes``."""
    changes: dict[str, Any] = {}
    if stats.vocab_words is not None and model_cfg.embed_dim > stats.vocab_words:
        changes["embed_dim"] = max(1, stats.vocab_words)
    return {**changes, **schedule_changes(cfg, train_examples(stats, cfg))}


def schedule_changes(cfg: TrainConfig, examples: int) -> dict[str, Any]:
    """The batch and epochs that fit ``examples`` training examples: a batch small enough for
    ``MIN_STEPS_PER_EPOCH`` steps, epochs scaled to their number (early stopping on validation when
    they grow)."""
    changes: dict[str, Any] = {}
    n = max(1, examples)
    batch = cfg.batch_size
    while batch > MIN_BATCH and n / batch < MIN_STEPS_PER_EPOCH:
        batch //= 2
    batch = max(batch, min(MIN_BATCH, cfg.batch_size))
    if batch != cfg.batch_size:
        changes["batch_size"] = batch
    # As many optimizer steps as the preset takes on the data it was tuned on, within 1 and 40 epochs.
    wanted = cfg.epochs * REFERENCE_EXAMPLES / cfg.batch_size
    epochs = min(40, max(1, round(wanted / math.ceil(n / batch))))
    if cfg.patience:  # a preset that stops early keeps its epochs as the ceiling
        epochs = max(epochs, cfg.epochs)
    if epochs != cfg.epochs:
        changes["epochs"] = epochs
        if epochs > cfg.epochs and not cfg.patience:
            changes["patience"] = 3
    return changes


def fitted_preset(name: str, stats: DataStats, **overrides: Any) -> tuple[ModelConfig, TrainConfig, dict[str, Any]]:
    """Preset ``name`` fitted to the file (``fit_changes``), then ``overrides`` (which win): the model
    config, the training config and the changes fitting made."""
    changes = {k: v for k, v in fit_changes(*preset(name), stats).items() if k not in overrides}
    model_cfg, train_cfg = preset(name, **{**changes, **overrides})
    # Fitted here, where the plan can show it: a preset that fits itself when its run starts does not again.
    return model_cfg, dataclasses.replace(train_cfg, fit_steps=False), changes


def expected_seconds(name: str, stats: DataStats, cfg: TrainConfig) -> float:
    """A rough training time on a 2-core CPU: examples x epochs x the preset's measured rate."""
    rate = SECONDS_PER_EXAMPLE.get(name, SECONDS_PER_EXAMPLE[LARGE_PRESET])
    return train_examples(stats, cfg) * cfg.epochs * rate


def plan_lines(name: str, stats: DataStats, model_cfg: ModelConfig, cfg: TrainConfig) -> list[str]:
    """What a run of these settings will do with the file, and a warning per class too small to learn."""
    per_class = ", ".join(f"{label} {n:,}" for label, n in stats.class_counts.items())
    words = f"{stats.vocab_words:,} words" if stats.vocab_words is not None else "counted when the run starts"
    seconds = expected_seconds(name, stats, cfg)
    took = f"about {max(1, round(seconds)):,} s" if seconds < 90 else f"about {round(seconds / 60):,} min"
    stop = f", stopping after {cfg.patience} without validation gain" if cfg.patience else ""
    lines = [f"Examples per class: {per_class}.",
             f"Trains on about {train_examples(stats, cfg):,} of them, in batches of {cfg.batch_size}, for up to "
             f"{cfg.epochs} epochs{stop}; vocabulary {words}; embedding size {model_cfg.embed_dim}.",
             f"Expected time on a 2-core CPU: {took}" + (" (less if it stops early)." if cfg.patience else ".")]
    few = [label for label, n in stats.class_counts.items() if n * (1 - cfg.test_fraction) < MIN_CLASS_EXAMPLES]
    if few:
        lines.append(f"Too few examples to learn {', '.join(few)}: fewer than {MIN_CLASS_EXAMPLES} training "
                     "examples each. Add more rows of these classes, or merge them.")
    return lines


def majority_share(confusion: list[list[int]]) -> float:
    """The accuracy of always predicting the most common true class (rows of ``confusion`` are the truth)."""
    total = sum(map(sum, confusion))
    return max(map(sum, confusion)) / total if total else 0.0


def majority_note(val: dict[str, Any]) -> str:
    """A warning when validation accuracy is within ``MAJORITY_MARGIN`` of always guessing the majority
    class (from a ``Metrics.to_dict()``), else ""."""
    confusion = val.get("confusion") or []
    if not confusion or "accuracy" not in val:
        return ""
    share = majority_share(confusion)
    if val["accuracy"] - share >= MAJORITY_MARGIN:
        return ""
    return (f"Validation accuracy {val['accuracy']:.1%} is within {MAJORITY_MARGIN:.0%} points of always "
            f"predicting the most common class ({share:.1%}): the model has learned little. Try more epochs, "
            "the 'small' preset, or more examples per class.")



def fit_to_file(model_cfg: ModelConfig, cfg: TrainConfig, class_counts: dict[str, int],
                given: set[str]) -> tuple[ModelConfig, TrainConfig, dict[str, Any]]:
    """The CLI's configs fitted to a labelled file (``fit_changes``), leaving the settings in ``given``
    (set on the command line) alone: (model config, training config, the changes made)."""
    changes = {k: v for k, v in fit_changes(model_cfg, cfg, DataStats(class_counts)).items() if k not in given}
    model_names = {f.name for f in dataclasses.fields(ModelConfig)}
    model_cfg = dataclasses.replace(model_cfg, **{k: v for k, v in changes.items() if k in model_names})
    cfg = dataclasses.replace(cfg, **{k: v for k, v in changes.items() if k not in model_names}, fit_steps=False)
    return model_cfg, cfg, changes
