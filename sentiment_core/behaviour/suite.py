"""The suite's two halves (templates and lexicons) and the sentences they fill in.

A half is one JSON file, ``data/<half>.json``::

    {"lexicons": {"thing": ["movie", "film", ...], ...},
     "tests": [{"name": ..., "capability": ..., "expect": ..., "templates": ["This {thing} was {pos_adj}.", ...]},
               {..., "expect": "invariant", "swap": "religion", "templates": [...]}]}

A template's ``{slot}`` takes a word of the lexicon of that name (the same word wherever the slot
repeats). A test that compares two texts says how the second one is made:

- ``"swap": lexicon``: the slot holds two different words of the lexicon, one per text;
- ``"add": lexicon``: the slot is empty in the first text and holds a word in the second;
- ``"apply": name``: a rewrite of ``perturb.PERTURBATIONS`` (punctuation, contractions, typos).

The halves share no template and no lexicon entry: held-out figures measure wording that nobody
tuned a model or the suite on. The held-out file is frozen by ``HELDOUT_SHA256``.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path

from .perturb import PERTURBATIONS

# Bump when either half changes; the held-out half's hash must then be updated too.
SUITE_VERSION = "1.0"
HALVES = ("dev", "heldout")
DATA_DIR = Path(__file__).resolve().parent / "data"
# sha256 of data/heldout.json with LF line endings (a checkout's line-ending setting does not change it).
HELDOUT_SHA256 = "3447e2f0ccc0cd9c0dfcf108179ccdd9214d651cdc59cb8148daa35f0734b6a6"
MAX_CASES = 200  # fills drawn per test at most

LABEL_EXPECTATIONS = ("positive", "negative")
SINGLE_EXPECTATIONS = (*LABEL_EXPECTATIONS, "not negative", "neutral")
PAIR_EXPECTATIONS = ("invariant", "not less positive", "not more positive")
PERTURB_KINDS = ("swap", "add", "apply")

# Sentences of a bug report about negation: not in the suite, but kept out of training like its sentences.
BUG_REPORT_SENTENCES = (
    "I don't think this was a great film.", "Not bad at all!", "This movie is not bad.", "It wasn't terrible.",
    "I hated it.", "I did not like it.",
)

_SLOT = re.compile(r"\{(\w+)\}")
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?])")
_A_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=[AEIOUaeiou])")


@dataclass(frozen=True)
class BehaviourTest:
    """One test: sentences filled from templates, and what a polarity model should make of them."""

    name: str
    capability: str
    expectation: str  # one of SINGLE_EXPECTATIONS or PAIR_EXPECTATIONS
    templates: tuple[str, ...]
    perturb: tuple[str, str] | None = None  # (kind, lexicon or rewrite): how a pair's second text is made


@dataclass(frozen=True)
class Case:
    """A filled sentence, and for a pair test its perturbed twin."""

    text: str
    perturbed: str | None = None


@dataclass(frozen=True)
class Suite:
    """One half of the suite: its lexicons and its tests."""

    half: str
    lexicons: dict[str, tuple[str, ...]]
    tests: tuple[BehaviourTest, ...]

    @classmethod
    def from_dict(cls, data: dict, half: str) -> Suite:
        """A half from its JSON form, checked: every slot, lexicon and rewrite it names exists."""
        lexicons = {name: tuple(words) for name, words in data["lexicons"].items()}
        tests = tuple(_parse_test(spec, lexicons, half) for spec in data["tests"])
        names = [test.name for test in tests]
        if len(set(names)) != len(names):
            raise ValueError(f"{half}: test names repeat: {sorted({n for n in names if names.count(n) > 1})}")
        return cls(half, lexicons, tests)


def _parse_test(spec: dict, lexicons: dict[str, tuple[str, ...]], half: str) -> BehaviourTest:
    where = f"{half}: test {spec.get('name')!r}"
    kinds = [kind for kind in PERTURB_KINDS if kind in spec]
    perturb = (kinds[0], spec[kinds[0]]) if len(kinds) == 1 else None
    test = BehaviourTest(spec["name"], spec["capability"], spec["expect"], tuple(spec["templates"]), perturb)
    if test.expectation not in SINGLE_EXPECTATIONS + PAIR_EXPECTATIONS:
        raise ValueError(f"{where}: unknown expectation {test.expectation!r}")
    pair = test.expectation in PAIR_EXPECTATIONS
    if len(kinds) != (1 if pair else 0):
        what = "two texts: give one" if pair else "one text: give none"
        raise ValueError(f"{where}: {test.expectation!r} compares {what} of {PERTURB_KINDS}, not {kinds}")
    if not test.templates:
        raise ValueError(f"{where}: no templates")
    for template in test.templates:
        slots = set(_SLOT.findall(template))
        if missing := slots - lexicons.keys():
            raise ValueError(f"{where}: no lexicon for {sorted(missing)} in {template!r}")
        if perturb and perturb[0] != "apply" and perturb[1] not in slots:
            raise ValueError(f"{where}: template {template!r} lacks the slot {{{perturb[1]}}} it {perturb[0]}s")
    if perturb and perturb[0] == "apply" and perturb[1] not in PERTURBATIONS:
        raise ValueError(f"{where}: unknown rewrite {perturb[1]!r}; known: {sorted(PERTURBATIONS)}")
    return test


def file_sha256(path: Path) -> str:
    """sha256 of a text file with LF line endings."""
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


@functools.cache
def load_half(half: str) -> Suite:
    """The dev or held-out half; a held-out file that no longer matches ``HELDOUT_SHA256`` is refused."""
    if half not in HALVES:
        raise ValueError(f"half must be one of {HALVES}, not {half!r}")
    path = DATA_DIR / f"{half}.json"
    if half == "heldout" and (digest := file_sha256(path)) != HELDOUT_SHA256:
        raise ValueError(f"{path} has changed (sha256 {digest}); a new held-out half needs a new SUITE_VERSION "
                         "and HELDOUT_SHA256")
    return Suite.from_dict(json.loads(path.read_text(encoding="utf-8")), half)


def tidy(text: str) -> str:
    """A filled template as a sentence: single spaces, 'an' before a vowel, a capital first letter."""
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", _SPACES.sub(" ", text).strip())
    text = _A_BEFORE_VOWEL.sub(r"\1n ", text)
    return text[:1].upper() + text[1:]


class _Fills:
    """Every way to fill one template, numbered: the digits of ``i`` in mixed radix pick one choice per slot."""

    def __init__(self, template: str, test: BehaviourTest, lexicons: dict[str, tuple[str, ...]]):
        self.template = template
        self.perturb = test.perturb
        self.slots = list(dict.fromkeys(_SLOT.findall(template)))
        kind, target = test.perturb or ("", "")
        # Per slot, its (first text's word, second text's word) choices.
        self.choices = []
        for slot in self.slots:
            words = lexicons[slot]
            if slot == target and kind == "swap":
                self.choices.append(list(itertools.combinations(words, 2)))
            elif slot == target and kind == "add":
                self.choices.append([("", word) for word in words])
            else:
                self.choices.append([(word, word) for word in words])
        self.size = math.prod(len(c) for c in self.choices)

    def case(self, index: int) -> Case | None:
        """Fill ``index``; None where its two texts come out the same (the rewrite does not apply)."""
        first, second = {}, {}
        for slot, choices in zip(self.slots, self.choices):
            index, digit = divmod(index, len(choices))
            first[slot], second[slot] = choices[digit]
        text = tidy(_SLOT.sub(lambda m: first[m.group(1)], self.template))
        if self.perturb is None:
            return Case(text)
        kind, name = self.perturb
        if kind == "apply":
            perturbed = PERTURBATIONS[name](text)
        else:
            perturbed = tidy(_SLOT.sub(lambda m: second[m.group(1)], self.template))
        return Case(text, perturbed) if perturbed != text else None


def _quotas(sizes: list[int], total: int) -> list[int]:
    """``total`` split as evenly as the sizes allow: a small template's unused share goes to the others."""
    quotas = [0] * len(sizes)
    open_ = [i for i, size in enumerate(sizes) if size]
    left = min(total, sum(sizes))
    while left:
        share, extra = divmod(left, len(open_))
        for rank, i in enumerate(list(open_)):
            take = min(share + (rank < extra), sizes[i] - quotas[i])
            quotas[i] += take
            left -= take
            if quotas[i] == sizes[i]:
                open_.remove(i)
    return quotas


def fill(test: BehaviourTest, lexicons: dict[str, tuple[str, ...]], max_cases: int | None = MAX_CASES,
         seed: int = 0) -> list[Case]:
    """The test's cases: at most ``max_cases`` fills (all of them for None), spread over its
    templates and drawn without replacement by a generator seeded with ``seed`` and the test's name."""
    spaces = [_Fills(template, test, lexicons) for template in test.templates]
    sizes = [space.size for space in spaces]
    quotas = sizes if max_cases is None else _quotas(sizes, max_cases)
    rng = random.Random(f"{seed}:{test.name}")
    cases: dict[Case, None] = {}  # ordered and without repeats
    for space, quota in zip(spaces, quotas):
        indices = range(space.size) if quota == space.size else sorted(rng.sample(range(space.size), quota))
        for index in indices:
            if (case := space.case(index)) is not None:
                cases[case] = None
    return list(cases)


def normalize(text: str) -> str:
    """``text`` lowercased, with its whitespace collapsed: the form probe sentences are compared in."""
    return " ".join(text.lower().split())


@functools.cache
def _probes() -> frozenset[str]:
    sentences = set(BUG_REPORT_SENTENCES)
    for half in HALVES:
        suite = load_half(half)
        for test in suite.tests:
            for case in fill(test, suite.lexicons, max_cases=None):
                sentences.add(case.text)
                if case.perturbed is not None:
                    sentences.add(case.perturbed)
    return frozenset(map(normalize, sentences))


def probe_sentences() -> set[str]:
    """Every sentence either half can produce, whatever the seed, and the bug report's sentences, normalized.

    Training data should hold none of them (compare ``normalize(sentence)``), or the suite measures recall.
    """
    return set(_probes())
