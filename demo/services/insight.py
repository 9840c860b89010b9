"""Inside the models, for the Classify tab: every model on one review, how far back each one reads, and
the reviews a model gets wrong, as plain data (the tab draws them: ``demo.tabs.insight``).

- ``compare``: each listed model with the selected model's classes: its probabilities for a text (with its
  test accuracy) and its gradient flow, the norm of d logit / d embedding per token against the token's
  distance from the end (``Predictor.gradient_by_position``):
  a vanilla RNN's drops towards zero a few dozen tokens back.
- ``ErrorExplorer``: a model's mistakes on the validation or test split of the data it was trained on (IMDB,
  or its own labelled file: ``ModelEntry.training_data``; ``error_table``, scored in a child process
  (``scoring``), cached on disk per checkpoint and split, and the last few in memory), filtered and
  ordered for the page.

Only models of the registry are read: a model is named by its key, never by a path.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sentiment_core import CheckpointError, EmptyTextError
from sentiment_core import markdown as md
from sentiment_core.data import DataError
from sentiment_core.mistakes import ErrorRow, ErrorTable
from sentiment_core.predict import GradientFlow

from .classify import EMPTY_MESSAGE, NO_MODEL_MESSAGE, ClassifyProblem, load_predictor, release_memory
from .model_entry import ModelEntry
from .registry import ModelRegistry
from .scoring import SCORER, Scorer
from .turns import Busy

# Models compared on one review: each costs a forward and a backward pass (up to ~0.1 s on one thread
# for a 400-token review), and the registry keeps this many predictors loaded.
MAX_COMPARED = 6

SPLITS = {"validation": "val", "test": "test"}  # as the page names them: as error_table does
ANY_LABEL = "any"  # the true-label filter that keeps every row; the others are the model's classes
ORDERS = ("most confident first", "least confident first")
MAX_ROWS = 200  # mistakes shown on the page (the API returns up to MAX_API_ROWS)
MAX_API_ROWS = 1000
MAX_LENGTH_FILTER = 100_000  # tokens: longer than any review
SNIPPET_CHARS = 140
# What the page's progress bar says of each stage of error_table, and the unit it counts.
STAGES = {"download": ("downloading the IMDB archive", "bytes"), "read": ("reading the reviews", "bytes"),
          "tokenize": ("tokenizing", "reviews"), "classify": ("scoring the reviews", "reviews")}
ERROR_COLUMNS = ["id", "true label", "predicted", "confidence", "tokens", "review"]


@dataclass
class ModelReading:
    """One model's reading of one review."""

    entry: ModelEntry
    flow: GradientFlow

    @property
    def cell(self) -> str:
        mc = self.entry.meta["model_config"]
        return ("bi" if mc["bidirectional"] else "") + mc["cell"].upper()

    @property
    def test_accuracy(self) -> float | None:
        test = self.entry.meta["metrics"].get("test")
        return test["accuracy"] if test else None


def label_filters(labels: list[str] | tuple[str, ...]) -> list[str]:
    """The explorer's true-label filter for a model of these classes: any, then each class."""
    return [ANY_LABEL, *labels]


def compared_keys(registry: ModelRegistry, selected: str | None) -> tuple[list[str], int, int]:
    """The models to compare (the selected one first, then the list's order), how many of them are left
    out, and how many listed models are not comparable: only models with the classes of the selected one
    (else the default one), in the same order, are compared."""
    entries = registry.scan()[0]
    keys = [e.key for e in entries]
    anchor = selected if selected in keys else registry.default_key()
    classes = next((e.label_set for e in entries if e.key == anchor), None)
    same = [e.key for e in entries if e.label_set == classes]
    ordered = ([selected] if selected in same else []) + [key for key in same if key != selected]
    return ordered[:MAX_COMPARED], max(0, len(ordered) - MAX_COMPARED), len(keys) - len(same)


def compare(registry: ModelRegistry, text: str | None, selected: str | None) -> tuple[list[ModelReading], list[str]]:
    """Every listed model's reading of ``text`` (at most ``MAX_COMPARED``), and notes on models left out."""
    if not text or not text.strip():
        raise ClassifyProblem(EMPTY_MESSAGE)
    keys, left_out, other_classes = compared_keys(registry, selected)
    if not keys:
        raise ClassifyProblem(NO_MODEL_MESSAGE)
    if selected and selected not in keys:
        raise ClassifyProblem(f"The model {selected!r} is gone or unknown; pick one of the listed models.")
    readings, notes = [], []
    try:
        for key in keys:
            try:
                predictor = load_predictor(registry, key)
                entry = registry.entry(key)
            except (ClassifyProblem, KeyError) as exc:  # one unusable model leaves the others to compare
                notes.append(str(exc) if isinstance(exc, ClassifyProblem) else f"{md.code(key)} is gone.")
                continue
            try:
                readings.append(ModelReading(entry, predictor.gradient_by_position(text)))
            except EmptyTextError as exc:
                raise ClassifyProblem(f"Nothing to classify: {exc}.") from None
    finally:
        release_memory()
    if left_out:
        notes.append(f"{left_out} more model{'s' if left_out > 1 else ''} not compared (at most {MAX_COMPARED}).")
    if other_classes:
        notes.append(f"{other_classes} model{'s' if other_classes > 1 else ''} with other classes not compared.")
    return readings, notes


def reading_name(reading: ModelReading, selected: str | None) -> str:
    """The model's name in the comparison's table and plot."""
    return reading.entry.path.stem + (" (selected)" if reading.entry.key == selected else "")


def probability_columns(readings: list[ModelReading]) -> dict[str, str]:
    """The comparison's probability columns by class: P(<positive class>) for two classes, one per class for more
    (the compared models share their classes: ``compared_keys``)."""
    if not readings:
        return {}
    entry = readings[0].entry
    shown = [entry.positive_class] if entry.positive_class else entry.labels
    return {label: f"P({label})" for label in shown}


def compare_frame(readings: list[ModelReading], selected: str | None) -> pd.DataFrame:
    """One row per model: its name, cell, prediction, its classes' probabilities and test accuracy."""
    columns = probability_columns(readings)
    rows = []
    for r in readings:
        probs = r.flow.probabilities
        accuracy = r.test_accuracy
        rows.append({"model": reading_name(r, selected), "cell": r.cell, "prediction": max(probs, key=probs.get),
                     **{column: round(probs.get(label, 0.0), 3) for label, column in columns.items()},
                     "test accuracy": f"{accuracy:.1%}" if accuracy is not None else "not tested",
                     "tokens read": len(r.flow.tokens)})
    return pd.DataFrame(rows, columns=["model", "cell", "prediction", *columns.values(), "test accuracy",
                                       "tokens read"])


def compare_json(readings: list[ModelReading], notes: list[str], selected: str | None) -> dict[str, Any]:
    """The comparison as plain values, for API callers."""
    return {"models": [{"model": r.entry.key, "name": r.entry.name, "cell": r.cell, "selected": r.entry.key == selected,
                        "label": max(r.flow.probabilities, key=r.flow.probabilities.get),
                        "probabilities": r.flow.probabilities, "test_accuracy": r.test_accuracy,
                        "gradient": {"tokens": r.flow.tokens, "distances_from_end": r.flow.distances,
                                     "norms": r.flow.norms, "truncated": r.flow.truncated}}
                       for r in readings],
            "notes": notes}


# ---------------------------------------------------------------------------------------------
# Error explorer


def whole(name: str, value: Any, high: int) -> int:
    """``value`` as a whole number from 0 to ``high``; ``ClassifyProblem`` if it is not one."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise ClassifyProblem(f"{name} must be a whole number from 0 to {high:,}, not {value!r}.")
    return value


def split_of(name: Any) -> str:
    """The error table's split for a page's or caller's name of it ("validation"/"val" or "test")."""
    if name in SPLITS.values():
        return name
    if name not in SPLITS:
        raise ClassifyProblem(f"split must be one of {', '.join(SPLITS)}, not {name!r}.")
    return SPLITS[name]


class ErrorExplorer:
    """The errors tables of the registry's models, computed on demand; the last few kept in memory."""

    def __init__(self, registry: ModelRegistry, data: str = "", keep: int = 4, scorer: Scorer = SCORER):
        self.registry = registry
        self.data = data
        self.scorer = scorer  # scores in a child process, outside the web server
        self.keep = keep
        self._tables: OrderedDict[tuple, ErrorTable] = OrderedDict()
        self._lock = threading.Lock()

    def data_of(self, entry: ModelEntry) -> str:
        """The data ``entry`` is scored on (as ``TrainConfig.data``): the app's IMDB setting for a model trained on
        IMDB, the file a model was trained on for one trained on a file; ``ClassifyProblem`` if that is gone."""
        data = entry.training_data
        if data.is_imdb:
            return self.data
        if data.kind == "file":
            found = entry.data_file()
            if found is None:
                raise ClassifyProblem(
                    f"{entry.key} was trained on the file {Path(data.path).name}, which is no longer on this server: "
                    "its mistakes can only be found on the data it was trained on.")
            return str(found)
        raise ClassifyProblem(f"{entry.key} does not record the data it was trained on: there is nothing to "
                              "find its mistakes in.")

    def table(self, model_key: str | None, split: str,
              progress: Callable[[str, int, int], None] = lambda stage, done, total: None) -> ErrorTable:
        """The errors table of a listed model on ``split`` ("val" or "test"); ``ClassifyProblem`` if there is none."""
        model_key = model_key or self.registry.default_key()
        if not model_key:
            raise ClassifyProblem(NO_MODEL_MESSAGE)
        try:
            entry = self.registry.entry(model_key)
            path = entry.path
            stat = path.stat()
        except (KeyError, OSError):
            raise ClassifyProblem(f"The model {model_key!r} is gone or unknown; pick a listed model.") from None
        data = self.data_of(entry)
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, split, data)
        with self._lock:
            if key in self._tables:
                self._tables.move_to_end(key)
                return self._tables[key]
        try:
            table = self.scorer.table(path, split, data, progress)
        except Busy as exc:
            raise ClassifyProblem(str(exc)) from None
        except (DataError, CheckpointError, OSError) as exc:
            raise ClassifyProblem(f"The {entry.examples} could not be scored: {exc}") from None
        with self._lock:
            self._tables[key] = table
            while len(self._tables) > self.keep:
                self._tables.popitem(last=False)
        return table


def select(table: ErrorTable, label: str, min_tokens: Any, max_tokens: Any, least_confident: bool,
           top: int) -> list[ErrorRow]:
    """The table's rows that pass the filters, checked as they come from the page or a caller."""
    filters = label_filters(table.labels)
    if label not in filters:
        raise ClassifyProblem(f"label must be one of {', '.join(filters)}, not {label!r}.")
    low = whole("min_tokens", min_tokens or 0, MAX_LENGTH_FILTER)
    high = whole("max_tokens", max_tokens or 0, MAX_LENGTH_FILTER)
    if high and low > high:
        raise ClassifyProblem(f"The shortest length ({low:,}) is above the longest ({high:,}).")
    return table.select(None if label == ANY_LABEL else label, low, high, bool(least_confident), top)


def error_frame(rows: list[ErrorRow]) -> pd.DataFrame:
    """The rows as the page's table: id, labels, confidence, length and the review's beginning."""
    def snippet(text: str) -> str:
        flat = " ".join(text.replace("<br />", " ").split())
        return flat if len(flat) <= SNIPPET_CHARS else flat[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"

    return pd.DataFrame([[r.id, r.label, r.predicted, round(r.confidence, 3), r.tokens, snippet(r.text)]
                         for r in rows], columns=ERROR_COLUMNS)


def error_json(table: ErrorTable, model_key: str, rows: list[ErrorRow], matching: int) -> dict[str, Any]:
    """The explorer's answer as plain values, for API callers."""
    metrics, two = table.metrics, len(table.labels) == 2
    # Two classes: false positives are the first class's examples called the second (the positive) one.
    counts = ({"false_positives": metrics.confusion[0][1], "false_negatives": metrics.confusion[1][0]} if two else {})
    return {"model": model_key, "split": "validation" if table.split == "val" else "test",
            "labels": list(table.labels), "reviews": metrics.count, "errors": len(table.rows),
            "accuracy": metrics.accuracy, "confusion": metrics.confusion, **counts, "matching": matching,
            "rows": [{"id": r.id, "label": r.label, "predicted": r.predicted,
                      **({"p_positive": r.p_positive} if two else {}),
                      "confidence": r.confidence, "tokens": r.tokens, "text": r.text} for r in rows]}
