"""Adversarial training on word embeddings (Miyato, Dai and Goodfellow, 2017).

Each training batch is also read with its word embeddings moved a small step in the direction
that raises the loss most, and the model learns to classify both. The step is the loss gradient
with respect to the embeddings, scaled per review to ``epsilon`` times the norm of that review's
embeddings: relative, so the model cannot shrink the perturbation by growing its embeddings (the
paper normalises the embeddings for the same reason). It regularises where the model is most
fragile: a word nearby in embedding space should not flip the verdict.

The two readings go through the model as one batch of twice the size (clean rows, then
perturbed ones), so under DistributedDataParallel a step is still one forward and one backward,
and the training loss is the mean over both readings (higher than a clean reading's).
The gradient that finds the direction is taken on the bare model and touches no parameter's
gradient.
"""

from __future__ import annotations

import torch
from torch import nn

from .model import SentimentRNN
from .padding import real_positions


def perturbation(model: SentimentRNN, tokens: torch.Tensor, lengths: torch.Tensor, target: torch.Tensor,
                 loss_fn: nn.Module, epsilon: float, packed: bool = False) -> torch.Tensor:
    """(B, T, E) embedding perturbation of L2 norm ``epsilon`` x each review's embedding norm, along
    the gradient of the loss; zero on padding. Carries no graph."""
    embedded = model.embedding(tokens)
    if not embedded.requires_grad:  # embeddings frozen (gradual unfreezing): the direction is still wanted
        embedded.requires_grad_()
    loss = loss_fn(model.classify(embedded, lengths, packed).float(), target)
    (grad,) = torch.autograd.grad(loss, embedded)
    mask = real_positions(lengths, tokens.size(1))
    grad = grad.float().masked_fill(~mask, 0.0)
    size = embedded.detach().float().masked_fill(~mask, 0.0).flatten(1).norm(dim=1)  # (B,)
    scale = epsilon * size / grad.flatten(1).norm(dim=1).clamp_min(1e-12)
    return (grad * scale[:, None, None]).to(embedded.dtype)


def doubled_batch(tokens: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor,
                  delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The clean rows then the perturbed rows: (tokens, lengths, labels, perturbation) of 2B rows."""
    return (torch.cat([tokens, tokens]), torch.cat([lengths, lengths]), torch.cat([labels, labels]),
            torch.cat([torch.zeros_like(delta), delta]))
