"""The recurrent sentiment classifier: embedding -> RNN/LSTM/GRU -> pooling -> linear.

Batches are right-padded. A forward recurrence over a right-padded row is exact at every
real position (padding comes after it), so the padded path needs no packing on CPU, where
packed sequences are about 5x slower. The backward direction reads each review reversed
*within its length*, which keeps it exact too:

    tokens     [a b c d <pad> <pad>]     lengths 4
    forward    a -> b -> c -> d          outputs used at positions 0..3
    backward   [d c b a <pad> <pad>]     reversed within length, run forward, un-reversed

Two inference paths (eval mode) serve the app's explanations: ``prefix_logits`` classifies
every prefix of a review (the running prediction) reading the text once per direction where
the architecture allows, and ``path_gradients`` gives the gradients integrated gradients need,
with a hand-written backward pass for a one-layer GRU. Tests pin both to their plain
definitions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from . import gru_kernels
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


def _time_reversal(lengths: torch.Tensor, max_len: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function reversing (B, T, D) tensors within ``lengths``: a plain flip when no row is padded
    (one review, or the rows of an attribution path), else a gather by ``reverse_index``."""
    if bool((lengths == max_len).all()):
        return lambda x: x.flip(1)
    index = reverse_index(lengths, max_len)
    return lambda x: _gather_time(x, index)


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
        reverse = _time_reversal(lengths, embedded.size(1)) if self.num_directions == 2 else None
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

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, packed: bool = False) -> torch.Tensor:
        """tokens (B, T) right-padded, lengths (B,) -> logits (B,) for two classes, (B, K) for K."""
        return self.classify(self.embedding(tokens), lengths, packed)

    def running_logits(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits after each token, (B, T) or (B, T, K), in one pass: what the model says if the review ended there.

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
        return self.head(torch.cat(feats, dim=-1))

    def prefix_logits(self, tokens: torch.Tensor, prefix_lengths: torch.Tensor, reread: bool = False) -> torch.Tensor:
        """Logits of the prefixes of one review (in eval mode), tokens (T,), prefix_lengths (P,) -> (P,) or (P, K).

        Each prefix is classified as if it were the whole review. A forward direction reads a
        prefix exactly as it reads the start of the text, so one pass over the text serves every
        prefix (``running_logits``). Only a backward direction depends on where the prefix ends:
        for a one-layer bidirectional model, just that direction reads each prefix, reversed
        (``_bidirectional_prefix_logits``). A deeper bidirectional model, or ``reread=True``,
        reads every prefix in full as a batch of its own.
        """
        if not reread and self.num_directions == 1:
            return self.running_logits(tokens[None], tokens.new_tensor([len(tokens)]))[0, prefix_lengths - 1]
        if not reread and len(self.layers) == 1:
            return self._bidirectional_prefix_logits(tokens, prefix_lengths)
        width = int(prefix_lengths.max())
        positions = torch.arange(width, device=tokens.device)[None, :]  # (1, W)
        prefixes = tokens[:width].expand(len(prefix_lengths), width)  # (P, W)
        prefixes = prefixes.masked_fill(positions >= prefix_lengths[:, None], self.cfg.pad_index)
        return self(prefixes, prefix_lengths)

    def _bidirectional_prefix_logits(self, tokens: torch.Tensor, prefix_lengths: torch.Tensor) -> torch.Tensor:
        """``prefix_logits`` of a one-layer bidirectional model: the forward direction once over the
        text, the backward direction over each prefix reversed (``_backward_prefix_pools``).

            text       a b c d e          forward states f0..f4, pooled per prefix by cummax/cumsum
            prefix 3   c b a              backward states of prefix 3 at positions 2, 1, 0
        """
        embedded = self.embedding(tokens)  # (T, E)
        forward = self.layers[0][0](embedded[None])[0][0]  # (T, H): state after reading tokens 0..t
        backward = self._backward_prefix_pools(embedded, prefix_lengths)
        ends = prefix_lengths - 1
        feats = []
        for part in self.pooling:
            if part == "max":
                feats += [forward.cummax(dim=0).values[ends], backward["max"]]
            elif part == "mean":
                feats += [forward.cumsum(dim=0)[ends] / prefix_lengths[:, None].to(forward.dtype), backward["mean"]]
            else:  # last: the forward state at the prefix's end, the backward state at its first token
                feats += [forward[ends], backward["last"]]
        return self.head(torch.cat(feats, dim=-1))

    def _backward_prefix_pools(self, embedded: torch.Tensor, prefix_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """The backward direction's states over each prefix, reversed, pooled: {part: (P, H)}.

        The prefixes are packed, longest first, so a short prefix costs only its own length; a
        GRU steps by hand (``gru_kernels.gru_prefix_pools``), reading one input projection of the text.
        """
        rnn = self.layers[0][1]
        if self.cfg.cell == "gru":
            return gru_kernels.gru_prefix_pools(rnn, embedded, prefix_lengths, self.pooling)
        width = int(prefix_lengths.max())
        steps = torch.arange(width, device=embedded.device)[None, :]  # (1, W)
        reading = (prefix_lengths[:, None] - 1 - steps).clamp(min=0)  # (P, W): position read at each step
        packed = pack_padded_sequence(embedded[reading], prefix_lengths.cpu(), batch_first=True, enforce_sorted=False)
        states = pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=width)[0]  # (P, W, H)
        inside = (steps < prefix_lengths[:, None]).unsqueeze(-1)  # (P, W, 1)
        return {"max": states.masked_fill(~inside, float("-inf")).amax(dim=1),
                "mean": (states * inside).sum(dim=1) / prefix_lengths[:, None].to(states.dtype),
                "last": states[torch.arange(len(prefix_lengths), device=embedded.device), prefix_lengths - 1]}

    @torch.no_grad()
    def infer(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``forward`` in eval mode, without gradients: tokens (B, T) right-padded, lengths (B,) -> logits.

        A one-layer GRU steps both directions at once and only over each review's own length
        (``gru_kernels.gru_infer``): about a third faster than two library calls on a sorted batch.
        """
        if self.cfg.cell == "gru" and len(self.layers) == 1 and not self.training:
            return gru_kernels.gru_infer(self, tokens, lengths)
        return self(tokens, lengths)

    def path_gradients(self, embedded: torch.Tensor, alphas: torch.Tensor,
                       target: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores and gradients along the straight path from all-zero embeddings to ``embedded`` (T, E).

        At each point ``alphas[s] * embedded``: the score of ``target`` (``score_head``; the logit
        of a two-class model) (S,), and each token's gradient times its embedding,
        x_t . dscore/dx_t (S, T); integrated gradients are a weighted sum of the latter. Eval mode
        only. A one-layer GRU takes a hand-written backward pass (``gru_kernels.gru_path``):
        autograd through a recurrence spends most of its time on bookkeeping.
        """
        if self.training:
            raise ValueError("path_gradients needs a model in eval mode")
        if self.cfg.cell == "gru" and len(self.layers) == 1:
            return gru_kernels.gru_path(self, embedded, alphas, head=self.score_head(target))
        self.score_head(target)  # checks the target
        path = (alphas[:, None, None] * embedded.detach()).requires_grad_(True)  # (S, T, E)
        with torch.enable_grad():
            logits = self.classify(path, torch.full((len(alphas),), embedded.size(0), device=embedded.device))
            scores = self.score(logits, target)
            (grads,) = torch.autograd.grad(scores.sum(), path)
        return scores.detach(), (grads * embedded).sum(dim=-1)

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
