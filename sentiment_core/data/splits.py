"""How a run's reviews are split: stratified and seeded, so a split is the same on every run.

IMDB: validation is split off the 25,000 training reviews; the test split is the official one.
A labelled file: its split column, or a stratified split of its rows. Then, for a small run,
the ``max_train_samples`` and ``max_eval_samples`` slices, label shares kept.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from ..config import TrainConfig
from .source import DataError
from .table import LabelledTable


def seeded_sample(count: int, size: int, seed: int) -> list[int]:
    """Sorted indices of ``count`` of ``size`` items, seeded (all of them when ``count`` is 0 or too large)."""
    if count <= 0 or count >= size:
        return list(range(size))
    return sorted(random.Random(seed).sample(range(size), count))


def stratified_sample(labels: Sequence[int], n: int, seed: int) -> list[int]:
    """Exactly ``n`` sorted indices (all of them when ``n`` is 0 or too large), label shares kept.

    Each label gets ``n * share`` items rounded down; the items left over go to the labels with
    the largest remainders (largest-remainder rounding; ties broken by the seeded generator).
    """
    if n <= 0 or n >= len(labels):
        return list(range(len(labels)))
    rng = random.Random(seed)
    by_label: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_label.setdefault(y, []).append(i)
    groups = sorted(by_label.items())
    for _, idx in groups:
        rng.shuffle(idx)
    # Integer arithmetic: quota = n * count / total = floor + remainder / total.
    quotas = {y: divmod(n * len(idx), len(labels)) for y, idx in groups}
    short = n - sum(q for q, _ in quotas.values())
    ranked = sorted(quotas, key=lambda y: (-quotas[y][1], rng.random()))
    extra = set(ranked[:short])
    picked = [i for y, idx in groups for i in idx[: quotas[y][0] + (y in extra)]]
    return sorted(picked)


def split_indices(labels: Sequence[int], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified train/validation split of the 25k training reviews, fixed by ``seed``."""
    val = set(stratified_sample(labels, round(len(labels) * val_fraction), seed))
    return [i for i in range(len(labels)) if i not in val], sorted(val)


def train_val_test_slices(train_labels: Sequence[int], test_labels: Sequence[int] | None,
            cfg: TrainConfig) -> tuple[list[int], list[int], list[int]]:
    """Train, validation and test indices: validation split off the training rows (stratified,
    seeded), then the ``max_train_samples`` and ``max_eval_samples`` slices."""
    train_idx, val_idx = split_indices(train_labels, cfg.val_fraction, cfg.seed)
    if cfg.max_train_samples:
        sub = stratified_sample([train_labels[i] for i in train_idx], cfg.max_train_samples, cfg.seed)
        train_idx = [train_idx[i] for i in sub]
    test_idx = list(range(len(test_labels))) if test_labels is not None else []
    if cfg.max_eval_samples:
        sub = stratified_sample([train_labels[i] for i in val_idx], cfg.max_eval_samples, cfg.seed)
        val_idx = [val_idx[i] for i in sub]
        if test_labels is not None:
            test_idx = stratified_sample(test_labels, cfg.max_eval_samples, cfg.seed)
    return train_idx, val_idx, test_idx


def table_splits(table: LabelledTable, cfg: TrainConfig) -> tuple[list[int], list[int], list[int]]:
    """Train, validation and test rows of a table: its split column's, with validation taken off
    the training rows when it names none; or, without a split column, a stratified, seeded split
    (``test_fraction`` of the rows for testing, ``val_fraction`` of the rest for validation).
    Then the slices, as for IMDB. Every class must keep a training row."""
    labels = table.labels
    if table.splits is None:
        test = set(stratified_sample(labels, round(len(labels) * cfg.test_fraction), cfg.seed))
        rest = [i for i in range(len(labels)) if i not in test]
        given_val = []
    else:
        test = {i for i, s in enumerate(table.splits) if s == "test"}
        given_val = [i for i, s in enumerate(table.splits) if s == "val"]
        rest = [i for i, s in enumerate(table.splits) if s == "train"]
        if not rest:
            raise DataError(f"{table.path}: column {table.split_column!r} names no row 'train'")
    test_rows = sorted(test)
    rest_labels = [labels[i] for i in rest]
    if given_val:
        train_idx = list(range(len(rest)))
        val_rows = given_val
        if cfg.max_train_samples:
            train_idx = stratified_sample(rest_labels, cfg.max_train_samples, cfg.seed)
        if cfg.max_eval_samples:
            val_rows = [given_val[i] for i in stratified_sample([labels[i] for i in given_val], cfg.max_eval_samples,
                                                                 cfg.seed)]
        train_rows = [rest[i] for i in train_idx]
    else:
        train_idx, val_idx, _ = train_val_test_slices(rest_labels, None, cfg)
        train_rows, val_rows = [rest[i] for i in train_idx], [rest[i] for i in val_idx]
    if cfg.max_eval_samples and test_rows:
        test_rows = [test_rows[i] for i in stratified_sample([labels[i] for i in test_rows], cfg.max_eval_samples,
                                                              cfg.seed)]
    if not val_rows:
        raise DataError(f"{table.path}: too few rows for a validation split ({len(rest):,} training rows)")
    seen = Counter(labels[i] for i in rest)
    unseen = [table.classes[c] for c in range(len(table.classes)) if not seen[c]]
    if unseen:
        raise DataError(f"{table.path}: no training row has class {', '.join(map(repr, unseen))}"
                        f"{' (all its rows are for validation or testing)' if table.splits else ''}; "
                        "add training examples of it or remove it")
    return train_rows, val_rows, test_rows
