"""Loss, accuracy, precision, recall, F1 and the confusion matrix of a model on a loader."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader


@dataclass
class Metrics:
    """Binary classification metrics; ``positive`` is the positive class."""

    loss: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    # [[true neg, false pos], [false neg, true pos]]: rows are the truth, columns the prediction.
    confusion: list[list[int]]
    count: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_counts(cls, loss: float, tn: int, fp: int, fn: int, tp: int) -> Metrics:
        count = tn + fp + fn + tp
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(loss, (tp + tn) / count if count else 0.0, precision, recall, f1, [[tn, fp], [fn, tp]], count)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device | str = "cpu", packed: bool = False) -> Metrics:
    """Metrics of ``model`` over every batch of ``loader`` (model left in eval mode)."""
    model.eval()
    loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
    total_loss, tn, fp, fn, tp = 0.0, 0, 0, 0, 0
    for tokens, lengths, labels in loader:
        tokens, lengths, labels = tokens.to(device), lengths.to(device), labels.to(device)
        logits = model(tokens, lengths, packed=packed)
        total_loss += loss_fn(logits, labels).item()
        pred = logits > 0
        truth = labels > 0.5
        tp += int((pred & truth).sum())
        tn += int((~pred & ~truth).sum())
        fp += int((pred & ~truth).sum())
        fn += int((~pred & truth).sum())
    count = tn + fp + fn + tp
    return Metrics.from_counts(total_loss / count if count else 0.0, tn, fp, fn, tp)
