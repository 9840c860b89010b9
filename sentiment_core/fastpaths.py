"""The model's inference fast paths, in eval mode, for the app's explanations and batch prediction.

``prefix_logits`` classifies every prefix of a review (the running prediction) reading the text
once per direction where the architecture allows; ``infer`` is ``forward`` without gradients;
``path_gradients`` gives the gradients integrated gradients need. A one-layer GRU, the shipped
architecture, takes the hand-written kernels of ``gru_kernels``. Each function takes the
``SentimentRNN`` it reads (its layers, pooling and head), and ``SentimentRNN``'s methods of the
same names call them. Tests (``tests/test_model_fastpaths.py``) pin each to its plain definition.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from . import gru_kernels


def running_logits(model: nn.Module, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Logits after each token, (B, T) or (B, T, K), in one pass: what the model says if the review ended there.

    Only for a one-directional model, whose state at t has read exactly tokens 0..t; a
    bidirectional model's backward direction needs the whole text: use ``prefix_logits``.
    """
    if model.num_directions != 1:
        raise ValueError("running_logits needs a one-directional model; use prefix_logits")
    states = model.encode(model.embedding(tokens), lengths)  # (B, T, H)
    steps = torch.arange(1, tokens.size(1) + 1, device=tokens.device, dtype=states.dtype)
    feats = []
    for part in model.pooling:
        if part == "max":
            feats.append(states.cummax(dim=1).values)
        elif part == "mean":
            feats.append(states.cumsum(dim=1) / steps[None, :, None])
        else:
            feats.append(states)
    return model.head(torch.cat(feats, dim=-1))


def prefix_logits(model: nn.Module, tokens: torch.Tensor, prefix_lengths: torch.Tensor,
                  reread: bool = False) -> torch.Tensor:
    """Logits of the prefixes of one review (in eval mode), tokens (T,), prefix_lengths (P,) -> (P,) or (P, K).

    Each prefix is classified as if it were the whole review. A forward direction reads a
    prefix exactly as it reads the start of the text, so one pass over the text serves every
    prefix (``running_logits``). Only a backward direction depends on where the prefix ends:
    for a one-layer bidirectional model, just that direction reads each prefix, reversed
    (``_bidirectional_prefix_logits``). A deeper bidirectional model, or ``reread=True``,
    reads every prefix in full as a batch of its own.
    """
    if not reread and model.num_directions == 1:
        return running_logits(model, tokens[None], tokens.new_tensor([len(tokens)]))[0, prefix_lengths - 1]
    if not reread and len(model.layers) == 1:
        return _bidirectional_prefix_logits(model, tokens, prefix_lengths)
    width = int(prefix_lengths.max())
    positions = torch.arange(width, device=tokens.device)[None, :]  # (1, W)
    prefixes = tokens[:width].expand(len(prefix_lengths), width)  # (P, W)
    prefixes = prefixes.masked_fill(positions >= prefix_lengths[:, None], model.cfg.pad_index)
    return model(prefixes, prefix_lengths)


def _bidirectional_prefix_logits(model: nn.Module, tokens: torch.Tensor, prefix_lengths: torch.Tensor) -> torch.Tensor:
    """``prefix_logits`` of a one-layer bidirectional model: the forward direction once over the
    text, the backward direction over each prefix reversed (``_backward_prefix_pools``).

        text       a b c d e          forward states f0..f4, pooled per prefix by cummax/cumsum
        prefix 3   c b a              backward states of prefix 3 at positions 2, 1, 0
    """
    embedded = model.embedding(tokens)  # (T, E)
    forward = model.layers[0][0](embedded[None])[0][0]  # (T, H): state after reading tokens 0..t
    backward = _backward_prefix_pools(model, embedded, prefix_lengths)
    ends = prefix_lengths - 1
    feats = []
    for part in model.pooling:
        if part == "max":
            feats += [forward.cummax(dim=0).values[ends], backward["max"]]
        elif part == "mean":
            feats += [forward.cumsum(dim=0)[ends] / prefix_lengths[:, None].to(forward.dtype), backward["mean"]]
        else:  # last: the forward state at the prefix's end, the backward state at its first token
            feats += [forward[ends], backward["last"]]
    return model.head(torch.cat(feats, dim=-1))


def _backward_prefix_pools(model: nn.Module, embedded: torch.Tensor,
                           prefix_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
    """The backward direction's states over each prefix, reversed, pooled: {part: (P, H)}.

    The prefixes are packed, longest first, so a short prefix costs only its own length; a
    GRU steps by hand (``gru_kernels.gru_prefix_pools``), reading one input projection of the text.
    """
    rnn = model.layers[0][1]
    if model.cfg.cell == "gru":
        return gru_kernels.gru_prefix_pools(rnn, embedded, prefix_lengths, model.pooling)
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
def infer(model: nn.Module, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``forward`` in eval mode, without gradients: tokens (B, T) right-padded, lengths (B,) -> logits.

    A one-layer GRU steps both directions at once and only over each review's own length
    (``gru_kernels.gru_infer``): about a third faster than two library calls on a sorted batch.
    """
    if model.cfg.cell == "gru" and len(model.layers) == 1 and not model.training:
        return gru_kernels.gru_infer(model, tokens, lengths)
    return model(tokens, lengths)


def path_gradients(model: nn.Module, embedded: torch.Tensor, alphas: torch.Tensor,
                   target: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores and gradients along the straight path from all-zero embeddings to ``embedded`` (T, E).

    At each point ``alphas[s] * embedded``: the score of ``target`` (``score_head``; the logit
    of a two-class model) (S,), and each token's gradient times its embedding,
    x_t . dscore/dx_t (S, T); integrated gradients are a weighted sum of the latter. Eval mode
    only. A one-layer GRU takes a hand-written backward pass (``gru_kernels.gru_path``):
    autograd through a recurrence spends most of its time on bookkeeping.
    """
    if model.training:
        raise ValueError("path_gradients needs a model in eval mode")
    if model.cfg.cell == "gru" and len(model.layers) == 1:
        return gru_kernels.gru_path(model, embedded, alphas, head=model.score_head(target))
    model.score_head(target)  # checks the target
    path = (alphas[:, None, None] * embedded.detach()).requires_grad_(True)  # (S, T, E)
    with torch.enable_grad():
        logits = model.classify(path, torch.full((len(alphas),), embedded.size(0), device=embedded.device))
        scores = model.score(logits, target)
        (grads,) = torch.autograd.grad(scores.sum(), path)
    return scores.detach(), (grads * embedded).sum(dim=-1)
