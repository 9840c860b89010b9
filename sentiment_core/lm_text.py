"""The language model's text: reviews as one token stream, cut into rows, and its perplexity on one.

Pretraining reads the training and unlabeled reviews (``prepare_text``) as one stream of token
indices, each review followed by ``<pad>`` (``review_stream``), cut into ``batch_size`` rows
(``batchify``) and read in windows of ``bptt`` tokens, the state carried from one window to the
next; the backward direction reads the same stream reversed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from .data import Corpus
from .data.tokens import TokenLists, concat
from .lm import LanguageModel
from .utils import mixed_precision
from .vocab import Vocab


class StreamSettings(Protocol):
    """The settings of ``pretrain.PretrainConfig`` that shape the text."""

    seed: int
    batch_size: int
    vocab_size: int
    min_freq: int
    max_epoch_tokens: int
    val_max_tokens: int


def review_stream(texts: TokenLists, vocab: Vocab, order: np.ndarray | None = None) -> np.ndarray:
    """Every review's token indices, each followed by ``<pad>``, in ``order`` (default: as given), (N,) int64."""
    if order is not None:
        texts = texts.take(order)
    ids = vocab.encode_lists(texts).astype(np.int64)
    ends = texts.offsets[1:]  # where each review ends in ``ids``
    return np.insert(ids, ends, vocab.pad_index)


def batchify(stream: np.ndarray, batch_size: int) -> torch.Tensor:
    """The stream cut into ``batch_size`` rows (B, N // B), the remainder dropped."""
    width = len(stream) // batch_size
    return torch.from_numpy(stream[: width * batch_size].reshape(batch_size, width).copy())


@dataclass
class LMText:
    """The run's text: the vocabulary, the training texts (shuffled per epoch) and the validation stream."""

    vocab: Vocab
    train: TokenLists
    val: np.ndarray

    def rows(self, epoch: int, cfg: StreamSettings, direction: int) -> torch.Tensor:
        """An epoch's training text as (B, W) rows, reversed for direction 1, shuffled by seed and epoch."""
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(self.train))
        stream = review_stream(self.train, self.vocab, order)
        if cfg.max_epoch_tokens:
            stream = stream[: cfg.max_epoch_tokens + 1]
        return batchify(stream[::-1].copy() if direction else stream, cfg.batch_size)


def prepare_text(cfg: StreamSettings, corpus: Corpus) -> LMText:
    """Vocabulary and streams from the corpus's training and unlabeled reviews (validation only to score)."""
    train = concat([corpus.train.items, *([corpus.unlabeled.items] if corpus.unlabeled else [])])
    vocab = Vocab.build(train, cfg.vocab_size, cfg.min_freq, lowercase=True)
    val = review_stream(concat([corpus.val.items]), vocab)
    if cfg.val_max_tokens:
        val = val[: cfg.val_max_tokens]
    return LMText(vocab, train, val)


@torch.no_grad()
def perplexity(model: LanguageModel, stream: np.ndarray, device: torch.device, precision: str,
               batch_size: int = 32, window: int = 200) -> dict[str, float]:
    """Perplexity of each direction over a token stream (state carried across windows), eval mode."""
    if len(stream) < 4:
        raise ValueError(f"a perplexity needs a few tokens; the stream has {len(stream)}")
    batch_size = min(batch_size, len(stream) // 2)  # every row keeps a token to predict
    model.eval()
    out = {}
    for direction, name in enumerate(["forward", "backward"][: model.cfg.num_directions]):
        rows = batchify(stream[::-1].copy() if direction else stream, batch_size).to(device)
        total, count, state = 0.0, 0, None
        for s in range(0, rows.size(1) - 1, window):
            x, y = rows[:, s : s + window], rows[:, s + 1 : s + window + 1]
            x = x[:, : y.size(1)]
            with mixed_precision(device, precision):
                loss, state = model(direction, x, y, state)
            total += loss.item() * y.numel()
            count += y.numel()
        out[name] = math.exp(total / max(1, count))
    return out
