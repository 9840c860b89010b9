"""Loss, accuracy, precision, recall, F1 and the confusion matrix of a model on a loader,
and the one split a checkpoint is scored on."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from .config import TrainConfig
from .data import Progress, Reviews, Source, TokenCache, resolve_source, split_indices, stratified_sample
from .utils import mixed_precision

EVAL_SPLITS = ("test", "val")


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
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device | str = "cpu", packed: bool = False,
             precision: str = "float32") -> Metrics:
    """Metrics of ``model`` over every batch of ``loader`` (model left in eval mode).

    Sums stay on the device until the end: one synchronisation per pass, not four per batch.
    """
    device = torch.device(device)
    model.eval()
    loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    counts = torch.zeros(4, dtype=torch.long, device=device)  # tn, fp, fn, tp
    for tokens, lengths, labels in loader:
        tokens, lengths, labels = (t.to(device, non_blocking=True) for t in (tokens, lengths, labels))
        with mixed_precision(device, precision):
            logits = model(tokens, lengths, packed=packed).float()
        total_loss += loss_fn(logits, labels)
        # 2 * truth + prediction: 0 = true neg, 1 = false pos, 2 = false neg, 3 = true pos
        counts += torch.bincount(2 * (labels > 0.5).long() + (logits > 0).long(), minlength=4)
    tn, fp, fn, tp = (int(c) for c in counts.cpu())
    count = tn + fp + fn + tp
    return Metrics.from_counts(float(total_loss) / count if count else 0.0, tn, fp, fn, tp)


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


def split_config(train_config: TrainConfig | None, data: str = "", cache_dir: str = "",
                 max_samples: int = 0) -> TrainConfig:
    """The settings that rebuild a checkpoint's split (its seed and validation share) on the data
    given here, ``max_samples`` reviews of it (0 = all); ``ValueError`` if that is out of bounds."""
    base = train_config or TrainConfig()
    return dataclasses.replace(base, data=data, cache_dir=cache_dir, max_eval_samples=max_samples,
                               pretrain_embeddings=False)


def load_split(cfg: TrainConfig, split: str, progress: Progress = _no_progress,
               source: Source | None = None) -> Reviews:
    """The validation or test reviews of the run ``cfg`` describes (its seed, validation share and
    ``max_eval_samples`` slice, as ``load_corpus`` picks them), tokenizing only those: scoring a
    checkpoint reads neither its training reviews nor the 50,000 unlabeled ones. ``source``: the
    data of ``cfg`` already opened, to read its raw texts again without a second pass."""
    if split not in EVAL_SPLITS:
        raise ValueError(f"split must be one of {EVAL_SPLITS}, not {split!r}")
    source = source or Source(resolve_source(cfg.data, cfg.cache_dir, progress), progress)
    cache = TokenCache(source, cfg.cache_dir)
    if split == "test":
        labels = cache.labels("test")
        indices = stratified_sample(labels, cfg.max_eval_samples, cfg.seed) if cfg.max_eval_samples else None
        return cache.load({"test": indices}, progress)["test"]
    labels = cache.labels("train")
    _, indices = split_indices(labels, cfg.val_fraction, cfg.seed)
    if cfg.max_eval_samples:
        indices = [indices[i] for i in stratified_sample([labels[i] for i in indices], cfg.max_eval_samples, cfg.seed)]
    return cache.load({"train": indices}, progress)["train"]
