"""Loss, accuracy, precision, recall, F1 (per class and macro) and the k x k confusion matrix of
a model on a loader, and the one split a checkpoint is scored on."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader

from .config import TrainConfig
from .data import (
    BucketBatchSampler,
    DataError,
    EncodedDataset,
    Progress,
    Reviews,
    Source,
    TokenCache,
    check_data_options,
    collate,
    imdb_classes,
    is_table,
    load_table_corpus,
    resolve_source,
    split_indices,
    stratified_sample,
)
from .data.corpus import imdb_labels, relabel
from .utils import mixed_precision

EVAL_SPLITS = ("test", "val")


@dataclass
class Metrics:
    """Classification metrics from a confusion matrix.

    Two classes: ``precision``, ``recall`` and ``f1`` are the positive (second) class's. More:
    they are macro averages (each class counts the same). ``macro_f1`` and the per-class lists
    are there for any number of classes.
    """

    loss: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    # k x k counts: rows are the truth, columns the prediction; two classes: [[tn, fp], [fn, tp]].
    confusion: list[list[int]]
    count: int
    macro_f1: float = 0.0
    class_precision: list[float] = field(default_factory=list)
    class_recall: list[float] = field(default_factory=list)
    class_f1: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_confusion(cls, loss: float, confusion: list[list[int]]) -> Metrics:
        k = len(confusion)
        count = sum(map(sum, confusion))
        correct = sum(confusion[c][c] for c in range(k))
        predicted = [sum(row[c] for row in confusion) for c in range(k)]
        actual = [sum(row) for row in confusion]
        precision = [confusion[c][c] / predicted[c] if predicted[c] else 0.0 for c in range(k)]
        recall = [confusion[c][c] / actual[c] if actual[c] else 0.0 for c in range(k)]
        f1 = [2 * p * r / (p + r) if p + r else 0.0 for p, r in zip(precision, recall)]
        macro = [sum(values) / k for values in (precision, recall, f1)]
        headline = (precision[1], recall[1], f1[1]) if k == 2 else macro
        return cls(loss, correct / count if count else 0.0, *headline, [list(row) for row in confusion], count,
                   macro[2], precision, recall, f1)

    @classmethod
    def from_counts(cls, loss: float, tn: int, fp: int, fn: int, tp: int) -> Metrics:
        """Two-class metrics from the four counts."""
        return cls.from_confusion(loss, [[tn, fp], [fn, tp]])


def loss_function(num_classes: int, reduction: str = "mean") -> nn.Module:
    """Binary cross-entropy on the one logit of two classes; cross-entropy over the logits of more."""
    return nn.BCEWithLogitsLoss(reduction=reduction) if num_classes == 2 else nn.CrossEntropyLoss(reduction=reduction)


def targets(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices as ``loss_function`` wants them: floats for the binary loss, int64 otherwise."""
    return labels.float() if num_classes == 2 else labels.long()


def predictions(logits: torch.Tensor) -> torch.Tensor:
    """Predicted class indices from logits (B,) of two classes or (B, K) of more."""
    return (logits > 0).long() if logits.dim() == 1 else logits.argmax(dim=-1)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device | str = "cpu", packed: bool = False,
             precision: str = "float32", reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Metrics:
    """Metrics of ``model`` over every batch of ``loader`` (model left in eval mode).

    Sums stay on the device until the end: one synchronisation per pass, not four per batch.
    ``reduce`` (e.g. a sum over processes) is applied to the sums first: [loss, k x k counts].
    """
    device = torch.device(device)
    model.eval()
    k = model.cfg.num_classes
    loss_fn = loss_function(k, reduction="sum")
    sums = torch.zeros(1 + k * k, dtype=torch.float64, device=device)  # loss, then the confusion counts
    for tokens, lengths, labels in loader:
        tokens, lengths, labels = (t.to(device, non_blocking=True) for t in (tokens, lengths, labels))
        with mixed_precision(device, precision):
            logits = model(tokens, lengths, packed=packed).float()
        sums[0] += loss_fn(logits, targets(labels, k))
        # k * truth + prediction: the index of the confusion cell, row-major
        sums[1:] += torch.bincount(k * labels.long() + predictions(logits), minlength=k * k)
    if reduce is not None:
        sums = reduce(sums)
    values = sums.cpu().tolist()
    confusion = [[int(values[1 + k * t + p]) for p in range(k)] for t in range(k)]
    count = sum(map(sum, confusion))
    return Metrics.from_confusion(values[0] / count if count else 0.0, confusion)


@torch.no_grad()
def dataset_logits(model: nn.Module, dataset: EncodedDataset, batch_size: int, progress: Progress) -> torch.Tensor:
    """Logits of every review, (N,) or (N, K), in dataset order, from the length-sorted batches ``evaluate`` reads."""
    model.eval()
    outputs = model.cfg.num_outputs
    logits = torch.zeros(len(dataset)) if outputs == 1 else torch.zeros(len(dataset), outputs)
    done = 0
    progress("classify", 0, len(dataset))
    for batch in BucketBatchSampler(dataset.lengths, batch_size, shuffle=False):
        tokens, lengths, _ = collate([dataset[i] for i in batch])
        logits[batch] = model(tokens, lengths).float()
        done += len(batch)
        progress("classify", done, len(dataset))
    return logits


def no_progress(stage: str, done: int, total: int) -> None:
    pass


def split_config(train_config: TrainConfig | None, data: str = "", cache_dir: str = "",
                 max_samples: int = 0) -> TrainConfig:
    """The settings that rebuild a checkpoint's split (its seed and validation share, its IMDB
    labels or file columns) on the data given here, ``max_samples`` reviews of it (0 = all);
    ``ValueError`` if that is out of bounds. Without ``data``, a checkpoint trained on a labelled
    file is scored on that file again, one trained on IMDB on ``$SENTIMENT_DATA`` or the download."""
    base = train_config or TrainConfig()
    if not data and is_table(base.data):
        data = base.data
    changes: dict = dict(data=data, cache_dir=cache_dir, max_eval_samples=max_samples, pretrain_embeddings=False)
    if is_table(data) != is_table(base.data):  # IMDB settings mean nothing for a file, and the reverse
        changes.update(imdb_labels="polarity", text_column="", label_column="", split_column="")
    return dataclasses.replace(base, **changes)


def load_split(cfg: TrainConfig, split: str, progress: Progress = no_progress,
               source: Source | None = None, classes: Sequence[str] | None = None) -> Reviews:
    """The validation or test reviews of the run ``cfg`` describes (its seed, validation share and
    ``max_eval_samples`` slice, as ``load_corpus`` picks them), tokenizing only those: scoring a
    checkpoint reads neither its training reviews nor the 50,000 unlabeled ones. ``source``: the
    IMDB data of ``cfg`` already opened, to read its raw texts again without a second pass.

    ``classes``: the checkpoint's label names; the reviews' labels are then indices into them,
    and a class of the data the checkpoint does not know is a ``DataError``.
    """
    if split not in EVAL_SPLITS:
        raise ValueError(f"split must be one of {EVAL_SPLITS}, not {split!r}")
    check_data_options(cfg)
    if is_table(cfg.data):
        corpus = load_table_corpus(cfg, progress)
        reviews, names = corpus.test if split == "test" else corpus.val, corpus.classes
        if split == "test" and not len(reviews):
            raise DataError(f"{cfg.data} has no test rows (its split column names none); score split 'val'")
    else:
        source = source or Source(resolve_source(cfg.data, cfg.cache_dir, progress), progress)
        cache = TokenCache(source, cfg.cache_dir)
        names = imdb_classes(cfg.imdb_labels)
        archive_split = "test" if split == "test" else "train"
        labels = imdb_labels(cache, archive_split, cfg.imdb_labels)
        if split == "test":
            indices = stratified_sample(labels, cfg.max_eval_samples, cfg.seed) if cfg.max_eval_samples else None
        else:
            _, indices = split_indices(labels, cfg.val_fraction, cfg.seed)
            if cfg.max_eval_samples:
                indices = [indices[i] for i in stratified_sample([labels[i] for i in indices], cfg.max_eval_samples,
                                                                 cfg.seed)]
        reviews = relabel(cache.load({archive_split: indices}, progress)[archive_split], cfg.imdb_labels)
    if classes is None or list(classes) == names:
        return reviews
    unknown = sorted({names[y] for y in reviews.labels} - set(classes))
    if unknown:
        raise DataError(f"the data has class{'es' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}, "
                        f"which the checkpoint doesn't know (its classes: {', '.join(map(repr, classes))})")
    index = {name: i for i, name in enumerate(classes)}
    return Reviews(reviews.ids, [index[names[y]] for y in reviews.labels], reviews.items)
