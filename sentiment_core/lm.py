"""A recurrent language model of the reviews: the classifier's reader, pretrained before it sees a label.

    tokens (B, T) -> embedding -> forward GRU  -> adaptive softmax -> the next token
    reversed      -> embedding -> backward GRU -> adaptive softmax -> the previous token

The two directions share the embedding table and the softmax, and each has a one-layer
recurrent network of exactly the shape of one direction of ``SentimentRNN``'s first layer, so a
bidirectional classifier starts from both (``init_classifier``). AWD-LSTM's regularisers
(Merity et al., 2018), all off in eval mode:

- embedding dropout: whole words dropped from the table for a batch (a word never leans on
  one row of it);
- variational (locked) dropout: one mask per sequence on the inputs and outputs of the
  recurrence, the same at every step;
- weight dropout (DropConnect) on the hidden-to-hidden matrix, so the recurrence itself is
  regularised without touching the cuDNN kernel.

The adaptive softmax (Grave et al., 2017) gives the frequent words a full softmax and the rare
ones smaller, lower-rank clusters: 25,000 output words then cost about a fifth of a full softmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from .config_fields import MAX_DIM, MAX_VOCAB, check_fields, option

LM_CELLS = ("gru", "lstm")
_CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


@dataclass
class LMConfig:
    """Architecture and regularisation of the language model."""

    cell: str = option("gru", "recurrent cell (the classifier that fine-tunes it uses the same)", choices=LM_CELLS)
    embed_dim: int = option(128, "size of the word embeddings", min=1, max=MAX_DIM)
    hidden_dim: int = option(256, "hidden size of each direction", min=1, max=MAX_DIM)
    bidirectional: bool = option(True, "also train a backward model (for a classifier reading both ways)")
    embed_dropout: float = option(0.02, "share of words dropped from the embedding table per batch", min=0.0, below=1.0)
    input_dropout: float = option(0.1, "locked dropout on the recurrence's inputs", min=0.0, below=1.0)
    weight_dropout: float = option(0.2, "DropConnect on the hidden-to-hidden weights", min=0.0, below=1.0)
    output_dropout: float = option(0.1, "locked dropout on the recurrence's outputs", min=0.0, below=1.0)
    cutoffs: str = option("2000,10000", "adaptive softmax: comma-separated word ranks where a cheaper cluster begins")
    vocab_size: int = option(0, "rows of the embedding table (set from the vocabulary)", cli=False, min=0,
                             max=MAX_VOCAB + 2)
    pad_index: int = option(0, "index of <pad>, which also ends each review", cli=False, min=0, max=MAX_VOCAB + 1)

    def __post_init__(self) -> None:
        check_fields(self)
        try:
            cuts = [int(c) for c in self.cutoffs.split(",") if c.strip()]
        except ValueError:
            raise ValueError(f"cutoffs must be comma-separated whole numbers, not {self.cutoffs!r}") from None
        if cuts != sorted(set(cuts)) or (cuts and cuts[0] < 1):
            raise ValueError(f"cutoffs must be increasing positive numbers, not {self.cutoffs!r}")

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def cutoff_list(self, vocab_size: int) -> list[int]:
        """The cutoffs that fit a vocabulary of ``vocab_size``: a small one gets fewer clusters, and at
        least one cutoff (the adaptive softmax needs a cluster), at half the vocabulary if none fits."""
        cuts = [c for c in (int(c) for c in self.cutoffs.split(",") if c.strip()) if c < vocab_size - 1]
        return cuts or [max(1, (vocab_size - 1) // 2)]


def locked_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout of x (B, T, D) with one mask per sequence, the same at every step."""
    if not training or p == 0:
        return x
    mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1 - p) / (1 - p)  # (B, 1, D)
    return x * mask


class LanguageModel(nn.Module):
    """Forward (and backward) next-word models over one embedding and one adaptive softmax."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        if cfg.vocab_size < 4:
            raise ValueError("LMConfig.vocab_size must be set from the vocabulary before building the model")
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=cfg.pad_index)
        self.rnns = nn.ModuleList(_CELLS[cfg.cell](cfg.embed_dim, cfg.hidden_dim, batch_first=True)
                                  for _ in range(cfg.num_directions))
        cutoffs = cfg.cutoff_list(cfg.vocab_size)
        # Cluster i projects to hidden_dim / div**(i + 1) units: 4 as in Grave et al., less when the
        # hidden size is too small for every cluster to keep a unit.
        div = next(d for d in (4.0, 2.0, 1.0) if cfg.hidden_dim // int(d ** len(cutoffs)) >= 1)
        self.softmax = nn.AdaptiveLogSoftmaxWithLoss(cfg.hidden_dim, cfg.vocab_size, cutoffs, div_value=div)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) -> (B, T, E), dropping whole words from the table in training."""
        weight = self.embedding.weight
        if self.training and self.cfg.embed_dropout:
            p = self.cfg.embed_dropout
            weight = weight * weight.new_empty(weight.size(0), 1).bernoulli_(1 - p) / (1 - p)  # (V, 1) mask
        return F.embedding(tokens, weight, self.cfg.pad_index)

    def recur(self, direction: int, x: torch.Tensor, state: torch.Tensor | tuple | None):
        """One direction's recurrence over x (B, T, E), its hidden-to-hidden weights dropped in training."""
        rnn = self.rnns[direction]
        if not (self.training and self.cfg.weight_dropout):
            return rnn(x, state)
        weights = dict(rnn.named_parameters())
        weights["weight_hh_l0"] = F.dropout(weights["weight_hh_l0"], self.cfg.weight_dropout, True)
        return functional_call(rnn, weights, (x, state))

    def forward(self, direction: int, tokens: torch.Tensor, targets: torch.Tensor,
                state: torch.Tensor | tuple | None = None) -> tuple[torch.Tensor, torch.Tensor | tuple]:
        """Mean negative log-likelihood of targets (B, T) after tokens (B, T) in ``direction``, and the new state."""
        x = locked_dropout(self.embed(tokens), self.cfg.input_dropout, self.training)  # (B, T, E)
        out, state = self.recur(direction, x, state)  # (B, T, H)
        out = locked_dropout(out, self.cfg.output_dropout, self.training)
        loss = self.softmax(out.reshape(-1, out.size(-1)).float(), targets.reshape(-1)).loss
        return loss, state


def init_classifier(classifier: nn.Module, lm: LanguageModel) -> None:
    """Copy the language model's embedding and recurrent weights into a one-layer ``SentimentRNN``
    of the same cell and sizes (its forward direction from the forward model, backward from backward)."""
    cfg, lm_cfg = classifier.cfg, lm.cfg
    wanted = (lm_cfg.cell, lm_cfg.embed_dim, lm_cfg.hidden_dim, 1, lm_cfg.bidirectional, lm_cfg.vocab_size)
    have = (cfg.cell, cfg.embed_dim, cfg.hidden_dim, cfg.num_layers, cfg.bidirectional, cfg.vocab_size)
    if wanted != have:
        raise ValueError(f"the classifier (cell, embed, hidden, layers, bidirectional, vocabulary) {have} does not "
                         f"match the language model's {wanted}")
    with torch.no_grad():
        classifier.embedding.weight.copy_(lm.embedding.weight)
        for direction, rnn in enumerate(lm.rnns):
            classifier.layers[0][direction].load_state_dict(rnn.state_dict())
