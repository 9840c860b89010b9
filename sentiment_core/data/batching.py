"""Batching: reviews as index tensors, length-bucketed batches and right-padding.

``BucketBatchSampler`` does what torchtext's ``BucketIterator`` did (torchtext is end-of-life):
batches of similar-length reviews keep padding under 3% of a batch's tokens.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..tokenizer import head_tail
from ..vocab import Vocab
from .source import Reviews


class EncodedDataset(Dataset):
    """Reviews as index tensors, truncated (head and tail) to ``max_tokens``."""

    def __init__(self, reviews: Reviews, vocab: Vocab, max_tokens: int = 0):
        self.labels = torch.tensor(reviews.labels, dtype=torch.float32)
        # An empty review still gets one <unk> so every sequence has a last state.
        self.tokens = [
            torch.tensor(vocab.encode(head_tail(toks, max_tokens)) or [vocab.unk_index], dtype=torch.long)
            for toks in reviews.items
        ]
        self.lengths = [len(t) for t in self.tokens]

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tokens[i], self.labels[i]


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-length reviews, so padding stays small (torchtext's BucketIterator).

    Shuffled: indices are shuffled, cut into pools of ``batch_size * pool_batches``, each pool is
    sorted by length and cut into batches, and the batch order is shuffled.

        lengths  [212 37 530 88 95 41 | ...]    one pool
        sorted   [37 41 | 88 95 | 212 530]      batches of near-equal length
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True, seed: int = 0,
                 pool_batches: int = 50):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.pool = batch_size * pool_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        order = list(range(len(self.lengths)))
        if not self.shuffle:
            order.sort(key=self.lengths.__getitem__)
            yield from (order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size))
            return
        rng = random.Random(self.seed + self.epoch)
        rng.shuffle(order)
        batches = []
        for start in range(0, len(order), self.pool):
            pool = sorted(order[start : start + self.pool], key=self.lengths.__getitem__)
            batches.extend(pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size))
        rng.shuffle(batches)
        yield from batches

    def __len__(self) -> int:
        if not self.shuffle:
            return -(-len(self.lengths) // self.batch_size)
        full, rest = divmod(len(self.lengths), self.pool)
        return full * -(-self.pool // self.batch_size) + -(-rest // self.batch_size)


def collate(batch: list[tuple[torch.Tensor, torch.Tensor]], pad_index: int = 0):
    """Right-pad a batch: tokens (B, T), lengths (B,), labels (B,)."""
    tokens = torch.nn.utils.rnn.pad_sequence([b[0] for b in batch], batch_first=True, padding_value=pad_index)
    lengths = torch.tensor([len(b[0]) for b in batch], dtype=torch.long)
    labels = torch.stack([b[1] for b in batch])
    return tokens, lengths, labels


def make_loader(dataset: EncodedDataset, batch_size: int, shuffle: bool, seed: int = 0,
                pin_memory: bool = False) -> DataLoader:
    """A DataLoader over length buckets (shuffled for training, sorted for evaluation); ``pin_memory``
    for a CUDA run, so batches are copied to the GPU asynchronously."""
    sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, pin_memory=pin_memory)
