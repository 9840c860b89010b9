"""A model's mistakes: every review of a validation or test split that a checkpoint gets wrong.

The split is rebuilt as ``evaluate`` scores it (``evaluation.load_split``: the checkpoint's seed
and validation share, or a stratified slice of either split), each review is read as in
training (head and tail of the run's ``max_tokens``) and classified in the same length-sorted
batches, so the rows are exactly the off-diagonal of ``evaluate``'s confusion matrix. Each row
carries the review's raw text from the archive, ready to be read again by a ``Predictor``.

A table is cached on disk as ``<cache_dir>/errors/<key>.json``, the key hashing the
checkpoint's bytes, the data's content, the tokenizer version, the split and the slice: a
model's table is computed once, and a re-saved checkpoint gets a new one. A cache file that
does not parse is logged, deleted and computed again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import MAX_FILE_BYTES, Checkpoint, load_checkpoint
from .config import MAX_BATCH, MAX_CLASSES, TrainConfig, default_cache_dir
from .data import EncodedDataset, Progress, Source, inspect_table, is_table, resolve_source
from .data.cache import cache_key
from .data.formats import sha256_and_line_breaks
from .data.table import table_format, table_texts
from .evaluation import (
    EVAL_SPLITS,
    Metrics,
    dataset_logits,
    load_split,
    loss_function,
    predictions,
    split_config,
    targets,
)
from .model import class_probabilities
from .tempfiles import atomic_file, read_or_discard

log = logging.getLogger(__name__)

# Bump when the table's layout or the way it is computed changes: it is part of the cache key.
ERRORS_FORMAT = "errors-v2"
# The archive folder each split's reviews come from: validation reviews are training reviews held out.
ARCHIVE_SPLIT = {"test": "test", "val": "train"}


def no_progress(stage: str, done: int, total: int) -> None:
    pass


@dataclass(frozen=True)
class ErrorRow:
    """One misclassified review."""

    id: str  # its name in the archive split: "pos/123_9" is test/pos/123_9.txt (train/ for validation);
    # of a labelled file, its row number (1-based, header not counted)
    label: str  # the true label
    predicted: str  # the label the model gave it
    p_positive: float  # the model's probability of the last label: the positive one of a two-class model
    confidence: float  # the model's probability of the label it gave (0.5 to 1): how sure it was wrong
    tokens: int  # the review's length in tokens (the model read at most ``ErrorTable.max_tokens``)
    text: str  # the raw review, as in the archive


@dataclass
class ErrorTable:
    """The misclassified reviews of one split, most confident first, and the split's metrics."""

    checkpoint: str
    split: str  # "test" or "val"
    labels: list[str]  # the checkpoint's label names, e.g. [negative, positive]
    metrics: Metrics  # of the whole split (slice), as ``evaluate`` computes them
    max_tokens: int  # tokens read per review, head and tail (0 = whole reviews)
    rows: list[ErrorRow]

    def select(self, label: str | None = None, min_tokens: int = 0, max_tokens: int = 0,
               least_confident: bool = False, top: int = 0) -> list[ErrorRow]:
        """The rows whose true label is ``label`` (any if None) and whose length is within
        [``min_tokens``, ``max_tokens``] (0 = no upper limit), most confident first (least
        confident first with ``least_confident``), the first ``top`` of them (0 = all)."""
        if label is not None and label not in self.labels:
            raise ValueError(f"label must be one of {self.labels}, not {label!r}")
        for name, value in (("min_tokens", min_tokens), ("max_tokens", max_tokens), ("top", top)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number of at least 0, not {value!r}")
        if max_tokens and min_tokens > max_tokens:
            raise ValueError(f"min_tokens ({min_tokens}) is above max_tokens ({max_tokens})")
        rows = [row for row in self.rows if (label is None or row.label == label) and row.tokens >= min_tokens
                and (not max_tokens or row.tokens <= max_tokens)]
        if least_confident:
            rows.reverse()
        return rows[:top] if top else rows


def error_table(checkpoint: str | os.PathLike, split: str = "test", *, data: str = "", cache_dir: str = "",
                max_samples: int = 0, batch_size: int = 128, progress: Progress = no_progress,
                use_cache: bool = True) -> ErrorTable:
    """The errors table of ``checkpoint`` on ``split`` ("test" or "val"), or a stratified slice of
    ``max_samples`` reviews of it (0 = all), from the cache when there is one.

    ``data`` and ``cache_dir`` are as in ``TrainConfig``. ``progress(stage, done, total)`` sees the
    data pipeline's stages and "classify" (reviews scored), at least once per batch; an exception
    it raises stops the work and propagates, and nothing is cached.
    """
    if split not in EVAL_SPLITS:
        raise ValueError(f"split must be one of {EVAL_SPLITS}, not {split!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be a whole number from 1 to {MAX_BATCH}, not {batch_size!r}")
    ckpt = load_checkpoint(checkpoint)
    cfg = split_config(ckpt.train_config, data, cache_dir, max_samples)  # checks max_samples
    source = None if is_table(cfg.data) else Source(resolve_source(cfg.data, cfg.cache_dir, progress), progress)
    if not use_cache:
        return _compute(ckpt, cfg, source, split, batch_size, progress)
    path = Path(cfg.cache_dir or default_cache_dir()) / "errors" / f"{_key(checkpoint, source, split, cfg)}.json"
    table = _read(path, ckpt.path)
    if table is None:
        table = _compute(ckpt, cfg, source, split, batch_size, progress)
        _write(path, table)
    return table


def _compute(ckpt: Checkpoint, cfg: TrainConfig, source: Source | None, split: str, batch_size: int,
             progress: Progress) -> ErrorTable:
    """The errors table, computed: score every review, then fetch the raw texts of the wrong ones."""
    reviews = load_split(cfg, split, progress, source=source, classes=ckpt.labels)
    dataset = EncodedDataset(reviews, ckpt.vocab, cfg.max_tokens)
    logits = dataset_logits(ckpt.model, dataset, batch_size, progress)  # (N,) or (N, K)
    k = len(ckpt.labels)
    truth, pred = dataset.labels, predictions(logits)
    loss = loss_function(k, reduction="sum")(logits, targets(truth, k)).item()
    confusion = torch.bincount(k * truth + pred, minlength=k * k).view(k, k).tolist()
    metrics = Metrics.from_confusion(loss / len(dataset), confusion)
    wrong = (pred != truth).nonzero().flatten().tolist()
    texts = _raw_texts(cfg, source, split, {reviews.ids[i] for i in wrong})
    probs = class_probabilities(logits.float()).tolist()  # (N, K)
    labels = ckpt.labels
    rows = []
    for i in wrong:
        given = int(pred[i])
        rows.append(ErrorRow(reviews.ids[i], labels[reviews.labels[i]], labels[given], probs[i][-1], probs[i][given],
                             len(reviews.items[i]), texts[reviews.ids[i]]))
    rows.sort(key=lambda row: (-row.confidence, row.id))
    return ErrorTable(ckpt.path, split, labels, metrics, cfg.max_tokens, rows)


def _raw_texts(cfg: TrainConfig, source: Source | None, split: str, ids: set[str]) -> dict[str, str]:
    """The raw texts of the reviews ``ids`` of a split: from the IMDB archive (read once more), or
    by streaming the labelled file past and keeping those rows."""
    if source is None:
        wanted = {int(rid) for rid in ids}
        return {str(row): text for row, text in enumerate(table_texts(inspect_table(
            cfg.data, cfg.text_column, cfg.label_column, cfg.split_column, max_classes=MAX_CLASSES)), 1)
            if row in wanted}
    raw = source.read([ARCHIVE_SPLIT[split]])[ARCHIVE_SPLIT[split]]
    return {rid: text for rid, text in zip(raw.ids, raw.items) if rid in ids}


def _key(checkpoint: str | os.PathLike, source: Source | None, split: str, cfg: TrainConfig) -> str:
    """Cache key of a table: the checkpoint's bytes, the data and tokenizer (the token cache's
    key), the split and how the split is chosen."""
    digest = hashlib.sha256()
    with open(checkpoint, "rb") as f:  # load_checkpoint has checked it is a regular file of sane size
        digest.update(f.read(MAX_FILE_BYTES + 1))
    choice = {"split": split, "seed": cfg.seed, "val_fraction": cfg.val_fraction,
              "max_eval_samples": cfg.max_eval_samples, "max_tokens": cfg.max_tokens,
              "imdb_labels": cfg.imdb_labels}
    if source is None:  # a labelled file: its content, its columns and how it is split
        data = sha256_and_line_breaks(Path(cfg.data), table_format(cfg.data))[0]
        choice.update(text_column=cfg.text_column, label_column=cfg.label_column, split_column=cfg.split_column,
                      test_fraction=cfg.test_fraction)
    else:
        data = cache_key(source)
    text = f"{ERRORS_FORMAT}\n{digest.hexdigest()}\n{data}\n{json.dumps(choice, sort_keys=True)}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def table_to_json(table: ErrorTable) -> dict:
    """The table as plain JSON values (the cache file's, and what a scoring child sends)."""
    return {"format": ERRORS_FORMAT, "split": table.split, "labels": table.labels, "metrics": table.metrics.to_dict(),
            "max_tokens": table.max_tokens, "rows": [dataclasses.astuple(row) for row in table.rows]}


def table_from_json(data: dict, checkpoint: str) -> ErrorTable:
    """The table in ``table_to_json``'s JSON; ``ValueError`` (or ``KeyError``/``TypeError``) if it isn't one."""
    if data["format"] != ERRORS_FORMAT:
        raise ValueError(f"format {data['format']!r}, not {ERRORS_FORMAT!r}")
    types = [f.type for f in dataclasses.fields(ErrorRow)]
    kinds = {"str": str, "float": float, "int": int}
    rows = []
    for values in data["rows"]:
        if len(values) != len(types) or not all(type(v) is kinds[t] for v, t in zip(values, types)):
            raise ValueError(f"a row doesn't have the fields of ErrorRow: {values!r:.200}")
        rows.append(ErrorRow(*values))
    metrics = Metrics(**data["metrics"])
    confusion = metrics.confusion
    if len(rows) != metrics.count - sum(confusion[c][c] for c in range(len(confusion))) or not all(map(
            math.isfinite, (row.p_positive for row in rows))):
        raise ValueError("its rows don't match its confusion matrix")
    return ErrorTable(checkpoint, data["split"], list(data["labels"]), metrics, int(data["max_tokens"]), rows)


def _read(path: Path, checkpoint: str) -> ErrorTable | None:
    """The cached table at ``path``, or None if there is none or it is unusable (then it is deleted)."""
    return read_or_discard(path, lambda p: table_from_json(json.loads(p.read_bytes()), checkpoint),
                           (OSError, ValueError, KeyError, TypeError), "errors cache", "computing the table again")


def _write(path: Path, table: ErrorTable) -> None:
    """Write the table atomically; a failure is logged, not raised: the table is still good."""
    try:
        with atomic_file(path, "w", encoding="utf-8") as f:
            json.dump(table_to_json(table), f, ensure_ascii=False)
    except OSError as exc:
        log.warning("could not cache the errors table in %s: %s", path, exc)
