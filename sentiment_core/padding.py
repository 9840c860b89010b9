"""Right-padded batches read backwards: each row reversed within its own length.

A backward direction reads each review reversed *within its length*, which keeps a padded
batch exact without packing:

    tokens     [a b c d <pad> <pad>]     lengths 4
    reversed   [d c b a <pad> <pad>]     run forward, then un-reversed by the same index
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def real_positions(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B, T, 1) mask, True at each row's first ``length`` positions (its tokens), False on padding."""
    return (torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]).unsqueeze(-1)


def reverse_index(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B, T) gather index that reverses each row's first ``length`` positions, padding in place."""
    t = torch.arange(max_len, device=lengths.device).unsqueeze(0)  # (1, T)
    lengths = lengths.unsqueeze(1)  # (B, 1)
    return torch.where(t < lengths, lengths - 1 - t, t)


def gather_time(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, T, D) reordered along time by index (B, T)."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(-1)))


def time_reversal(lengths: torch.Tensor, max_len: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function reversing (B, T, D) tensors within ``lengths``: a plain flip when no row is padded
    (one review, or the rows of an attribution path), else a gather by ``reverse_index``."""
    if bool((lengths == max_len).all()):
        return lambda x: x.flip(1)
    index = reverse_index(lengths, max_len)
    return lambda x: gather_time(x, index)
