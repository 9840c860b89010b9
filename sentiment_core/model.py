"""The recurrent sentiment classifier: embedding -> RNN/LSTM/GRU -> pooling -> linear.

Batches are right-padded. A forward recurrence over a right-padded row is exact at every
real position (padding comes after it), so the padded path needs no packing on CPU, where
packed sequences are about 5x slower. The backward direction reads each review reversed
*within its length*, which keeps it exact too:

    tokens     [a b c d <pad> <pad>]     lengths 4
    forward    a -> b -> c -> d          outputs used at positions 0..3
    backward   [d c b a <pad> <pad>]     reversed within length, run forward, un-reversed
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .config import ModelConfig

_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def reverse_index(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B, T) gather index that reverses each row's first ``length`` positions, padding in place."""
    t = torch.arange(max_len, device=lengths.device).unsqueeze(0)  # (1, T)
    lengths = lengths.unsqueeze(1)  # (B, 1)
    return torch.where(t < lengths, lengths - 1 - t, t)


def _gather_time(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, T, D) reordered along time by index (B, T)."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(-1)))


class SentimentRNN(nn.Module):
    """Binary sentiment classifier over token indices; returns one logit per review."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.vocab_size < 2:
            raise ValueError("ModelConfig.vocab_size must be set from the vocabulary before building the model")
        self.cfg = cfg
        self.num_directions = 2 if cfg.bidirectional else 1
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=cfg.pad_index)
        self.dropout = nn.Dropout(cfg.dropout)
        # One single-layer, single-direction RNN per (layer, direction): each direction gets its
        # own exact input order, and layer l+1 reads both directions of layer l.
        cell = _CELLS[cfg.cell]
        self.layers = nn.ModuleList()
        for layer in range(cfg.num_layers):
            in_dim = cfg.embed_dim if layer == 0 else cfg.hidden_dim * self.num_directions
            self.layers.append(
                nn.ModuleList(cell(in_dim, cfg.hidden_dim, batch_first=True) for _ in range(self.num_directions))
            )
        self.pooling = cfg.pooling_parts
        self.fc = nn.Linear(len(self.pooling) * cfg.hidden_dim * self.num_directions, 1)

    def encode(self, embedded: torch.Tensor, lengths: torch.Tensor, packed: bool = False) -> torch.Tensor:
        """Embedded tokens (B, T, E) -> last layer's per-token states (B, T, H * directions)."""
        x = self.dropout(embedded)
        max_len = embedded.size(1)
        rev = reverse_index(lengths, max_len) if self.num_directions == 2 else None
        for i, directions in enumerate(self.layers):
            outs = [self._run(directions[0], x, lengths, packed)]  # (B, T, H)
            if rev is not None:
                backward = self._run(directions[1], _gather_time(x, rev), lengths, packed)
                outs.append(_gather_time(backward, rev))  # back in reading order
            x = torch.cat(outs, dim=-1)  # (B, T, H * directions)
            if i < len(self.layers) - 1:
                x = self.dropout(x)
        return x

    @staticmethod
    def _run(rnn: nn.Module, x: torch.Tensor, lengths: torch.Tensor, packed: bool) -> torch.Tensor:
        if not packed:
            return rnn(x)[0]
        seq = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(rnn(seq)[0], batch_first=True, total_length=x.size(1))[0]

    def pool(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Masked pooling of (B, T, D) states into (B, len(pooling) * D)."""
        mask = (torch.arange(states.size(1), device=states.device)[None, :] < lengths[:, None]).unsqueeze(-1)
        feats = []
        for part in self.pooling:
            if part == "max":
                feats.append(states.masked_fill(~mask, float("-inf")).amax(dim=1))
            elif part == "mean":
                feats.append((states * mask).sum(dim=1) / lengths[:, None].to(states.dtype))
            else:  # last: the forward state after the final token, the backward state after the first
                hidden = self.cfg.hidden_dim
                last = states[torch.arange(states.size(0), device=states.device), lengths - 1]  # (B, D)
                feats.append(torch.cat([last[:, :hidden], states[:, 0, hidden:]], dim=-1))
        return torch.cat(feats, dim=-1)

    def classify(self, embedded: torch.Tensor, lengths: torch.Tensor, packed: bool = False) -> torch.Tensor:
        """Embedded tokens (B, T, E) -> logits (B,); lets attribution methods work on embeddings."""
        pooled = self.pool(self.encode(embedded, lengths, packed), lengths)  # (B, P * H * directions)
        return self.fc(self.dropout(pooled)).squeeze(-1)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, packed: bool = False) -> torch.Tensor:
        """tokens (B, T) right-padded, lengths (B,) -> logits (B,)."""
        return self.classify(self.embedding(tokens), lengths, packed)

    def running_logits(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logit after each token, (B, T), in one pass: what the model says if the review ended there.

        Only for a one-directional model, whose state at t has read exactly tokens 0..t; a
        bidirectional model's backward direction needs the whole text: use ``prefix_logits``.
        """
        if self.num_directions != 1:
            raise ValueError("running_logits needs a one-directional model; use prefix_logits")
        states = self.encode(self.embedding(tokens), lengths)  # (B, T, H)
        steps = torch.arange(1, tokens.size(1) + 1, device=tokens.device, dtype=states.dtype)
        feats = []
        for part in self.pooling:
            if part == "max":
                feats.append(states.cummax(dim=1).values)
            elif part == "mean":
                feats.append(states.cumsum(dim=1) / steps[None, :, None])
            else:
                feats.append(states)
        return self.fc(torch.cat(feats, dim=-1)).squeeze(-1)

    def prefix_logits(self, tokens: torch.Tensor, prefix_lengths: torch.Tensor) -> torch.Tensor:
        """Logits of the prefixes of one review, tokens (T,), prefix_lengths (P,) -> (P,)."""
        width = int(prefix_lengths.max())
        positions = torch.arange(width, device=tokens.device)[None, :]  # (1, W)
        prefixes = tokens[:width].expand(len(prefix_lengths), width)  # (P, W)
        prefixes = prefixes.masked_fill(positions >= prefix_lengths[:, None], self.cfg.pad_index)
        return self(prefixes, prefix_lengths)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
