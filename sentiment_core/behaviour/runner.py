"""Run one half of the behaviour suite against a polarity classifier and score every test.

A two-class model's P(positive) is read in three bands: negative below 1/3, neutral from 1/3 to
2/3, positive above 2/3. What each expectation asks of it:

- "positive", "negative": the most probable label is that one;
- "not negative": P(positive) >= 1/3;
- "neutral": 1/3 <= P(positive) <= 2/3;
- "invariant": the perturbed text lands in the original's band, and P(positive) moves by at most
  ``INVARIANCE_TOLERANCE``;
- "not less positive" / "not more positive": the perturbed text's P(positive) does not fall / rise
  by more than ``DIRECTION_TOLERANCE`` (a model already at 0.99 has no room to move the right way).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .suite import LABEL_EXPECTATIONS, MAX_CASES, SUITE_VERSION, BehaviourTest, Case, Suite, fill, load_half

POLARITY_LABELS = frozenset({"negative", "positive"})
NEGATIVE_BELOW = 1 / 3
POSITIVE_ABOVE = 2 / 3
# A swapped name or a dropped full stop that moves P(positive) by more than a tenth changes what a
# user reads off the app's bar, even inside one band.
INVARIANCE_TOLERANCE = 0.1
# Smaller than the invariance tolerance: a move the wrong way is a reversal, not noise.
DIRECTION_TOLERANCE = 0.05
MAX_EXAMPLES = 3
BATCH_SIZE = 256

PredictFn = Callable[[list[str]], Sequence[dict[str, float]]]


@dataclass
class Example:
    """A failing case: its text (and perturbed text, for a pair) with the model's probabilities."""

    text: str
    probabilities: dict[str, float]
    perturbed: str | None = None
    perturbed_probabilities: dict[str, float] | None = None


@dataclass
class BehaviourResult:
    """How one test went."""

    name: str
    capability: str
    expectation: str
    cases: int
    failures: int
    failure_rate: float
    examples: list[Example]  # the first failing cases, in the suite's order


@dataclass
class Summary:
    """Mean failure rates over groups of tests (see ``SUMMARY_GROUPS``); None for a group without tests."""

    polar: float | None
    negation: float | None
    identity: float | None
    overall: float | None


# (Summary field, title, which tests it averages over): the one list the summary and its table read.
SUMMARY_GROUPS: tuple[tuple[str, str, Callable[[BehaviourResult], bool]], ...] = (
    ("polar", "tests expecting a label", lambda r: r.expectation in LABEL_EXPECTATIONS),
    ("negation", "negation tests", lambda r: r.capability.startswith("negation")),
    ("identity", "identity-term invariance", lambda r: r.capability == "identity terms"),
    ("overall", "all tests", lambda r: True),
)


@dataclass
class SuiteResult:
    """One half's results: per test, and summed up. Plain data: ``to_dict`` is JSON-ready."""

    version: str
    half: str
    seed: int
    max_cases: int
    tests: list[BehaviourResult]
    summary: Summary

    @property
    def cases(self) -> int:
        return sum(test.cases for test in self.tests)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SuiteResult:
        tests = [BehaviourResult(**{**t, "examples": [Example(**e) for e in t["examples"]]}) for t in data["tests"]]
        return cls(**{**data, "tests": tests, "summary": Summary(**data["summary"])})


def band(positive: float) -> str:
    """The band P(positive) falls in: 'negative', 'neutral' or 'positive'."""
    if positive < NEGATIVE_BELOW:
        return "negative"
    return "positive" if positive > POSITIVE_ABOVE else "neutral"


def passes(expectation: str, probabilities: dict[str, float], perturbed: dict[str, float] | None = None) -> bool:
    """Whether a case meets its expectation; ``perturbed`` holds the second text's probabilities of a pair."""
    p = probabilities["positive"]
    if expectation in LABEL_EXPECTATIONS:
        return max(probabilities, key=probabilities.get) == expectation
    if expectation == "not negative":
        return p >= NEGATIVE_BELOW
    if expectation == "neutral":
        return band(p) == "neutral"
    if perturbed is None:
        raise ValueError(f"{expectation!r} compares two texts; give the perturbed text's probabilities")
    q = perturbed["positive"]
    if expectation == "invariant":
        return band(q) == band(p) and abs(q - p) <= INVARIANCE_TOLERANCE
    if expectation == "not less positive":
        return q >= p - DIRECTION_TOLERANCE
    if expectation == "not more positive":
        return q <= p + DIRECTION_TOLERANCE
    raise ValueError(f"unknown expectation {expectation!r}")


def applies_to(labels: Sequence[str]) -> bool:
    """Whether the suite can test a model with these labels: exactly 'negative' and 'positive', in any order."""
    return len(labels) == 2 and set(labels) == POLARITY_LABELS


def _predict(predict_fn: PredictFn, texts: list[str], batch_size: int) -> dict[str, dict[str, float]]:
    """{text: probabilities}, predicted ``batch_size`` texts at a time."""
    out = {}
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        rows = predict_fn(batch)
        if len(rows) != len(batch):
            raise ValueError(f"predict_fn returned {len(rows)} results for {len(batch)} texts")
        for text, row in zip(batch, rows):
            if set(row) != POLARITY_LABELS:
                raise ValueError(f"predict_fn must return probabilities of {sorted(POLARITY_LABELS)}, "
                                 f"not {sorted(row)}")
            out[text] = {label: float(value) for label, value in row.items()}
    return out


def _score(test: BehaviourTest, cases: list[Case], probs: dict[str, dict[str, float]],
           max_examples: int) -> BehaviourResult:
    failing = [case for case in cases if not passes(test.expectation, probs[case.text],
                                                    probs[case.perturbed] if case.perturbed else None)]
    examples = [Example(case.text, probs[case.text], case.perturbed, probs[case.perturbed] if case.perturbed else None)
                for case in failing[:max_examples]]
    rate = len(failing) / len(cases) if cases else 0.0
    return BehaviourResult(test.name, test.capability, test.expectation, len(cases), len(failing), rate, examples)


def summarize(results: list[BehaviourResult]) -> Summary:
    """The mean failure rate of each group of ``SUMMARY_GROUPS`` (tests without cases left out)."""
    means = {}
    for key, _, member in SUMMARY_GROUPS:
        rates = [r.failure_rate for r in results if r.cases and member(r)]
        means[key] = sum(rates) / len(rates) if rates else None
    return Summary(**means)


def run_suite(predict_fn: PredictFn, labels: Sequence[str], half: str | Suite = "dev", *,
              max_cases: int = MAX_CASES, max_examples: int = MAX_EXAMPLES, seed: int = 0,
              batch_size: int = BATCH_SIZE) -> SuiteResult:
    """Score a polarity model on one half ('dev', 'heldout', or a ``Suite`` of one's own).

    ``predict_fn(texts)`` returns {label: probability} per text, as ``Predictor.predict_batch`` does;
    every text of the half goes through it once, ``batch_size`` at a time. Raises ``ValueError``
    for labels other than exactly negative and positive: the suite does not apply to them.
    """
    if not applies_to(labels):
        raise ValueError("the behaviour suite does not apply to this model: it tests sentiment polarity "
                         f"(labels negative and positive), and the model's labels are {list(labels)}")
    for name, value, least in (("max_cases", max_cases, 1), ("max_examples", max_examples, 0),
                               ("batch_size", batch_size, 1)):
        if value < least:
            raise ValueError(f"{name} must be at least {least}, not {value}")
    suite = half if isinstance(half, Suite) else load_half(half)
    cases = {test.name: fill(test, suite.lexicons, max_cases, seed) for test in suite.tests}
    texts = [case.text for test_cases in cases.values() for case in test_cases]
    texts += [case.perturbed for test_cases in cases.values() for case in test_cases if case.perturbed]
    probs = _predict(predict_fn, list(dict.fromkeys(texts)), batch_size)
    results = [_score(test, cases[test.name], probs, max_examples) for test in suite.tests]
    return SuiteResult(SUITE_VERSION, suite.half, seed, max_cases, results, summarize(results))
