"""IMDB's unlabeled reviews labelled by teacher models: self-training data for a classifier.

``python -m sentiment_core pseudo-label --teacher A.safetensors --teacher B.safetensors`` averages the
class probabilities of the teachers (calibrated, as each checkpoint gives them) over a seeded sample of
the 50,000 unlabeled reviews, and writes each review's id with them. ``train --pseudo-labels FILE`` then
also trains on the reviews the teachers are together at least ``--pseudo-min-confidence`` sure of, each
labelled with their answer: pseudo-labelling (Lee, 2013) from an ensemble, whose averaged answer is
better than any one model's, so a single student can learn some of what the ensemble knows (as in
distillation, Hinton et al., 2015, with hard labels). The unlabeled reviews are never validation or test
reviews, and the file holds ids, not text: training reads the reviews from the same data's token cache,
and refuses a file made from other data or another tokenizer.

The file is JSON: {"format", "version", "labels", "source_key", "seed", "teachers": [{"file", "name",
"sha256"}], "ids": [...], "probabilities": [[p per label], ...]}.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .checkpoint import Checkpoint
from .config import TrainConfig
from .data import DataError, Reviews, seeded_sample
from .data.batching import EncodedDataset
from .data.cache import TokenCache, cache_key
from .data.source import Progress, Source, no_progress, resolve_source
from .evaluation import dataset_logits
from .model import class_probabilities
from .tempfiles import atomic_file

FORMAT = "sentiment-pseudo-labels"
VERSION = 1
MAX_FILE_BYTES = 64 * 2**20  # 50,000 ids and probabilities take about 3 MB
MAX_TEACHERS = 16
SPLIT = "unsup"


def unlabeled_cache(data: str, cache_dir: str = "", progress: Progress = no_progress) -> TokenCache:
    """The token cache of an IMDB archive or folder (its unlabeled split tokenized on first use)."""
    return TokenCache(Source(resolve_source(data, cache_dir, progress), progress), cache_dir)


def ensemble_probabilities(teachers: Sequence[Checkpoint], reviews: Reviews, batch_size: int = 64,
                           progress: Progress = no_progress) -> torch.Tensor:
    """(N, K) class probabilities of ``reviews``, averaged over ``teachers`` (all with the same labels), each
    reading the reviews as it was trained to (its vocabulary, its token limit)."""
    if not teachers:
        raise ValueError("name at least one teacher model")
    labels = teachers[0].labels
    for teacher in teachers[1:]:
        if teacher.labels != labels:
            raise ValueError(f"the teachers' labels differ: {labels} and {teacher.labels} ({teacher.path})")
    total = torch.zeros(len(reviews), len(labels), dtype=torch.float64)
    size = len(reviews)
    steps = len(teachers) * size
    for n, teacher in enumerate(teachers):
        limit = teacher.train_config.max_tokens if teacher.train_config else 0
        dataset = EncodedDataset(reviews, teacher.vocab, limit)
        # One "label" bar over all the teachers' passes.
        logits = dataset_logits(teacher.model, dataset, batch_size,
                                lambda stage, done, _, before=n * size: progress("label", before + done, steps))
        total += class_probabilities(logits.double())
    return total / len(teachers)


def _sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_pseudo_labels(path: str | os.PathLike, teachers: Sequence[Checkpoint], cache: TokenCache, count: int,
                        seed: int, batch_size: int = 64, progress: Progress = no_progress) -> int:
    """Label ``count`` unlabeled reviews of ``cache`` (a seeded sample; 0 = all) with the teachers'
    averaged probabilities and write them to ``path``; the number of reviews written."""
    ids = cache.ids(SPLIT)
    rows = seeded_sample(count, len(ids), seed)
    reviews = cache.load({SPLIT: rows}, progress)[SPLIT]
    probabilities = ensemble_probabilities(teachers, reviews, batch_size, progress)
    document = {
        "format": FORMAT, "version": VERSION, "labels": teachers[0].labels, "source_key": cache_key(cache.source),
        "seed": seed,
        "teachers": [{"file": Path(t.path).name, "name": str(t.info.get("name", "")), "sha256": _sha256(t.path)}
                     for t in teachers],
        "ids": reviews.ids, "probabilities": [[round(p, 6) for p in row] for row in probabilities.tolist()],
    }
    with atomic_file(Path(path), "w", durable=True, encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False, separators=(",", ":"))
    return len(reviews)


def read_pseudo_labels(path: str | os.PathLike) -> dict[str, Any]:
    """A pseudo-label file, checked: its format, labels, teachers, and one probability row per id, each
    of finite probabilities in [0, 1] that add up to 1."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"cannot read the pseudo-label file {path}: {exc.strerror or exc}") from exc
    if size > MAX_FILE_BYTES:
        raise DataError(f"{path} is {size / 2**20:.0f} MB, more than a pseudo-label file's "
                        f"{MAX_FILE_BYTES // 2**20} MB")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not a pseudo-label file (unreadable JSON: {exc})") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise DataError(f"{path} is not a pseudo-label file (written by 'python -m sentiment_core pseudo-label')")
    if document.get("version") != VERSION:
        raise DataError(f"{path} is a pseudo-label file of version {document.get('version')!r}; this version "
                        f"reads version {VERSION}")
    labels, ids, rows = document.get("labels"), document.get("ids"), document.get("probabilities")
    teachers = document.get("teachers")
    if not (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) for x in labels)):
        raise DataError(f"{path}: 'labels' must be a list of at least two names")
    if not (isinstance(teachers, list) and 0 < len(teachers) <= MAX_TEACHERS
            and all(isinstance(t, dict) and isinstance(t.get("file"), str) for t in teachers)):
        raise DataError(f"{path}: 'teachers' must list 1 to {MAX_TEACHERS} teacher models")
    if not (isinstance(ids, list) and isinstance(rows, list) and len(ids) == len(rows)
            and all(isinstance(i, str) for i in ids) and len(set(ids)) == len(ids)):
        raise DataError(f"{path}: 'ids' must be distinct review ids, one per row of 'probabilities'")
    for i, row in zip(ids, rows):
        if not (isinstance(row, list) and len(row) == len(labels)
                and all(isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p)
                        and 0.0 <= p <= 1.0 for p in row) and abs(sum(row) - 1.0) < 1e-3):
            raise DataError(f"{path}: the probabilities of {i!r} must be {len(labels)} numbers in [0, 1] adding "
                            "up to 1")
    if not isinstance(document.get("source_key"), str):
        raise DataError(f"{path}: 'source_key' must name the data the reviews came from")
    return document


def pseudo_labelled(cfg: TrainConfig, classes: Sequence[str], source_key: str,
                    progress: Progress = no_progress) -> tuple[Reviews, int]:
    """The reviews of ``cfg.pseudo_labels`` the teachers are at least ``cfg.pseudo_min_confidence`` sure
    of, tokenized from ``cfg.data``'s cache and labelled with the teachers' answer (ids "pseudo/<id>"),
    and how many reviews the file held."""
    document = read_pseudo_labels(cfg.pseudo_labels)
    if document["labels"] != list(classes):
        raise DataError(f"{cfg.pseudo_labels} labels reviews as {document['labels']}, this run's classes are "
                        f"{list(classes)}")
    cache = unlabeled_cache(cfg.data, cfg.cache_dir, progress)
    if not source_key or document["source_key"] != source_key:
        raise DataError(f"{cfg.pseudo_labels} was made from other data or another tokenizer than this run's "
                        f"({cfg.data}): make it again from the same data")
    index = {review_id: n for n, review_id in enumerate(cache.ids(SPLIT))}
    unknown = [i for i in document["ids"] if i not in index]
    if unknown:
        raise DataError(f"{cfg.pseudo_labels} names {len(unknown):,} review(s) that are not unlabeled reviews of "
                        f"this data, e.g. {unknown[0]!r}")
    probabilities = torch.tensor(document["probabilities"], dtype=torch.float64)
    confidence, answer = probabilities.max(dim=1)
    kept = [n for n in range(len(answer)) if confidence[n] >= cfg.pseudo_min_confidence]
    reviews = cache.load({SPLIT: [index[document["ids"][n]] for n in kept]}, progress)[SPLIT]
    return Reviews([f"pseudo/{i}" for i in reviews.ids], [int(answer[n]) for n in kept], reviews.items), \
        len(document["ids"])
