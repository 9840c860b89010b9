"""Your own behavioural test: one template, an expectation, filled from the suite's lexicons.

    test = template_test("This movie is not {pos_adj}.", "negative")
    result = run_template(predictor.predict_batch, predictor.labels, test)
    result.failure_rate, result.examples  # every failing fill

A template's ``{slot}`` takes every word of the lexicon of that name (the dev half's, or lexicons
of one's own); every combination is one fill, at most ``MAX_FILLS``. Comparisons ("same as
without X", "more positive than without X") name the slot X that is left empty in the first
text (or, for "same whatever X", swapped between two of its words). The CLI and the app share
this module: same bounds, same messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .runner import BehaviourResult, PredictFn, applies_to, run_suite
from .suite import Suite, fill, load_half

MAX_FILLS = 500
MAX_TEMPLATE_CHARS = 500
MAX_LEXICONS = 60
MAX_WORDS = 100  # per lexicon
MAX_WORD_CHARS = 60
NAME = re.compile(r"^\w{1,40}$")
_BRACES = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Expectation:
    """One way a user can state what a template's fills should do, and the suite's expectation behind it."""

    name: str  # as the page, the API and the CLI say it
    suite_name: str  # runner.passes' expectation
    perturb: str | None  # "add" (X empty in the first text) or "swap" (X's words swapped); None for one text
    help: str


EXPECTATIONS = (
    Expectation("positive", "positive", None, "every fill is labelled positive"),
    Expectation("negative", "negative", None, "every fill is labelled negative"),
    Expectation("not negative", "not negative", None, "P(positive) is at least 1/3"),
    Expectation("neutral", "neutral", None, "P(positive) is between 1/3 and 2/3"),
    Expectation("same as without X", "invariant", "add",
                "P(positive) stays in its band and moves by at most 0.1 when the word X is added"),
    Expectation("same whatever X", "invariant", "swap",
                "P(positive) stays in its band and moves by at most 0.1 when X becomes another of its words"),
    Expectation("more positive than without X", "not less positive", "add",
                "adding X does not lower P(positive) by more than 0.05"),
    Expectation("less positive than without X", "not more positive", "add",
                "adding X does not raise P(positive) by more than 0.05"),
)
BY_NAME = {e.name: e for e in EXPECTATIONS}


class TemplateError(ValueError):
    """A template, expectation or lexicon that cannot make a test; the message says why, for a user."""


def default_lexicons() -> dict[str, tuple[str, ...]]:
    """The dev half's lexicons (the held-out half's stay unseen)."""
    return dict(load_half("dev").lexicons)


def check_lexicons(lexicons: object) -> dict[str, tuple[str, ...]]:
    """``lexicons`` as {name: words}, checked against the bounds: ``TemplateError`` if they are off."""
    if not isinstance(lexicons, Mapping):
        raise TemplateError(f"lexicons must map a placeholder name to a list of words, not {type(lexicons).__name__}.")
    if len(lexicons) > MAX_LEXICONS:
        raise TemplateError(f"At most {MAX_LEXICONS} lexicons, not {len(lexicons):,}.")
    checked = {}
    for name, words in lexicons.items():
        if not isinstance(name, str) or not NAME.match(name):
            raise TemplateError(f"A lexicon name is letters, digits and _ (at most 40), not {str(name)[:60]!r}.")
        if isinstance(words, str) or not isinstance(words, Sequence):
            raise TemplateError(f"The lexicon {name!r} must be a list of words.")
        if len(words) > MAX_WORDS:
            raise TemplateError(f"The lexicon {name!r} has {len(words):,} words; at most {MAX_WORDS}.")
        if not all(isinstance(w, str) and len(w) <= MAX_WORD_CHARS for w in words):
            raise TemplateError(f"The lexicon {name!r} must hold strings of at most {MAX_WORD_CHARS} characters.")
        checked[name] = tuple(dict.fromkeys(w.strip() for w in words if w.strip()))
    return checked


def template_test(template: object, expectation: object, slot: object = "",
                  lexicons: object = None) -> Suite:
    """A one-test suite from a user's template, checked before anything is filled.

    ``slot`` is X of a comparison (default: the template's last placeholder); ``lexicons`` default
    to the dev half's. ``TemplateError`` for empty input, an unknown or malformed placeholder, an
    unknown expectation, a template over ``MAX_FILLS`` fills or one that fills to nothing.
    """
    if not isinstance(template, str):
        raise TemplateError(f"The template must be a string, not {type(template).__name__}.")
    if not template.strip():
        raise TemplateError("The template is empty: write a sentence with placeholders such as {pos_adj}.")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"The template has {len(template):,} characters; at most {MAX_TEMPLATE_CHARS}.")
    if not isinstance(expectation, str) or expectation not in BY_NAME:
        raise TemplateError(f"The expectation must be one of: {', '.join(BY_NAME)}; not {str(expectation)[:60]!r}.")
    expect = BY_NAME[expectation]
    lexicons = default_lexicons() if lexicons is None else check_lexicons(lexicons)
    slots = []
    for inside in _BRACES.findall(template):
        if not NAME.match(inside):
            raise TemplateError(f"{{{inside[:40]}}} is not a placeholder: a name of letters, digits and _ in braces.")
        slots.append(inside)
    if unknown := [s for s in dict.fromkeys(slots) if s not in lexicons]:
        raise TemplateError(f"Unknown placeholder{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join('{' + s + '}' for s in unknown)}; known: "
                            f"{', '.join('{' + s + '}' for s in sorted(lexicons))}.")
    if slot is None or slot == "":
        slot = slots[-1] if slots and expect.perturb else ""
    if not isinstance(slot, str):
        raise TemplateError(f"X must be a placeholder name, not {type(slot).__name__}.")
    if expect.perturb and slot not in slots:
        raise TemplateError(f"{expectation!r} compares each fill with and without a placeholder X: put one in the "
                            f"template{f' ({{{slot[:40]}}} is not in it)' if slot else ''}.")
    counts = []
    for name in dict.fromkeys(slots):
        n = len(lexicons[name])
        counts.append(n * (n - 1) // 2 if expect.perturb == "swap" and name == slot else n)
    fills = math.prod(counts)
    if fills > MAX_FILLS:
        raise TemplateError(f"The template has {fills:,} fills; at most {MAX_FILLS}. Use fewer placeholders or "
                            "shorter lexicons.")
    if fills == 0:
        empty = [name for name in dict.fromkeys(slots) if len(lexicons[name]) < (2 if expect.perturb == "swap"
                                                                                    and name == slot else 1)]
        raise TemplateError(f"The template fills to nothing: the lexicon {{{empty[0]}}} has too few words.")
    spec = {"name": "your test", "capability": "your own", "expect": expect.suite_name, "templates": [template]}
    if expect.perturb:
        spec[expect.perturb] = slot
    try:
        return Suite.from_dict({"lexicons": lexicons, "tests": [spec]}, "your own")
    except ValueError as exc:
        raise TemplateError(str(exc)) from None


def run_template(predict_fn: PredictFn, labels: Sequence[str], suite: Suite) -> BehaviourResult:
    """Score a polarity model on a ``template_test`` suite: every fill, every failing one kept as an example.

    ``TemplateError`` when the fills come out empty (every rewrite equal to its text, or blank sentences).
    """
    if not applies_to(labels):
        raise TemplateError(f"The behaviour suite does not apply to a model of labels {', '.join(labels)}: it tests "
                            "sentiment polarity (negative and positive).")
    cases = fill(suite.tests[0], suite.lexicons, max_cases=None)
    if not cases:
        raise TemplateError("The template fills to nothing: every fill with X reads the same as without it.")
    if any(not case.text.strip() or (case.perturbed is not None and not case.perturbed.strip()) for case in cases):
        raise TemplateError("The template fills to nothing: some fills are blank. Put words around the placeholders.")
    return run_suite(predict_fn, labels, suite, max_cases=MAX_FILLS, max_examples=MAX_FILLS).tests[0]
