"""What the app draws of one text, beside its probabilities: the running prediction, word
attributions, and how far back a prediction reaches.

``analyze`` adds what the app draws: the running prediction at ``RUNNING_POINTS`` points and
integrated-gradients word attributions from ``IG_STEPS`` gradient evaluations, with how far
those attributions miss their defining sum (``Analysis.completeness_error``).

A two-class model explains its positive class (its one logit). A model of more classes explains
one class at a time, by default the one it predicts: the *score* it follows is that class's logit
minus the mean logit (``SentimentRNN.score_head``), which moves exactly as the evidence for the
class against the average class does.

``gradient_by_position`` shows how far back a prediction reaches: the norm of the logit's
gradient with respect to each token's embedding, against the token's distance from the end.

``Explanations`` holds these as methods of ``predict.Predictor``; they read a text through the
predictor's public reading, encoding and probability methods.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from .model import class_probabilities

# Points of the running prediction: a chart of a long review needs no more.
RUNNING_POINTS = 50
# Gradient evaluations of integrated gradients (see ``Predictor.integrated_gradients``).
IG_STEPS = 25
# Rounds of bisecting the Simpson panels that miss their logit change the most, and the gradient
# evaluations per bisected panel (the two new halves' midpoints; the old midpoint is a shared end).
_ROUNDS = 3
_BISECT_COST = 2
# Bisected panels per round for each this many gradient evaluations of the budget.
_STEPS_PER_BISECTION = 12
# Rounds stop once the panels' integrals miss their logit changes by at most this share of the
# whole change, in all (no panel's miss cancels another's).
IG_TOLERANCE = 0.01

# cuDNN's switch is process-wide: overlapping attribution calls on CUDA must not restore each
# other's value (see ``_plain_rnn_kernels``).
_CUDNN_LOCK = threading.Lock()


@dataclass
class Analysis:
    """Everything the app shows for one text."""

    tokens: list[str]
    probabilities: dict[str, float]
    running: list[float]  # P(target) if the review ended after token i (see ``running_positions``)
    running_positions: list[int]  # 1-based token counts the running values belong to
    attributions: list[float]  # per token, in score units; they sum to about score(text) - score(baseline)
    truncated: bool
    cut_at: int | None = None  # see ``Reading``
    replaced: bool = False  # see ``Reading``
    completeness_error: float = 0.0  # see ``Attribution``
    steps: int = 0  # gradient evaluations behind ``attributions``
    # The class ``running`` and ``attributions`` are about: the positive one of two, else the predicted one.
    target: str = ""
    running_probabilities: dict[str, list[float]] = field(default_factory=dict)  # every class, per point
    closed: bool = False  # see ``Reading``


@dataclass
class Attribution:
    """Integrated-gradients attributions of one text, and how well they add up."""

    scores: list[float]  # per token, in logit units
    logit: float  # logit(text): the score explained (``SentimentRNN.score_head``)
    baseline_logit: float  # logit of the baseline: every token's embedding zero (<pad>)
    steps: int  # gradient evaluations used
    target: str = ""  # the class explained

    @property
    def completeness_error(self) -> float:
        """|sum(scores) - (logit - baseline_logit)| / |logit - baseline_logit|: 0 for exact integrals."""
        change = self.logit - self.baseline_logit
        miss = abs(sum(self.scores) - change)
        if change == 0:
            return 0.0 if miss == 0 else float("inf")
        return miss / abs(change)


@dataclass
class GradientFlow:
    """How strongly one prediction depends on each token it reads: the gradient of the logit
    with respect to each token's embedding, by position."""

    tokens: list[str]
    norms: list[float]  # per token, the L2 norm of d logit / d embedding (logit units per embedding unit)
    distances: list[int]  # per token, how many tokens the model reads after it: 0 for the last
    logit: float  # the score of the text: the positive logit of two classes, the target's score of more
    probabilities: dict[str, float]
    truncated: bool  # see ``Reading``
    cut_at: int | None = None
    replaced: bool = False
    closed: bool = False


@contextlib.contextmanager
def _plain_rnn_kernels(device: torch.device) -> Iterator[None]:
    """On CUDA, switch cuDNN off around an RNN backward pass in eval mode; elsewhere, touch nothing.

    cuDNN only runs RNN backward in training mode. Its switch is process-wide, so while one call
    holds it off, other CUDA work in the process (a training run) uses the plain kernels too: still
    correct, a little slower. The lock makes overlapping calls take turns, so each restores the
    value it found and the switch always ends up as it was.
    """
    if device.type != "cuda":
        yield
        return
    with _CUDNN_LOCK:
        saved = torch.backends.cudnn.enabled
        torch.backends.cudnn.enabled = False
        try:
            yield
        finally:
            torch.backends.cudnn.enabled = saved


class Explanations:
    """The explanation methods of ``predict.Predictor`` (a mixin: it needs the predictor's ``model``,
    ``labels``, ``device``, ``read``, ``encode``, ``class_to_explain`` and ``probability_rows``)."""

    def running(self, tokens: list[str], max_points: int = RUNNING_POINTS,
                target: str | None = None) -> tuple[list[int], list[float]]:
        """P(target) had the review ended after each token: (1-based token counts, probabilities).

        ``target``: a label; by default the positive one of two, else the class predicted for the
        whole text. At most ``max_points`` (at least 2) counts, evenly spread, always with the
        first token and the whole text; the last probability is the prediction's.
        """
        if target is not None and target not in self.labels:
            raise ValueError(f"unknown label {target!r}; the model's labels are {self.labels}")
        positions, rows = self.running_probabilities(tokens, max_points)
        if target is None and len(self.labels) > 2:
            column = max(range(len(self.labels)), key=rows[-1].__getitem__)
        else:
            column = self.labels.index(target) if target is not None else 1
        return positions, [row[column] for row in rows]

    @torch.inference_mode()
    def running_probabilities(self, tokens: list[str],
                              max_points: int = RUNNING_POINTS) -> tuple[list[int], list[list[float]]]:
        """Every class's probability had the review ended after each token: (1-based token
        counts, one row of probabilities per count, in label order); see ``running``."""
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2, not {max_points}")
        ids = self.encode(tokens)
        positions = torch.linspace(1, len(ids), min(len(ids), max_points)).round().long().unique()
        logits = self.model.prefix_logits(ids, positions.to(self.device))
        return positions.tolist(), class_probabilities(logits.float()).tolist()

    def integrated_gradients(self, tokens: list[str], steps: int = IG_STEPS, target: str | None = None) -> Attribution:
        """Integrated gradients of the positive logit (of a two-class model; of more classes, the
        score of ``target``, by default the predicted class) w.r.t. each token's embedding, summed per token.

        The baseline is the all-<pad> (zero) embedding and the path the straight line to the
        text's embeddings (Sundararajan et al., 2017): the scores add up to logit(text) -
        logit(baseline) up to the quadrature's error, ``Attribution.completeness_error``. On this
        project's models the logit can turn within a few thousandths of that path, which no rule
        of a few dozen fixed points resolves (Gauss-Legendre did no better than the midpoint
        rule). So the integral is adaptive: composite Simpson over equal panels, whose ends give
        the exact logit change over each panel; then ``_ROUNDS`` rounds, each bisecting the panels
        whose integral misses that change the most (two new gradients a panel), so a turn is
        narrowed down where it is, all within ``steps`` gradient evaluations. The rounds stop once
        the panels miss their changes by at most ``IG_TOLERANCE`` of the whole change in all: a
        smooth path needs no more. With the default (6 panels, then up to 3 rounds of 2
        bisections: 13 to 25 evaluations in 1 to 4 batches), the median error over 100 random test
        reviews is 0.3% for the shipped default and 2.8% for ``reader``, whose logit turns more
        sharply (the earlier rule, 10 panels and one split in four, 27 evaluations: 8.0% for
        ``reader``) (``python bench/bench_predict.py --completeness-reviews 100``).
        """
        if steps < 3:
            raise ValueError(f"steps must be at least 3, not {steps}")
        per_round = max(1, (steps - 1) // _STEPS_PER_BISECTION)
        panels = (steps - 1 - _ROUNDS * per_round * _BISECT_COST) // 2
        rounds = _ROUNDS
        if panels < 2 * per_round:  # too few steps to refine: one round
            rounds, panels = 0, (steps - 1) // 2
        index = self.class_to_explain(target, tokens)
        ids = self.encode(tokens)
        with torch.no_grad():
            embedded = self.model.embedding(ids)  # (T, E)
        quadrature = _Simpson(self.model, embedded, index)
        with _plain_rnn_kernels(self.device):
            quadrature.add([(i / panels, (i + 1) / panels) for i in range(panels)])
            change = abs(quadrature.logits[1.0] - quadrature.logits[0.0])
            for _ in range(rounds):
                if quadrature.missed() <= IG_TOLERANCE * change:
                    break
                quadrature.bisect(per_round)
        return dataclasses.replace(quadrature.result(), target=self.labels[1 if index is None else index])

    def attributions(self, tokens: list[str], steps: int = IG_STEPS, target: str | None = None) -> list[float]:
        """Per-token integrated gradients (``integrated_gradients``' scores), in logit units."""
        return self.integrated_gradients(tokens, steps, target).scores

    def gradient_by_position(self, text: str, target: str | None = None) -> GradientFlow:
        """Per token of ``text`` (read as ``predict`` reads it), the L2 norm of the gradient of the
        positive logit with respect to the token's embedding, with its distance from the end.

        One forward and one backward pass through the model as trained (eval mode: no dropout).
        In a one-directional model whose logit reads the last state, the norm at distance d
        falls with d as far as the gradient through d recurrent steps shrinks: the vanishing
        gradient of a vanilla RNN shows as a straight drop on a log scale. A norm can be 0.0 where
        float32 underflows; plot it on a log scale with a floor.
        """
        reading = self.read(text)
        index = self.class_to_explain(target, reading.tokens)
        ids = self.encode(reading.tokens)
        with torch.no_grad():
            embedded = self.model.embedding(ids)[None]  # (1, T, E)
        embedded.requires_grad_(True)
        with _plain_rnn_kernels(self.device), torch.enable_grad():
            logits = self.model.classify(embedded, torch.tensor([len(ids)], device=self.device))  # (1,) or (1, K)
            score = self.model.score(logits, index)  # (1,)
            (grad,) = torch.autograd.grad(score.sum(), embedded)  # (1, T, E)
        norms = grad[0].float().norm(dim=-1)  # (T,)
        count = len(reading.tokens)
        return GradientFlow(reading.tokens, norms.tolist(), list(range(count - 1, -1, -1)), score.item(),
                            self.probability_rows(logits.detach())[0], reading.truncated, reading.cut_at,
                            reading.replaced, reading.closed)

    def analyze(self, text: str, max_points: int = RUNNING_POINTS, steps: int = IG_STEPS) -> Analysis:
        """Probabilities, running prediction and word attributions of one text, read once.

        The probabilities are the running prediction's last point: the whole text.
        """
        reading = self.read(text)
        positions, rows = self.running_probabilities(reading.tokens, max_points)
        probs = dict(zip(self.labels, rows[-1]))
        target = self.labels[1] if len(self.labels) == 2 else max(probs, key=probs.get)
        attribution = self.integrated_gradients(reading.tokens, steps, target)
        column = self.labels.index(target)
        return Analysis(reading.tokens, probs, [row[column] for row in rows], positions, attribution.scores,
                        reading.truncated, reading.cut_at, reading.replaced, attribution.completeness_error,
                        attribution.steps, target,
                        {label: [row[c] for row in rows] for c, label in enumerate(self.labels)}, reading.closed)


class _Simpson:
    """Composite Simpson over panels of [0, 1] along the integrated-gradients path.

    Simpson's nodes include each panel's ends, so the logit change over every panel is known
    exactly and ``bisect`` can split the panels whose integral misses it the most.
    """

    def __init__(self, model: torch.nn.Module, embedded: torch.Tensor, target: int | None = None):
        self.model, self.embedded, self.target = model, embedded, target
        self.logits: dict[float, float] = {}  # alpha -> logit
        self.grads: dict[float, torch.Tensor] = {}  # alpha -> (T,) gradient . embedding per token
        self.panels: list[tuple[float, float]] = []

    def add(self, panels: list[tuple[float, float]]) -> None:
        """Evaluate the nodes of new panels that are not known yet, in one batch."""
        alphas = sorted({x for a, b in panels for x in (a, (a + b) / 2, b)} - self.grads.keys())
        points = torch.tensor(alphas, dtype=self.embedded.dtype, device=self.embedded.device)
        logits, grads = self.model.path_gradients(self.embedded, points, self.target)  # (S,), (S, T)
        self.logits.update(zip(alphas, logits.tolist()))
        self.grads.update(zip(alphas, grads))
        self.panels += panels

    def integral(self, panel: tuple[float, float]) -> torch.Tensor:
        """Simpson's rule over one panel, per token: (T,)."""
        a, b = panel
        return (b - a) / 6 * (self.grads[a] + 4 * self.grads[(a + b) / 2] + self.grads[b])

    def miss(self, panel: tuple[float, float]) -> float:
        """How far the panel's integral is from the exact logit change over it."""
        a, b = panel
        return abs(float(self.integral(panel).sum()) - (self.logits[b] - self.logits[a]))

    def missed(self) -> float:
        """How far the panels' integrals miss their logit changes, in all."""
        return sum(self.miss(panel) for panel in self.panels)

    def bisect(self, count: int) -> None:
        """Split the ``count`` panels that miss their logit change the most in two each."""
        worst = sorted(self.panels, key=self.miss, reverse=True)[:count]
        self.panels = [panel for panel in self.panels if panel not in worst]
        self.add([half for a, b in worst for half in ((a, (a + b) / 2), ((a + b) / 2, b))])

    def result(self) -> Attribution:
        scores = torch.stack([self.integral(panel) for panel in self.panels]).sum(dim=0)
        return Attribution(scores.tolist(), self.logits[1.0], self.logits[0.0], len(self.grads))
