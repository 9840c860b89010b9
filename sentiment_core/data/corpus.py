"""One run's corpus: ``load_corpus`` reads, tokenizes and splits (``splits.py``) the data.

IMDB: the 25,000 training reviews are split into train and validation with a fixed seed; the
25,000 test reviews are used only for final figures. Indices are chosen before anything is
tokenized, so a small run tokenizes only the reviews it uses. Its labels are the polarity
(negative/positive) or, with ``imdb_labels="rating-bins"``, the star rating in four classes.

A labelled file (``table.py``) is checked, split by its split column or a stratified, seeded
split, then tokenized: whole (and cached), or, when the run's slices leave out most of its rows,
only the rows the run uses. ``max_train_samples`` also caps the unlabeled reviews word vectors
are computed from, so a small run tokenizes a small share of everything.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..config import IMDB_LABELS, TrainConfig, default_cache_dir
from ..tokenizer import TOKENIZER_VERSION
from .cache import CACHE_FORMAT, TokenCache, cache_key, write_cache
from .source import LABELS, SPLITS, DataError, Progress, Reviews, Source, no_progress, resolve_source
from .splits import seeded_sample, table_splits, train_val_test_slices
from .table import MIN_CLASS_EXAMPLES, LabelledTable, inspect_table, is_table, table_texts
from .tokens import TokenLists
from .workers import tokenize_stream

log = logging.getLogger(__name__)


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
    # Class names: a review's label is an index into them.
    classes: list[str] = field(default_factory=lambda: list(LABELS))
    # What a run should be told about its data (a class with very few examples).
    warnings: list[str] = field(default_factory=list)
    description: str = ""  # where the texts and labels came from, for the model card

    def text_key(self) -> str:
        """Content key of the text word vectors are computed from (the training and unlabeled
        reviews, by id, under ``source_key``); empty when the corpus has no source key."""
        if not self.source_key:
            return ""
        digest = hashlib.sha256(self.source_key.encode())
        for reviews in (self.train, self.unlabeled):
            digest.update(b"\0" + "\n".join(reviews.ids if reviews else []).encode())
        return digest.hexdigest()


# IMDB star ratings in four classes; the rating is in each review's file name ("pos/123_9": 9 of 10).
RATING_BINS = {"1-2": (1, 2), "3-4": (3, 4), "7-8": (7, 8), "9-10": (9, 10)}
_RATING_CLASS = {rating: c for c, ratings in enumerate(RATING_BINS.values()) for rating in ratings}


def imdb_classes(kind: str) -> list[str]:
    """Class names of IMDB ``polarity`` or ``rating-bins``."""
    if kind not in IMDB_LABELS:
        raise ValueError(f"imdb_labels must be one of {IMDB_LABELS}, not {kind!r}")
    return list(LABELS) if kind == "polarity" else list(RATING_BINS)


def rating_class(review_id: str) -> int:
    """The rating-bin class of an IMDB review id such as ``pos/123_9``."""
    try:
        return _RATING_CLASS[int(review_id.rsplit("_", 1)[1])]
    except (IndexError, ValueError, KeyError):
        raise DataError(f"IMDB review {review_id!r} has no star rating from 1-4 or 7-10 in its name") from None


def imdb_labels(cache: TokenCache, split: str, kind: str) -> list[int]:
    """Labels of an IMDB split as ``kind`` asks (from the cache when valid: no archive read)."""
    if kind == "polarity":
        return cache.labels(split)
    return [rating_class(rid) for rid in cache.ids(split)]


def relabel(reviews: Reviews, kind: str) -> Reviews:
    """IMDB reviews (polarity labels) with the labels of ``kind``."""
    if kind == "polarity":
        return reviews
    return Reviews(reviews.ids, [rating_class(rid) for rid in reviews.ids], reviews.items)


def check_data_options(cfg: TrainConfig) -> None:
    """Options that apply to one kind of data only are refused with the other kind."""
    if is_table(cfg.data):
        if cfg.imdb_labels != "polarity":
            raise ValueError(f"imdb_labels={cfg.imdb_labels!r} is for IMDB data; the classes of {cfg.data} "
                             "come from its label column")
        return
    given = [f"{key}={getattr(cfg, key)!r}" for key in ("text_column", "label_column", "split_column")
             if getattr(cfg, key)]
    if given:
        raise ValueError(f"{', '.join(given)}: column options are for a labelled .csv, .tsv, .jsonl or .parquet "
                         "file given as data, not for IMDB data")


def in_pass(progress: Progress, name: str, passes: list[str]) -> Progress:
    """``progress`` whose "tokenize" stage names its pass ("tokenizing, pass 2 of 2: unlabeled reviews")
    when there is more than one."""
    if len(passes) < 2 or name not in passes:
        return progress
    stage = f"tokenizing, pass {passes.index(name) + 1} of {len(passes)}: {name} reviews"
    return lambda s, done, total: progress(stage if s == "tokenize" else s, done, total)


def load_corpus(cfg: TrainConfig, progress: Progress = no_progress) -> Corpus:
    """Resolve, read, tokenize and split the data as ``cfg`` asks: IMDB, or a labelled file."""
    check_data_options(cfg)
    if is_table(cfg.data):
        return load_table_corpus(cfg, progress)
    clock = _Clock()
    path = resolve_source(cfg.data, cfg.cache_dir, progress)
    clock.lap("finding or downloading the data")  # left out when quick (a local archive or folder)
    source = Source(path, progress)
    cache = TokenCache(source, cfg.cache_dir)
    # Whatever isn't cached is read from the archive in one pass, labels and texts together.
    splits = [*SPLITS, "unsup"] if cfg.pretrain_embeddings else list(SPLITS)
    missing = [s for s in splits if cache.cached(s) is None]
    source.read(missing)
    clock.lap("reading the archive" if missing else "reading cached tokens")
    labels = {s: imdb_labels(cache, s, cfg.imdb_labels) for s in SPLITS}
    train_idx, val_idx, test_idx = train_val_test_slices(labels["train"], labels["test"], cfg)
    # Two tokenizing passes when both parts are missing: each counts from zero, so each names its pass.
    passes = [p for p, splits in (("labelled", SPLITS), ("unlabeled", ["unsup"] if cfg.pretrain_embeddings else []))
              if set(splits) & set(missing)]
    tokens = cache.load({"train": train_idx + val_idx, "test": test_idx}, in_pass(progress, "labelled", passes))
    # Loaded apart, so a small run's labeled part stays small; as many as the training slice, if capped.
    unlabeled = cache.load({"unsup": _unlabeled_slice(cache, cfg)}, in_pass(progress, "unlabeled", passes))["unsup"] \
        if cfg.pretrain_embeddings else None
    clock.lap("tokenizing" if missing else "reading cached tokens")
    labelled, n_train = relabel(tokens["train"], cfg.imdb_labels), len(train_idx)
    train, classes = labelled.subset(range(n_train)), imdb_classes(cfg.imdb_labels)
    return Corpus(train, labelled.subset(range(n_train, len(labelled))), relabel(tokens["test"], cfg.imdb_labels),
                  unlabeled, cache_key(source), clock.laps, classes, _few_examples(train, classes),
                  "IMDB, polarity" if cfg.imdb_labels == "polarity" else "IMDB, star ratings in 4 bins")


def _unlabeled_slice(cache: TokenCache, cfg: TrainConfig) -> list[int] | None:
    """Seeded indices of ``max_train_samples`` unlabeled reviews; None (all) when uncapped."""
    if not cfg.max_train_samples:
        return None
    return seeded_sample(cfg.max_train_samples, len(cache.ids("unsup")), cfg.seed)


def _few_examples(train: Reviews, classes: list[str]) -> list[str]:
    """A warning per class with fewer than ``MIN_CLASS_EXAMPLES`` training examples (none for IMDB)."""
    counts = Counter(train.labels)
    out = []
    for c, name in enumerate(classes):
        if counts[c] < MIN_CLASS_EXAMPLES:
            out.append(f"class {name!r} has {counts[c]} training example{'s' if counts[c] != 1 else ''} "
                       f"(fewer than {MIN_CLASS_EXAMPLES}): the model can hardly learn it")
    return out


# ---------------------------------------------------------------------------------------------
# Your own labelled file


def table_cache_path(table: LabelledTable, cache_dir: str = "") -> Path:
    """Where the tokens of a labelled file's text column are cached: keyed on the file's content,
    the column, the tokenizer version and the cache format."""
    key = hashlib.sha256(f"{CACHE_FORMAT}\n{TOKENIZER_VERSION}\ntable\n{table.fingerprint}\n{table.format}\n"
                         f"{table.text_column}".encode()).hexdigest()[:16]
    return Path(cache_dir or default_cache_dir()) / "tokens" / f"table-{key}" / "texts.tokens"


def load_table_tokens(table: LabelledTable, cache_dir: str = "", progress: Progress = no_progress,
                      rows: list[int] | None = None) -> tuple[TokenLists, bool]:
    """The tokenized texts of a checked table, in row order (only ``rows``, sorted 0-based indices,
    when given), and whether they came from the cache. If not, they are tokenized as the file
    streams past: the whole file, then cached, unless ``rows`` is under half of it (a small run
    tokenizes only its own rows, and caches nothing)."""
    path = table_cache_path(table, cache_dir)
    cached = TokenCache.read_file(path)
    if cached is not None and len(cached) == len(table):
        return (cached.items if rows is None else cached.items.take(rows)), True
    if rows is not None and 2 * len(rows) < len(table):
        return tokenize_stream(table_texts(table, set(rows)), len(rows), progress), False
    log.info("tokenizing %s once; cached in %s", table.path, path.parent)
    tokens = tokenize_stream(table_texts(table), len(table), progress)
    write_cache(path, Reviews(table.ids(), [-1] * len(table), tokens))  # labels live in the file, not here
    return (tokens if rows is None else tokens.take(rows)), False


def load_table_corpus(cfg: TrainConfig, progress: Progress = no_progress) -> Corpus:
    """``load_corpus`` of a labelled file: checked, tokenized (or read from the cache) and split."""
    clock = _Clock()
    table = inspect_table(cfg.data, cfg.text_column, cfg.label_column, cfg.split_column, progress,
                          max_classes=cfg.max_classes)
    clock.lap("checking the file")
    train, val, test = table_splits(table, cfg)
    rows = sorted({*train, *val, *test})
    tokens, cached = load_table_tokens(table, cfg.cache_dir, progress, rows)
    clock.lap("reading cached tokens" if cached else "tokenizing")
    position = {row: i for i, row in enumerate(rows)}
    everything = Reviews([str(row + 1) for row in rows], [table.labels[row] for row in rows], tokens)
    train, val, test = ([position[row] for row in part] for part in (train, val, test))
    train_reviews = everything.subset(train)
    key = hashlib.sha256(f"table\n{table.fingerprint}\n{table.text_column}".encode()).hexdigest()
    split = (f"split by its column {table.split_column!r}" if table.split_column else
             f"split {1 - cfg.test_fraction:.0%}/{cfg.test_fraction:.0%} into train+validation/test, stratified "
             f"(seed {cfg.seed})")
    description = (f"{table.path.name} ({len(table):,} rows, sha256 {table.fingerprint[:12]}), texts from column "
                   f"{table.text_column!r}, labels from column {table.label_column!r}, {split}")
    return Corpus(train_reviews, everything.subset(val), everything.subset(test), None, key, clock.laps,
                  table.classes, _few_examples(train_reviews, table.classes), description)


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
