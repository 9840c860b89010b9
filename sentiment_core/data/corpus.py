"""One run's corpus: the stratified train/validation split, slices for small runs, and ``load_corpus``.

The 25,000 training reviews are split into train and validation with a fixed seed; the 25,000
test reviews are used only for final figures. Indices are chosen before anything is tokenized,
so a small run tokenizes only the reviews it uses.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..config import TrainConfig
from .cache import TokenCache, cache_key
from .source import SPLITS, Progress, Reviews, Source, _no_progress, resolve_source


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


@dataclass
class Corpus:
    """Tokenized train/validation/test reviews of one run. Test is only for final evaluation."""

    train: Reviews
    val: Reviews
    test: Reviews
    unlabeled: Reviews | None = None  # the 50k unlabeled reviews, when a run pretrains embeddings
    # Content key of the data and tokenizer the reviews came from (the token cache's key); empty
    # for a corpus built by hand, whose word vectors are then never cached.
    source_key: str = ""
    # (phase, seconds) of loading: reading the archive, tokenizing or reading cached tokens.
    timings: list[tuple[str, float]] = field(default_factory=list)

    def text_key(self) -> str:
        """Content key of the text word vectors are computed from (the training and unlabeled
        reviews, by id, under ``source_key``); empty when the corpus has no source key."""
        if not self.source_key:
            return ""
        digest = hashlib.sha256(self.source_key.encode())
        for reviews in (self.train, self.unlabeled):
            digest.update(b"\0" + "\n".join(reviews.ids if reviews else []).encode())
        return digest.hexdigest()


def load_corpus(cfg: TrainConfig, progress: Progress = _no_progress) -> Corpus:
    """Resolve, read, tokenize and split the IMDB data as ``cfg`` asks."""
    clock = _Clock()
    path = resolve_source(cfg.data, cfg.cache_dir, progress)
    clock.lap("downloading the IMDB archive")  # kept only if it took a while: a download
    source = Source(path, progress)
    cache = TokenCache(source, cfg.cache_dir)
    # Whatever isn't cached is read from the archive in one pass, labels and texts together.
    splits = [*SPLITS, "unsup"] if cfg.pretrain_embeddings else list(SPLITS)
    missing = [s for s in splits if cache.cached(s) is None]
    source.read(missing)
    clock.lap("reading the archive" if missing else "reading cached tokens")
    labels = {s: cache.labels(s) for s in SPLITS}
    train_idx, val_idx = split_indices(labels["train"], cfg.val_fraction, cfg.seed)
    if cfg.max_train_samples:
        sub = stratified_sample([labels["train"][i] for i in train_idx], cfg.max_train_samples, cfg.seed)
        train_idx = [train_idx[i] for i in sub]
    test_idx = list(range(len(labels["test"])))
    if cfg.max_eval_samples:
        sub = stratified_sample([labels["train"][i] for i in val_idx], cfg.max_eval_samples, cfg.seed)
        val_idx = [val_idx[i] for i in sub]
        test_idx = stratified_sample(labels["test"], cfg.max_eval_samples, cfg.seed)
    tokens = cache.load({"train": train_idx + val_idx, "test": test_idx}, progress)
    # The unlabeled reviews are needed whole; loading them apart keeps a small run's labeled part small.
    unlabeled = cache.load({"unsup": None}, progress)["unsup"] if cfg.pretrain_embeddings else None
    clock.lap("tokenizing" if missing else "reading cached tokens")
    n_train = len(train_idx)
    return Corpus(tokens["train"].subset(range(n_train)), tokens["train"].subset(range(n_train, len(tokens["train"]))),
                  tokens["test"], unlabeled, cache_key(source), clock.laps)


class _Clock:
    """Wall time of consecutive phases; a phase under ``MIN_S`` is left out, a repeated name adds up."""

    MIN_S = 0.05

    def __init__(self) -> None:
        self.laps: list[tuple[str, float]] = []
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        seconds, self._last = now - self._last, now
        if seconds < self.MIN_S:
            return
        if self.laps and self.laps[-1][0] == name:
            seconds += self.laps.pop()[1]
        self.laps.append((name, seconds))
