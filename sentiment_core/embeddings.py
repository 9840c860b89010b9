"""Word vectors from unlabeled text: PPMI co-occurrence factorised by SVD (Levy & Goldberg, 2014).

Starting the embedding table from these vectors lets the classifier use the 50,000 unlabeled
IMDB reviews (and the training text) without a slow language-model pretraining run. Only
training and unlabeled text are read; validation and test reviews never are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from .vocab import Vocab

log = logging.getLogger(__name__)


def cooccurrence(docs: Iterable[Sequence[int]], vocab_size: int, window: int = 5, chunk_tokens: int = 4_000_000):
    """Symmetric co-occurrence counts weighted 1/distance, as (rows, cols, weights) of unique pairs."""
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
    gap = [-1] * window
    buffer, size = [], 0
    for doc in docs:
        buffer.append(np.asarray([*doc, *gap], dtype=np.int32))
        size += len(doc) + window
        if size >= chunk_tokens:
            flush(buffer)
            buffer, size = [], 0
    if buffer:
        flush(buffer)
    uniq, inverse = np.unique(np.concatenate(keys_parts), return_inverse=True)
    weights = np.bincount(inverse, weights=np.concatenate(weight_parts)).astype(np.float32)
    rows, cols = uniq // vocab_size, uniq % vocab_size
    # Count both orders: (a, b) at distance d is also (b, a).
    return np.concatenate([rows, cols]), np.concatenate([cols, rows]), np.concatenate([weights, weights])


def ppmi_svd_vectors(docs: Iterable[Sequence[str]], vocab: Vocab, dim: int, window: int = 5, seed: int = 0,
                     context_smoothing: float = 0.75) -> torch.Tensor:
    """(len(vocab), dim) word vectors; rows of <pad> and <unk> are zero, entries scaled to unit variance."""
    n = len(vocab)
    rows, cols, counts = cooccurrence((vocab.encode(d) for d in docs), n, window)
    keep = (rows > vocab.unk_index) & (cols > vocab.unk_index)  # <unk> co-occurs with everything: drop it
    rows, cols, counts = rows[keep], cols[keep], counts[keep]
    word_totals = np.bincount(rows, weights=counts, minlength=n)
    context = np.bincount(cols, weights=counts, minlength=n) ** context_smoothing
    # PPMI(w, c) = max(0, log(P(w, c) / (P(w) * P_alpha(c)))), with the context distribution smoothed;
    # the total count N divides both P(w, c) and P(w), so it cancels.
    pmi = np.log(counts * context.sum() / (word_totals[rows] * context[cols]))
    pos = pmi > 0
    matrix = torch.sparse_coo_tensor(
        torch.from_numpy(np.stack([rows[pos], cols[pos]])), torch.from_numpy(pmi[pos].astype(np.float32)), (n, n),
        check_invariants=True,
    ).coalesce()
    log.info("PPMI matrix %d x %d with %d non-zeros", n, n, int(pos.sum()))
    torch.manual_seed(seed)
    u, s, _ = torch.svd_lowrank(matrix, q=dim, niter=4)
    vectors = u * s.sqrt()  # (V, dim): symmetric weighting of the singular values
    vectors[: vocab.unk_index + 1] = 0.0
    return vectors / vectors[vocab.unk_index + 1 :].std()
