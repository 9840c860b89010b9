"""Word vectors from unlabeled text: PPMI co-occurrence factorised by SVD (Levy & Goldberg, 2014).

Starting the embedding table from these vectors lets the classifier use the 50,000 unlabeled
IMDB reviews (and the training text) without a slow language-model pretraining run. Only
training and unlabeled text are read; validation and test reviews never are.

The vectors take about 20 s per run on one core, so ``VectorCache`` keeps them on disk, keyed on
the training text, the vocabulary and every setting that changes them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence, Sized
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from .data.source import Progress, no_progress
from .data.tokens import TokenLists
from .tempfiles import atomic_file, read_or_discard
from .vocab import Vocab

log = logging.getLogger(__name__)

# The two passes of the word vectors, as progress stages: reviews counted, then SVD steps.
COUNT_STAGE = "word vectors, pass 1 of 2: counting co-occurrences"
SVD_STAGE = "word vectors, pass 2 of 2: factorising (SVD)"
PROGRESS_EVERY = 200  # reviews counted between two progress reports


def vector_unit(stage: str) -> str:
    """What a word-vector progress stage counts."""
    return "steps" if stage == SVD_STAGE else "reviews"


def cooccurrence(docs: Iterable[Sequence[int]], vocab_size: int, window: int = 5, chunk_tokens: int = 4_000_000,
                 progress: Progress = no_progress, total: int = 0):
    """Symmetric co-occurrence counts weighted 1/distance, as (rows, cols, weights) of unique pairs;
    ``progress(COUNT_STAGE, reviews, total)`` as the reviews are counted."""
    keys_parts: list[np.ndarray] = []
    weight_parts: list[np.ndarray] = []

    def flush(buffer: list[np.ndarray]) -> None:
        stream = np.concatenate(buffer)
        keys, weights = [], []
        for d in range(1, window + 1):
            a, b = stream[:-d], stream[d:]
            ok = (a >= 0) & (b >= 0)
            keys.append(a[ok].astype(np.int64) * vocab_size + b[ok])
            weights.append(np.full(int(ok.sum()), 1.0 / d, dtype=np.float32))
        uniq, inverse = np.unique(np.concatenate(keys), return_inverse=True)
        keys_parts.append(uniq)
        weight_parts.append(np.bincount(inverse, weights=np.concatenate(weights)).astype(np.float32))

    # Reviews are joined into one stream per chunk; ``window`` separators (-1) between two reviews
    # keep every window from reaching across the boundary.
    gap = np.full(window, -1, dtype=np.int32)
    buffer, size, done = [], 0, 0
    for doc in docs:
        buffer.append(np.concatenate([np.asarray(doc, dtype=np.int32), gap]))
        size += len(doc) + window
        done += 1
        if size >= chunk_tokens:
            flush(buffer)
            buffer, size = [], 0
        if done % PROGRESS_EVERY == 0:
            progress(COUNT_STAGE, done, max(total, done))
    if buffer:
        flush(buffer)
    progress(COUNT_STAGE, done, max(total, done))
    uniq, inverse = np.unique(np.concatenate(keys_parts), return_inverse=True)
    weights = np.bincount(inverse, weights=np.concatenate(weight_parts))
    # Count both orders: (a, b) at distance d is also (b, a). Both (a, b) and (b, a) may have been
    # seen, so the mirrored pairs are merged with the seen ones into unique pairs again.
    mirrored = (uniq % vocab_size) * vocab_size + uniq // vocab_size
    uniq, inverse = np.unique(np.concatenate([uniq, mirrored]), return_inverse=True)
    weights = np.bincount(inverse, weights=np.concatenate([weights, weights])).astype(np.float32)
    return uniq // vocab_size, uniq % vocab_size, weights


def ppmi_matrix(docs: Iterable[Sequence[int]], vocab_size: int, window: int = 5, context_smoothing: float = 0.75,
                skip_below: int = 2, progress: Progress = no_progress, total: int = 0) -> torch.Tensor:
    """Sparse (V, V) positive PMI of co-occurrences; indices under ``skip_below`` (<pad>, <unk>) are left out.

    PPMI(w, c) = max(0, log(P(w, c) / (P(w) * P_alpha(c)))), with the context distribution smoothed
    (P_alpha(c) is proportional to count(c) ** alpha).
    """
    rows, cols, counts = cooccurrence(docs, vocab_size, window, progress=progress, total=total)
    keep = (rows >= skip_below) & (cols >= skip_below)  # <unk> co-occurs with everything: drop it
    rows, cols, counts = rows[keep], cols[keep], counts[keep]
    word_totals = np.bincount(rows, weights=counts, minlength=vocab_size)
    context = np.bincount(cols, weights=counts, minlength=vocab_size) ** context_smoothing
    # The total count N divides both P(w, c) and P(w), so it cancels.
    pmi = np.log(counts * context.sum() / (word_totals[rows] * context[cols]))
    pos = pmi > 0
    return torch.sparse_coo_tensor(
        torch.from_numpy(np.stack([rows[pos], cols[pos]])), torch.from_numpy(pmi[pos].astype(np.float32)),
        (vocab_size, vocab_size), check_invariants=True,
    ).coalesce()


def svd_lowrank(matrix: torch.Tensor, q: int, niter: int, progress: Progress = no_progress) -> tuple[torch.Tensor, ...]:
    """``torch.svd_lowrank(matrix, q, niter)`` of a square sparse matrix, step by step (the same
    operations, in the same order), with ``progress(SVD_STAGE, step, steps)`` after each."""
    steps, step = 2 * niter + 3, 0

    def advance() -> None:
        nonlocal step
        step += 1
        progress(SVD_STAGE, step, steps)

    # Halko et al. (2009), algorithm 4.4: a random range, refined by niter power iterations.
    q_basis = torch.linalg.qr(torch.sparse.mm(matrix, torch.randn(matrix.shape[-1], q, dtype=matrix.dtype))).Q
    advance()
    for _ in range(niter):
        q_basis = torch.linalg.qr(torch.sparse.mm(matrix.mH, q_basis)).Q
        advance()
        q_basis = torch.linalg.qr(torch.sparse.mm(matrix, q_basis)).Q
        advance()
    small = torch.matmul(q_basis.mH, matrix)  # (q, V): the matrix in the basis
    advance()
    u, s, vh = torch.linalg.svd(small, full_matrices=False)
    advance()
    return q_basis.matmul(u), s, vh.mH


def ppmi_svd_vectors(docs: Iterable[Sequence[str]], vocab: Vocab, dim: int, window: int = 5, seed: int = 0,
                     context_smoothing: float = 0.75, progress: Progress = no_progress) -> torch.Tensor:
    """(len(vocab), dim) word vectors; rows of <pad> and <unk> are zero, entries scaled to unit variance.

    ``progress`` hears of both passes: COUNT_STAGE (reviews) and SVD_STAGE (steps).
    """
    n = len(vocab)
    if isinstance(docs, TokenLists):  # encode every token at once, then cut the texts apart
        encoded = np.split(vocab.encode_lists(docs).astype(np.int32), docs.offsets[1:-1])
    else:
        encoded = (vocab.encode(d) for d in docs)
    total = len(docs) if isinstance(docs, Sized) else 0
    matrix = ppmi_matrix(encoded, n, window, context_smoothing, vocab.unk_index + 1, progress, total)
    log.info("PPMI matrix %d x %d with %d non-zeros", n, n, matrix.values().numel())
    torch.manual_seed(seed)
    u, s, _ = svd_lowrank(matrix, q=dim, niter=4, progress=progress)
    vectors = u * s.sqrt()  # (V, dim): symmetric weighting of the singular values
    vectors[: vocab.unk_index + 1] = 0.0
    return vectors / vectors[vocab.unk_index + 1 :].std()


VECTORS_FORMAT = "ppmi-svd-v1"  # part of the key: bump when the computation above changes


class VectorCache:
    """Word vectors on disk, one ``<key>.safetensors`` file per (text, vocabulary, settings).

    A file that is unreadable or has the wrong shape is logged, deleted and computed again:
    a damaged cache never fails a run, and no cache error is worse than a slower run.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    @staticmethod
    def key(text_key: str, vocab: Vocab, dim: int, seed: int, window: int = 5,
            context_smoothing: float = 0.75) -> str:
        """The cache key of the vectors of ``text_key``'s text (``Corpus.text_key()``) over ``vocab``."""
        settings = {"format": VECTORS_FORMAT, "text": text_key, "lowercase": vocab.lowercase, "dim": dim,
                    "seed": seed, "window": window, "context_smoothing": context_smoothing}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
        digest.update("\n".join(vocab.itos).encode())
        return digest.hexdigest()[:24]

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.safetensors"

    def get(self, key: str, shape: tuple[int, int]) -> torch.Tensor | None:
        """The cached vectors of ``key`` if present, readable and of ``shape``; else None."""

        def read(path: Path) -> torch.Tensor:
            vectors = load(path.read_bytes())["vectors"]
            if tuple(vectors.shape) != shape or vectors.dtype != torch.float32 or not bool(vectors.isfinite().all()):
                raise ValueError(f"it holds {tuple(vectors.shape)} {vectors.dtype} values, not finite {shape} float32")
            return vectors

        return read_or_discard(self.path(key), read, (OSError, SafetensorError, KeyError, ValueError),
                               "word-vector cache", "computing the vectors again")

    def put(self, key: str, vectors: torch.Tensor) -> None:
        """Store ``vectors`` atomically; a failure (a full disk) is logged, not raised."""
        try:
            with atomic_file(self.path(key)) as f:
                f.write(save({"vectors": vectors.detach().float().contiguous().cpu()}))
        except OSError as exc:
            log.warning("could not cache the word vectors in %s: %s", self.folder, exc)
