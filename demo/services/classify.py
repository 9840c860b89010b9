"""Classifying one review: the model to use, its probabilities and its full explanation, as plain data."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import unicodedata
from pathlib import Path
from typing import Any

from sentiment_core import CheckpointError, EmptyTextError
from sentiment_core.predict import Analysis, Predictor

from .batching import BATCHER
from .registry import ModelRegistry
from .user_input import UserInputError

EMPTY_MESSAGE = "Type or paste a review, or pick an example below."
NO_MODEL_MESSAGE = "No model is available yet: train one in the Train tab."

@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS, Windows)."""
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None


def release_memory() -> None:
    """Give the memory a request freed back to the system, where the C library allows it.

    A long review's attributions and running prediction allocate tens of MB of temporary tensors;
    once freed, glibc keeps those pages in its heaps (one per thread), so the app's resident memory
    grew from 476 MB to 1.3 GB over 600 requests and stayed there (``bench/bench_soak.py``).
    ``malloc_trim`` returns them: about 10 ms after a long review, well under 1 ms after a short one.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def load_examples() -> list[dict[str, str]]:
    """The clickable examples: real IMDB test reviews (cited by file) and short handwritten ones."""
    with open(Path(__file__).with_name("examples.json"), encoding="utf-8") as f:
        return json.load(f)["examples"]


def is_word(token: str) -> bool:
    """A token with a letter, a digit or a symbol such as an emoji: not punctuation alone."""
    return any(unicodedata.category(ch)[0] in "LN" or unicodedata.category(ch) == "So" for ch in token)


def known_words(predictor: Predictor, tokens: list[str]) -> list[bool | None]:
    """Per token: whether the model's vocabulary has it (None for punctuation, which is no word)."""
    ids = predictor.vocab.encode(tokens)
    return [(i != predictor.vocab.unk_index) if is_word(t) else None for t, i in zip(tokens, ids, strict=True)]


def load_predictor(registry: ModelRegistry, model_key: str | None) -> Predictor:
    """The predictor of ``model_key`` (the default model when empty); ``ClassifyProblem`` if there is none."""
    model_key = model_key or registry.default_key()
    if not model_key:
        raise ClassifyProblem(NO_MODEL_MESSAGE)
    try:
        return registry.predictor(model_key)
    except KeyError:
        raise ClassifyProblem(f"The model {model_key!r} is gone or unknown; pick one of the listed models.") from None
    except CheckpointError as exc:
        raise ClassifyProblem(f"The model {model_key!r} cannot be used: {exc.problem}") from None


class ClassifyProblem(UserInputError):
    """A text or model that cannot be classified; the message is for the page or the API caller."""


def probabilities(registry: ModelRegistry, text: str | None, model_key: str | None = None) -> dict[str, float]:
    """The label's probabilities for one review: the fast path, answered before the explanation."""
    if not text or not text.strip():
        raise ClassifyProblem(EMPTY_MESSAGE)
    try:
        return BATCHER.predict(load_predictor(registry, model_key), text)  # with other requests of the moment
    except EmptyTextError as exc:
        raise ClassifyProblem(f"Nothing to classify: {exc}.") from None


def analysis(registry: ModelRegistry, text: str | None,
             model_key: str | None = None) -> tuple[Analysis, Predictor]:
    """The full explanation of one review (probabilities, word attributions, running prediction),
    and the predictor that made it."""
    if not text or not text.strip():
        raise ClassifyProblem(EMPTY_MESSAGE)
    predictor = load_predictor(registry, model_key)
    try:
        return predictor.analyze(text), predictor
    except EmptyTextError as exc:
        raise ClassifyProblem(f"Nothing to classify: {exc}.") from None
    finally:
        release_memory()


def explanation_json(result: Analysis, known: list[bool | None]) -> dict[str, Any]:
    """The explanation as plain values, for API callers."""
    flags = [k for k in known if k is not None]
    return {
        "label": max(result.probabilities, key=result.probabilities.get),
        "probabilities": result.probabilities,
        "tokens": result.tokens,
        "attributions": result.attributions,
        # p_positive: P of the class explained, the positive one of two (see "target")
        "running": {"tokens_read": result.running_positions, "p_positive": result.running},
        "target": result.target,
        "truncated": result.truncated,
        "cut_at": result.cut_at,
        "characters_replaced": result.replaced,
        "full_stop_added": result.closed,
        "attribution_steps": result.steps,
        "completeness_error": result.completeness_error,
        # Per token: in the model's vocabulary (true), unknown (false), or punctuation (null).
        "known": known,
        "words": len(flags),
        "words_known": sum(flags),
    }
