"""The recurrent sentiment classifier: embedding -> RNN/LSTM/GRU -> pooling -> linear.

Batches are right-padded. A forward recurrence over a right-padded row is exact at every
real position (padding comes after it), so the padded path needs no packing on CPU, where
packed sequences are about 5x slower. The backward direction reads each review reversed
*within its length*, which keeps it exact too:

    tokens     [a b c d <pad> <pad>]     lengths 4
    forward    a -> b -> c -> d          outputs used at positions 0..3
    backward   [d c b a <pad> <pad>]     reversed within length, run forward, un-reversed

The inference fast paths (``infer``, ``prefix_logits``, ``path_gradients``) live in
``fastpaths``, which reads the model's layers and head; the methods here only call them.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from . import fastpaths
from .config import ModelConfig
from .padding import real_positions, time_reversal

_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class SentimentRNN(nn.Module):
    """Text classifier over token indices. Two classes: one logit per review, the positive (second)
    class's, read through a sigmoid. More classes: a logit per class, read through a softmax."""

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
        self.fc = nn.Linear(len(self.pooling) * cfg.hidden_dim * self.num_directions, cfg.num_outputs)

    def encode(self, embedded: torch.Tensor, lengths: torch.Tensor, packed: bool = False) -> torch.Tensor:
        """Embedded tokens (B, T, E) -> last layer's per-token states (B, T, H * directions)."""
        x = self.dropout(embedded)
        reverse = time_reversal(lengths, embedded.size(1)) if self.num_directions == 2 else None
        for i, directions in enumerate(self.layers):
            outs = [self._run(directions[0], x, lengths, packed)]  # (B, T, H)
            if reverse is not None:
                backward = self._run(directions[1], reverse(x), lengths, packed)
                outs.append(reverse(backward))  # back in reading order
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
        mask = real_positions(lengths, states.size(1))
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

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """The linear classifier: features (..., D) -> logits (...) for two classes, (..., K) for K > 2."""
        logits = self.fc(features)
        return logits.squeeze(-1) if self.cfg.num_outputs == 1 else logits

    def score_head(self, target: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight (D,), bias ()) of the one score that explanations follow, linear in the features.

        Two classes: the positive logit (``target`` must be None or 1). More: the ``target`` class's
        logit minus the mean logit, which a softmax reads as that class against the average one
        (adding a constant to every logit changes no probability, and does not change this either).
        """
        if self.cfg.num_outputs == 1:
            if target not in (None, 1):
                raise ValueError(f"a two-class model explains its positive class (1), not class {target}")
            return self.fc.weight[0], self.fc.bias[0]
        if target is None or not 0 <= target < self.cfg.num_classes:
            raise ValueError(f"target must be a class index in [0, {self.cfg.num_classes}), not {target}")
        weight, bias = self.fc.weight, self.fc.bias
        return weight[target] - weight.mean(dim=0), bias[target] - bias.mean()

    def score(self, logits: torch.Tensor, target: int | None = None) -> torch.Tensor:
        """The score ``score_head`` describes, from logits (..., ) or (..., K)."""
        if self.cfg.num_outputs == 1:
            return logits
        return logits[..., target] - logits.mean(dim=-1)

    def classify(self, embedded: torch.Tensor, lengths: torch.Tensor, packed: bool = False) -> torch.Tensor:
        """Embedded tokens (B, T, E) -> logits (B,) or (B, K); lets attribution methods work on embeddings."""
        pooled = self.pool(self.encode(embedded, lengths, packed), lengths)  # (B, P * H * directions)
        return self.head(self.dropout(pooled))

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, packed: bool = False,
                perturb: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (B, T) right-padded, lengths (B,) -> logits (B,) for two classes, (B, K) for K.
        ``perturb`` (B, T, E), if given, is added to the embeddings (adversarial training)."""
        embedded = self.embedding(tokens)
        return self.classify(embedded if perturb is None else embedded + perturb, lengths, packed)

    def running_logits(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits after each token, (B, T) or (B, T, K), of a one-directional model (``fastpaths.running_logits``)."""
        return fastpaths.running_logits(self, tokens, lengths)

    def prefix_logits(self, tokens: torch.Tensor, prefix_lengths: torch.Tensor, reread: bool = False) -> torch.Tensor:
        """Logits of each prefix of one review, tokens (T,), prefix_lengths (P,) -> (P,) or (P, K) (``fastpaths``)."""
        return fastpaths.prefix_logits(self, tokens, prefix_lengths, reread)

    def infer(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``forward`` in eval mode, without gradients (``fastpaths.infer``)."""
        return fastpaths.infer(self, tokens, lengths)

    def path_gradients(self, embedded: torch.Tensor, alphas: torch.Tensor,
                       target: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores (S,) and gradient x embedding (S, T) along the integrated-gradients path (``fastpaths``)."""
        return fastpaths.path_gradients(self, embedded, alphas, target)

def class_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(B, K) class probabilities from logits (B,) of two classes (sigmoid) or (B, K) of more (softmax),
    in the logits' precision (float32 at least)."""
    logits = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    if logits.dim() == 1:
        positive = torch.sigmoid(logits)
        return torch.stack([1.0 - positive, positive], dim=-1)
    return torch.softmax(logits, dim=-1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
