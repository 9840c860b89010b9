"""Temperature scaling (Guo et al., 2017) and how far a model's probabilities are from its accuracy.

A probability shown as 97% should be right 97% of the time. Networks trained to minimise the
cross-entropy tend to be over-confident; one scalar T > 0, fitted on the validation reviews,
divides every logit and fixes most of that without moving any prediction::

    logits, labels = collect_logits(model, run.val_loader)
    T = fit_temperature(logits, labels, num_classes)
    fold_temperature(model, T)  # from now on the model's logits are logits / T, for every reader
    expected_calibration_error(probabilities(logits / T), labels)

Two classes have one logit (the positive class's, read by a sigmoid), more have one per class
(a softmax); ``probabilities`` gives (N, K) rows either way, and ECE reads the most probable class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from .behaviour import HALVES, MAX_CASES, fill, load_half, run_suite
from .behaviour.runner import PredictFn
from .behaviour.suite import LABEL_EXPECTATIONS
from .evaluation import Metrics, loss_function, predictions, targets
from .model import class_probabilities
from .utils import mixed_precision

BINS = 15  # equal-width confidence bins, as in Guo et al.
# Bounds of T: beyond them a tiny or separable validation set is being fitted, not calibrated.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0
_GOLDEN = (math.sqrt(5) - 1) / 2
_SEARCH_STEPS = 60  # golden-section steps: the log-T interval (6.0 wide) shrinks by 0.618 each, to ~1e-12


@dataclass
class Bin:
    """One confidence bin of a reliability diagram: (lower, upper], its texts, their mean confidence and accuracy."""

    lower: float
    upper: float
    count: int
    confidence: float  # 0.0 for an empty bin
    accuracy: float  # 0.0 for an empty bin

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(N, K) class probabilities of logits, in float64 (the temperature search compares small differences)."""
    return class_probabilities(logits.double())


def _check(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> None:
    expected = 1 if num_classes == 2 else 2
    if num_classes < 2 or logits.dim() != expected or (expected == 2 and logits.size(1) != num_classes):
        raise ValueError(f"{num_classes} classes need logits of shape "
                         f"{'(N,)' if num_classes == 2 else f'(N, {num_classes})'}, not {tuple(logits.shape)}")
    if len(labels) != len(logits):
        raise ValueError(f"{len(logits)} logits but {len(labels)} labels")
    if not torch.isfinite(logits).all():
        raise ValueError("the logits hold NaN or infinity")


def nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the labels under ``logits / temperature`` (binary or multi-class)."""
    scaled = logits.double() / temperature
    labels = labels.to(logits.device).long()
    if scaled.dim() == 1:
        # -log sigmoid(+-z) keeps losses far below 1e-16 distinct, where the BCE loss rounds them to 0 and
        # a nearly separable validation set would leave the search on a flat stretch.
        return float(-torch.nn.functional.logsigmoid(torch.where(labels == 1, scaled, -scaled)).mean())
    return float(torch.nn.functional.cross_entropy(scaled, labels))


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """The T in [MIN_TEMPERATURE, MAX_TEMPERATURE] that minimises the NLL of ``logits / T``; 1.0 for no logits,
    and at least 1.0 when every logit's prediction is right (nothing tells how much sharper to be).

    The NLL is convex in 1/T, so it has one minimum along log T, which a golden-section search
    finds without gradients, step sizes or randomness: the same logits always give the same T.
    """
    _check(logits, labels, num_classes)
    if not len(logits):
        return 1.0
    logits, labels = logits.detach().double().cpu(), labels.detach().cpu()

    def cost(log_t: float) -> float:
        return nll(logits, labels, math.exp(log_t))

    low, high = math.log(MIN_TEMPERATURE), math.log(MAX_TEMPERATURE)
    a, b = high - _GOLDEN * (high - low), low + _GOLDEN * (high - low)
    cost_a, cost_b = cost(a), cost(b)
    for _ in range(_SEARCH_STEPS):
        if cost_a < cost_b:  # a tie keeps the larger temperatures: never sharper than the data can tell
            high, b, cost_b = b, a, cost_a
            a = high - _GOLDEN * (high - low)
            cost_a = cost(a)
        else:
            low, a, cost_a = a, b, cost_b
            b = low + _GOLDEN * (high - low)
            cost_b = cost(b)
    fitted = math.exp((low + high) / 2)
    if fitted < 1.0 and bool((probabilities(logits).argmax(1) == labels).all()):
        # No mistake to weigh: the NLL falls all the way to MIN_TEMPERATURE, which would show every prediction
        # (a separable validation split of a small file, say) as 100% sure and blow up the test loss.
        return 1.0
    return fitted


def reliability(probs: torch.Tensor, labels: torch.Tensor, bins: int = BINS) -> list[Bin]:
    """Every one of ``bins`` equal-width bins (lower, upper] of confidence (the largest probability
    of each row of ``probs`` (N, K)) with how many rows fall in it, their mean confidence and accuracy."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    if probs.dim() != 2 or len(probs) != len(labels):
        raise ValueError(f"probabilities must be (N, K) with N labels, not {tuple(probs.shape)} for {len(labels)}")
    probs, labels = probs.detach().double().cpu(), labels.detach().long().cpu()
    confidence, predicted = probs.max(dim=-1)
    correct = (predicted == labels).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    index = torch.bucketize(confidence, edges[1:-1])  # (lower, upper]; a confidence of 0 goes to the first bin
    count = torch.bincount(index, minlength=bins)
    confidence_sum = torch.bincount(index, confidence, minlength=bins)
    correct_sum = torch.bincount(index, correct, minlength=bins)
    out = []
    for i in range(bins):
        n = int(count[i])
        out.append(Bin(float(edges[i]), float(edges[i + 1]), n, float(confidence_sum[i]) / n if n else 0.0,
                       float(correct_sum[i]) / n if n else 0.0))
    return out


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = BINS) -> float:
    """ECE: the gap |accuracy - mean confidence| of each confidence bin, weighted by its share of the rows."""
    table = reliability(probs, labels, bins)
    total = sum(b.count for b in table)
    return sum(b.count * abs(b.accuracy - b.confidence) for b in table) / total if total else 0.0


@torch.no_grad()
def fold_temperature(model: nn.Module, temperature: float) -> None:
    """Divide the final layer (``model.fc``) by ``temperature`` in place: the model's logits become logits / T."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"the temperature must be a positive number, not {temperature}")
    # The logits are linear in fc's weight and bias, so dividing both by T divides every logit by T.
    # Probabilities, explanations, running predictions, error tables and evaluation all read the
    # logits, and an older reader loads the file as before: no consumer needs to know T. T > 0
    # keeps every logit's sign and order, so no prediction changes.
    model.fc.weight.div_(temperature)
    if model.fc.bias is not None:
        model.fc.bias.div_(temperature)


@torch.no_grad()
def collect_logits(model: nn.Module, loader: DataLoader, device: torch.device | str = "cpu", packed: bool = False,
                   precision: str = "float32") -> tuple[torch.Tensor, torch.Tensor]:
    """The model's float32 logits ((N,) or (N, K)) and the labels (N,) over every batch of ``loader``,
    run as ``evaluation.evaluate`` runs them (eval mode, the same autocast), on the CPU."""
    device = torch.device(device)
    model.eval()
    all_logits, all_labels = [], []
    for tokens, lengths, labels in loader:
        tokens, lengths = tokens.to(device, non_blocking=True), lengths.to(device, non_blocking=True)
        with mixed_precision(device, precision):
            all_logits.append(model(tokens, lengths, packed=packed).float().cpu())
        all_labels.append(labels.long())
    if not all_logits:
        shape = (0,) if model.cfg.num_classes == 2 else (0, model.cfg.num_classes)
        return torch.zeros(shape), torch.zeros(0, dtype=torch.long)
    return torch.cat(all_logits), torch.cat(all_labels)


def metrics_of(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> Metrics:
    """``evaluation.evaluate``'s metrics from logits already computed: the loss, then the confusion counts."""
    k = num_classes
    loss = float(loss_function(k, reduction="sum")(logits.double(), targets(labels, k).to(logits.device)))
    cells = torch.bincount(k * labels.long() + predictions(logits), minlength=k * k).tolist()
    confusion = [cells[k * t : k * (t + 1)] for t in range(k)]
    return Metrics.from_confusion(loss / len(labels) if len(labels) else 0.0, confusion)


def calibrate(model: nn.Module, loader: DataLoader, device: torch.device | str = "cpu", packed: bool = False,
              precision: str = "float32", bins: int = BINS) -> tuple[dict[str, Any], Metrics]:
    """Fit a temperature on ``loader``'s reviews (the validation split), fold it into ``model``, and
    return the record a checkpoint keeps of it and the calibrated model's metrics on those reviews.

    One pass over the reviews: the calibrated metrics come from the same logits, divided by T.
    """
    logits, labels = collect_logits(model, loader, device, packed, precision)
    k = model.cfg.num_classes
    temperature = fit_temperature(logits, labels, k)
    fold_temperature(model, temperature)
    scaled = logits.double() / temperature
    after = probabilities(scaled)
    record = {
        "temperature": temperature,
        "bins": bins,
        "val_count": len(labels),
        "val_ece_before": expected_calibration_error(probabilities(logits), labels, bins),
        "val_ece_after": expected_calibration_error(after, labels, bins),
        "val_reliability": [b.to_dict() for b in reliability(after, labels, bins) if b.count],
    }
    return record, metrics_of(scaled, labels, k)


def run_behaviour(predict_fn: PredictFn, labels: Sequence[str], bins: int = BINS) -> tuple[dict[str, Any],
                                                                                          dict[str, Any]]:
    """Both halves of the behaviour suite, and how well calibrated the model is on its short sentences.

    Returns ({half: ``SuiteResult.to_dict()``}, {"short_ece", "short_count", "short_reliability"}),
    the latter over the sentences of both halves whose test expects a label (positive or
    negative), scored against that label. Every sentence is predicted once.
    """
    seen: dict[str, dict[str, float]] = {}

    def predict(texts: list[str]) -> Sequence[dict[str, float]]:
        rows = predict_fn(texts)
        seen.update(zip(texts, rows))
        return rows

    labels = list(labels)
    results = {half: run_suite(predict, labels, half, max_cases=MAX_CASES, seed=0).to_dict() for half in HALVES}
    rows, truth = [], []
    for half in HALVES:
        suite = load_half(half)
        for test in suite.tests:
            if test.expectation in LABEL_EXPECTATIONS:
                for case in fill(test, suite.lexicons, MAX_CASES, seed=0):  # the cases run_suite drew
                    rows.append([seen[case.text][label] for label in labels])
                    truth.append(labels.index(test.expectation))
    probs = torch.tensor(rows, dtype=torch.float64).reshape(-1, len(labels))
    truth_tensor = torch.tensor(truth, dtype=torch.long)
    short = {
        "short_ece": expected_calibration_error(probs, truth_tensor, bins),
        "short_count": len(truth),
        "short_reliability": [b.to_dict() for b in reliability(probs, truth_tensor, bins) if b.count],
    }
    return results, short
