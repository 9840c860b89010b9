"""Texts typed without their final full stop: augmentation against a learned end-of-text cue.

Reviews, passages and the composed sentences all end in ".", "!" or "?", so a classifier that
pools its last state learns to read its verdict off that mark: "The movie was great." and "The
movie was great" can land in different bands. People typing into a box often leave the mark off.
Dropping it from a share of the training texts, per batch and on token indices, makes its absence
ordinary; the data, its cache and the epoch's size stay as they are. And a model records the share of
its training texts that end in a word (``word_end_share``): where that is rare, as in reviews, the
predictor reads a typed text that stops on a word with a full stop added.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..vocab import Vocab
from .tokens import TokenLists

FINAL_MARKS = frozenset(".!?…")
# A model whose training texts end in a word less often than this reads a text typed without a final mark
# as if it had a full stop (``Predictor``): for it, a text that stops on a word is out of distribution.
WORD_END_SHARE = 0.1
# ... when the text is this short: a typed sentence or two. A longer one is a review, read as it is, so
# the predictor and the scoring of whole reviews (evaluation, the mistakes explorer) agree on it.
CLOSED_MAX_TOKENS = 64


def ends_in_word(tokens: Sequence[str]) -> bool:
    """Whether a text's last token is a word ("great"), not a mark, a number or a symbol ("8/10", ":)")."""
    return bool(tokens) and tokens[-1].isalpha()


def word_end_share(items: TokenLists) -> float:
    """The share of tokenized texts whose last token is a word (0.0 for none)."""
    return sum(ends_in_word(items[i]) for i in range(len(items))) / len(items) if len(items) else 0.0


class DropFinalPunctuation:
    """Drop the last token of each text of a batch, with probability ``rate``, when it is a run of
    final marks ("." "!" "?!" "..."); a text of one token keeps it. Deterministic for a ``seed``."""

    def __init__(self, vocab: Vocab, rate: float, seed: int):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"the drop rate must be in [0, 1], not {rate}")
        self.rate = rate
        self.pad_index = vocab.pad_index
        self.is_mark = torch.zeros(len(vocab), dtype=torch.bool)
        self.is_mark[[i for i, tok in enumerate(vocab.itos) if tok and set(tok) <= FINAL_MARKS]] = True
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens`` (B, T) right-padded and ``lengths`` (B,), with the drops made (copies; the same
        tensors when nothing was dropped)."""
        rows = torch.arange(tokens.shape[0])
        last = tokens[rows, (lengths - 1).clamp(min=0)]
        drop = self.is_mark[last] & (lengths > 1) & (torch.rand(len(lengths), generator=self.generator) < self.rate)
        if not drop.any():
            return tokens, lengths
        tokens, lengths = tokens.clone(), lengths.clone()
        tokens[rows[drop], lengths[drop] - 1] = self.pad_index
        lengths[drop] -= 1
        return tokens, lengths
