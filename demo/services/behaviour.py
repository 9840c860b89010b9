"""The behaviour workbench's work, as plain data (the tab draws it: ``demo.tabs.behaviour``).

- ``BehaviourReports``: a listed model's results on one half of the behaviour suite. A checkpoint
  that recorded them (``behaviour --record``, or training) is read, not rerun; any other is run
  once and cached on disk per checkpoint content and half (``<cache_dir>/behaviour/<key>.json``),
  and the last few are kept in memory.
- ``own_test``: one's own template (``sentiment_core.behaviour.templates``) on the chosen models.

Only models of the registry are read, named by key; models whose labels are not negative/positive
get a note instead of a report.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentiment_core import CheckpointError
from sentiment_core.behaviour import (
    HALVES,
    MAX_CASES,
    SUITE_VERSION,
    BehaviourResult,
    SuiteResult,
    TemplateError,
    applies_to,
    fill,
    load_half,
    run_suite,
    run_template,
    template_test,
)
from sentiment_core.behaviour.runner import MAX_EXAMPLES
from sentiment_core.checkpoint import MAX_FILE_BYTES
from sentiment_core.config import default_cache_dir
from sentiment_core.tempfiles import atomic_file, read_or_discard

from .classify import NO_MODEL_MESSAGE, load_predictor, release_memory
from .model_entry import ModelEntry
from .registry import ModelRegistry
from .user_input import UserInputError

log = logging.getLogger(__name__)

MAX_MODELS = 6  # models in one report or one test: each half is ~9,500 sentences per model
HALF_NAMES = {"dev": "dev", "held-out": "heldout"}  # as the page names them: as the suite does
SEED = 0  # the seed ``behaviour --record`` and training record with
Progress = Callable[[str, int, int], None]  # (what, done, total)


class BehaviourProblem(UserInputError):
    """A model or request the workbench cannot serve; the message is for the page or the API caller."""


def not_polarity(entry: ModelEntry) -> str:
    """The note shown instead of a report for a model of other labels."""
    return (f"The behaviour suite does not apply to {entry.path.stem}: it tests sentiment polarity (negative and "
            f"positive), and this model's labels are {', '.join(entry.meta['labels'])}.")


def polarity(entry: ModelEntry) -> bool:
    return applies_to(entry.meta["labels"])


def chosen(registry: ModelRegistry, keys: Any) -> list[ModelEntry]:
    """The listed models named by ``keys`` (all listed models, the first ``MAX_MODELS``, when empty)."""
    if keys is None or keys == "" or keys == []:
        entries = registry.scan()[0][:MAX_MODELS]
        if not entries:
            raise BehaviourProblem(NO_MODEL_MESSAGE)
        return entries
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise BehaviourProblem("models must be a list of model keys (see /models).")
    keys = list(dict.fromkeys(keys))
    if len(keys) > MAX_MODELS:
        raise BehaviourProblem(f"At most {MAX_MODELS} models at once, not {len(keys)}.")
    try:
        return [registry.entry(key) for key in keys]
    except KeyError as exc:
        raise BehaviourProblem(f"The model {str(exc.args[0])[:80]!r} is gone or unknown; /models lists them.") from None


def halves_of(half: Any) -> tuple[str, ...]:
    """The suite's halves for a page's or caller's choice: dev, held-out (or heldout), or both."""
    if half == "both":
        return HALVES
    if half in HALF_NAMES.values():
        return (half,)
    if half not in HALF_NAMES:
        raise BehaviourProblem(f"half must be dev, held-out or both, not {str(half)[:40]!r}.")
    return (HALF_NAMES[half],)


def suite_size(half: str) -> int:
    """How many distinct sentences a run of ``half`` predicts (as ``run_suite`` gathers them)."""
    suite = load_half(half)
    texts = set()
    for test in suite.tests:
        for case in fill(test, suite.lexicons, MAX_CASES, SEED):
            texts.update(t for t in (case.text, case.perturbed) if t is not None)
    return len(texts)


def stored(entry: ModelEntry, half: str) -> SuiteResult | None:
    """The half's results the checkpoint recorded, if they are this suite's, drawn as the app draws them."""
    record = (entry.meta["metrics"].get("behaviour") or {}).get(half)
    try:
        result = SuiteResult.from_dict(record) if record else None
    except (KeyError, TypeError, ValueError):
        return None
    if result is None or (result.version, result.half, result.seed, result.max_cases) != (
            SUITE_VERSION, half, SEED, MAX_CASES):
        return None
    return result


class BehaviourReports:
    """The suite's results of the registry's models, from their checkpoints, the disk cache or a run."""

    def __init__(self, registry: ModelRegistry, cache_dir: str = "", keep: int = 12):
        self.registry = registry
        self.cache_dir = cache_dir
        self.keep = keep
        self._results: OrderedDict[tuple, SuiteResult] = OrderedDict()
        self._lock = threading.Lock()

    def _cache_path(self, entry: ModelEntry, half: str) -> Path:
        digest = hashlib.sha256()
        with open(entry.path, "rb") as f:
            digest.update(f.read(MAX_FILE_BYTES + 1))
        text = f"behaviour\n{SUITE_VERSION}\n{half}\n{MAX_CASES}\n{SEED}\n{MAX_EXAMPLES}\n{digest.hexdigest()}"
        key = hashlib.sha256(text.encode()).hexdigest()[:24]
        return Path(self.cache_dir or default_cache_dir()) / "behaviour" / f"{key}.json"

    def result(self, entry: ModelEntry, half: str, progress: Progress = lambda what, done, total: None
               ) -> SuiteResult:
        """One half's results of a polarity model: recorded, cached, or run now (``progress`` sees the sentences)."""
        if not polarity(entry):
            raise BehaviourProblem(not_polarity(entry))
        memory_key = (entry.stamp, half)
        with self._lock:
            if memory_key in self._results:
                self._results.move_to_end(memory_key)
                return self._results[memory_key]
        result = stored(entry, half)
        if result is None:
            path = self._cache_path(entry, half)
            result = read_or_discard(path, lambda p: SuiteResult.from_dict(json.loads(p.read_bytes())),
                                     (OSError, ValueError, KeyError, TypeError), "behaviour cache", "running it again")
            if result is None:
                result = self._run(entry, half, progress)
                try:
                    with atomic_file(path, "w", encoding="utf-8") as f:
                        json.dump(result.to_dict(), f, ensure_ascii=False)
                except OSError as exc:
                    log.warning("could not cache the behaviour report in %s: %s", path, exc)
        with self._lock:
            self._results[memory_key] = result
            while len(self._results) > self.keep:
                self._results.popitem(last=False)
        return result

    def _run(self, entry: ModelEntry, half: str, progress: Progress) -> SuiteResult:
        try:
            predictor = load_predictor(self.registry, entry.key)
        except UserInputError as exc:
            raise BehaviourProblem(str(exc)) from None
        what = f"{entry.path.stem}, {'held-out' if half == 'heldout' else half} half"
        total, done = suite_size(half), 0
        progress(what, 0, total)

        def predict(texts: list[str]) -> list[dict[str, float]]:
            nonlocal done
            rows = predictor.predict_batch(texts)
            done += len(texts)
            progress(what, done, total)
            return rows

        try:
            return run_suite(predict, predictor.labels, half, seed=SEED)
        finally:
            release_memory()


@dataclass
class ModelReport:
    """One model's part of a report: its halves' results, or why there are none."""

    entry: ModelEntry
    results: dict[str, SuiteResult]  # by half, "dev" first
    note: str = ""


def report(reports: BehaviourReports, keys: Any, half: Any = "both",
           progress: Progress = lambda what, done, total: None) -> list[ModelReport]:
    """Every chosen model's results on the chosen halves (a note for a model the suite does not apply to)."""
    halves = halves_of(half)
    out = []
    for entry in chosen(reports.registry, keys):
        if not polarity(entry):
            out.append(ModelReport(entry, {}, not_polarity(entry)))
            continue
        try:
            out.append(ModelReport(entry, {h: reports.result(entry, h, progress) for h in halves}))
        except CheckpointError as exc:
            out.append(ModelReport(entry, {}, f"{entry.path.stem} cannot be used: {exc.problem}"))
    return out


def report_json(models: list[ModelReport]) -> dict[str, Any]:
    """The report as plain values for API callers; the held-out half's failing examples stay out."""
    def half_json(result: SuiteResult) -> dict[str, Any]:
        data = result.to_dict()
        if result.half == "heldout":
            for test in data["tests"]:
                test.pop("examples")
        return data

    return {"suite_version": SUITE_VERSION,
            "models": [{"model": m.entry.key, "name": m.entry.name, "applies": not m.note, "note": m.note,
                        "halves": {half: half_json(r) for half, r in m.results.items()}} for m in models]}


@dataclass
class OwnResult:
    """One model's result on one's own test, or why it has none."""

    entry: ModelEntry
    result: BehaviourResult | None
    note: str = ""


def own_test(registry: ModelRegistry, keys: Any, template: Any, expectation: Any, slot: Any = "",
             lexicons: Any = None) -> list[OwnResult]:
    """One's own template on each chosen polarity model; the template is checked before any model loads."""
    try:
        suite = template_test(template, expectation, slot, lexicons)
    except TemplateError as exc:
        raise BehaviourProblem(str(exc)) from None
    out = []
    try:
        for entry in chosen(registry, keys):
            if not polarity(entry):
                out.append(OwnResult(entry, None, not_polarity(entry)))
                continue
            try:
                predictor = load_predictor(registry, entry.key)
                out.append(OwnResult(entry, run_template(predictor.predict_batch, predictor.labels, suite)))
            except TemplateError as exc:
                raise BehaviourProblem(str(exc)) from None
            except UserInputError as exc:
                out.append(OwnResult(entry, None, str(exc)))
    finally:
        release_memory()
    return out


def own_json(template: str, expectation: str, results: list[OwnResult]) -> dict[str, Any]:
    """One's own test's results as plain values, for API callers."""
    return {"template": template, "expect": expectation,
            "models": [{"model": r.entry.key, "name": r.entry.name, "applies": r.result is not None, "note": r.note,
                        **({"cases": r.result.cases, "failures": r.result.failures,
                            "failure_rate": r.result.failure_rate,
                            "failing": [vars(e) for e in r.result.examples]} if r.result else {})}
                       for r in results]}
