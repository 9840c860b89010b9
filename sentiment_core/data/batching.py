"""Batching: reviews as index tensors, length-bucketed batches and right-padding.

``BucketBatchSampler`` does what torchtext's ``BucketIterator`` did (torchtext is end-of-life):
batches of similar-length reviews keep padding under 3% of a batch's tokens.
``DistributedBucketSampler`` cuts each of those batches into one piece per process, so N
processes with batches of B reviews see exactly the batches one process with N * B sees.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .source import Reviews
from .tokens import TokenLists, gather, place

if TYPE_CHECKING:
    from ..vocab import Vocab


class EncodedDataset(Dataset):
    """Reviews as index tensors, truncated (head and tail) to ``max_tokens``.

    All reviews' indices live in one flat int32 tensor with per-review offsets (4 bytes a token,
    not a tensor object per review); ``dataset[i]`` is a view of review i, converted to int64
    by ``collate``. Labels are class indices (int64).
    """

    def __init__(self, reviews: Reviews, vocab: Vocab, max_tokens: int = 0):
        self.labels = torch.tensor(reviews.labels, dtype=torch.long)
        items = reviews.items if isinstance(reviews.items, TokenLists) else TokenLists.from_lists(reviews.items)
        lengths = items.lengths()
        kept = np.minimum(lengths, max_tokens) if max_tokens > 0 else lengths
        # An empty review still gets one <unk> so every sequence has a last state.
        self.kept = np.maximum(kept, 1)
        self.offsets = np.zeros(len(self.kept) + 1, dtype=np.int64)
        np.cumsum(self.kept, out=self.offsets[1:])
        # Head and tail of each review (``tokenizer.head_tail``): two gathers, the first
        # ceil(max_tokens / 2) tokens and the last floor(max_tokens / 2), interleaved per review.
        head = np.where(lengths > kept, max_tokens - max_tokens // 2, kept)
        tail = kept - head
        table = vocab.lookup(items)  # lexicon entry -> vocabulary index
        flat = np.full(int(self.kept.sum()), vocab.unk_index, dtype=np.int32)
        starts = items.offsets[:-1]
        place(flat, self.offsets[:-1], head, table[gather(items.codes, starts, head)])
        place(flat, self.offsets[:-1] + head, tail, table[gather(items.codes, starts + lengths - tail, tail)])
        self.flat = torch.from_numpy(flat)
        self.lengths = self.kept.tolist()

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.flat[self.offsets[i] : self.offsets[i + 1]], self.labels[i]


def _bucketed(lengths: Sequence[int], batch_size: int, pool: int, rng: random.Random) -> list[list[int]]:
    """Shuffled indices cut into pools, each pool sorted by length and cut into batches, the
    batches shuffled."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    for start in range(0, len(order), pool):
        sorted_pool = sorted(order[start : start + pool], key=lengths.__getitem__)
        batches.extend(sorted_pool[i : i + batch_size] for i in range(0, len(sorted_pool), batch_size))
    rng.shuffle(batches)
    return batches


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
        if not self.shuffle:
            order = sorted(range(len(self.lengths)), key=self.lengths.__getitem__)
            yield from (order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size))
            return
        yield from _bucketed(self.lengths, self.batch_size, self.pool, random.Random(self.seed + self.epoch))

    def __len__(self) -> int:
        if not self.shuffle:
            return -(-len(self.lengths) // self.batch_size)
        full, rest = divmod(len(self.lengths), self.pool)
        return full * -(-self.pool // self.batch_size) + -(-rest // self.batch_size)


class DistributedBucketSampler(BucketBatchSampler):
    """This process's share of ``BucketBatchSampler``'s batches of ``batch_size * num_replicas``.

    Every global batch (sorted by length within its pool) is cut into ``num_replicas``
    consecutive pieces of near-equal size; process ``rank`` takes piece ``rank``:

        global batch   [37 41 44 52 | 88 90 95 97]      2 processes, batch_size 4
        rank 0         [37 41 44 52]    rank 1   [88 90 95 97]

    So every process gets the same number of batches per epoch, each piece is as tight in
    length as the global batch (padding stays small), and the gradients averaged over the
    processes are those of one process reading the global batch. A global batch of fewer
    reviews than processes lends its reviews again (as ``DistributedSampler`` pads by repeating),
    so no process ever gets an empty batch. Unshuffled (evaluation), process ``rank`` takes every
    ``num_replicas``-th sorted batch instead, each review exactly once: sums over the processes'
    batches are then exactly the sums over the split.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, num_replicas: int, rank: int, shuffle: bool = True,
                 seed: int = 0, pool_batches: int = 50):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas}), not {rank}")
        super().__init__(lengths, batch_size * num_replicas if shuffle else batch_size, shuffle, seed, pool_batches)
        self.num_replicas, self.rank = num_replicas, rank

    def __iter__(self) -> Iterator[list[int]]:
        if not self.shuffle:
            batches = list(super().__iter__())
            yield from batches[self.rank :: self.num_replicas]
            return
        for batch in super().__iter__():
            if len(batch) < self.num_replicas:
                batch = [batch[i % len(batch)] for i in range(self.num_replicas)]
            size, extra = divmod(len(batch), self.num_replicas)
            start = self.rank * size + min(self.rank, extra)
            yield batch[start : start + size + (self.rank < extra)]

    def __len__(self) -> int:
        total = super().__len__()
        if not self.shuffle:
            return len(range(self.rank, total, self.num_replicas))
        return total


def collate(batch: list[tuple[torch.Tensor, torch.Tensor]], pad_index: int = 0):
    """Right-pad a batch: tokens (B, T) int64, lengths (B,), labels (B,)."""
    tokens = torch.nn.utils.rnn.pad_sequence([b[0] for b in batch], batch_first=True,
                                             padding_value=pad_index).long()
    lengths = torch.tensor([len(b[0]) for b in batch], dtype=torch.long)
    labels = torch.stack([b[1] for b in batch])
    return tokens, lengths, labels


def make_loader(dataset: EncodedDataset, batch_size: int, shuffle: bool, seed: int = 0,
                pin_memory: bool = False, num_replicas: int = 1, rank: int = 0) -> DataLoader:
    """A DataLoader over length buckets (shuffled for training, sorted for evaluation); ``pin_memory``
    for a CUDA run, so batches are copied to the GPU asynchronously. With ``num_replicas`` > 1,
    this process's share (``DistributedBucketSampler``): ``batch_size`` is then per process."""
    if num_replicas > 1:
        sampler = DistributedBucketSampler(dataset.lengths, batch_size, num_replicas, rank, shuffle=shuffle,
                                           seed=seed)
    else:
        sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, pin_memory=pin_memory)
