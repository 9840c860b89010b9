"""Edit to flip: a review and an edit of it, each model's prediction of both, and which words changed.

Seeded with a few pairs of Kaushik, Hovy and Lipton's counterfactually revised IMDB reviews
(``flip_pairs.json``, Apache-2.0: ``flip_pairs.LICENSE``): people edited a review as little as
possible to fit the opposite label. Whether an edit should flip the label is the user's to say;
the page shows what each model makes of it.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentiment_core import EmptyTextError

from .behaviour import BehaviourProblem, chosen
from .classify import load_predictor
from .model_entry import ModelEntry
from .registry import ModelRegistry
from .user_input import UserInputError

MAX_CHARS = 5_000  # per text: an edit is of one review
_PIECES = re.compile(r"\s+|\w+(?:'\w+)?|[^\w\s]")


@functools.cache
def load_pairs() -> tuple[dict[str, Any], ...]:
    """The seeded pairs: {"batch_id", "original": {"label", "text"}, "revised": {...}}."""
    with open(Path(__file__).with_name("flip_pairs.json"), encoding="utf-8") as f:
        return tuple(json.load(f)["pairs"])


def pair_label(pair: dict[str, Any]) -> str:
    """A seeded pair's button text: the revision's first words and the labels."""
    words = pair["revised"]["text"].split()
    return f"{' '.join(words[:8])}… ({pair['original']['label']} → {pair['revised']['label']})"


def diff(original: str, edited: str) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Both texts as (piece, changed) runs: words, punctuation and spaces, those the edit touched marked."""
    a, b = _PIECES.findall(original), _PIECES.findall(edited)
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        left += [(piece, op != "equal" and not piece.isspace()) for piece in a[i1:i2]]
        right += [(piece, op != "equal" and not piece.isspace()) for piece in b[j1:j2]]
    return left, right


@dataclass
class FlipRow:
    """One model's reading of the review and of its edit."""

    entry: ModelEntry
    before: dict[str, float]
    after: dict[str, float]

    def label(self, probabilities: dict[str, float]) -> str:
        return max(probabilities, key=probabilities.get)


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise BehaviourProblem(f"{name} must be a string, not {type(value).__name__}.")
    if not value.strip():
        raise BehaviourProblem(f"The {name} is empty: type a review and an edit of it.")
    if len(value) > MAX_CHARS:
        raise BehaviourProblem(f"The {name} has {len(value):,} characters; at most {MAX_CHARS:,}.")
    return value


def compare_edit(registry: ModelRegistry, keys: Any, original: Any, edited: Any) -> tuple[list[FlipRow], list[str]]:
    """Each chosen model's probabilities of the review and of the edit, and notes on models that could not read them."""
    original, edited = _text("review", original), _text("edit", edited)
    rows, notes = [], []
    for entry in chosen(registry, keys):
        try:
            before, after = load_predictor(registry, entry.key).predict_batch([original, edited])
        except UserInputError as exc:
            notes.append(str(exc))
            continue
        except EmptyTextError as exc:
            raise BehaviourProblem(f"Nothing to classify: {exc}.") from None
        rows.append(FlipRow(entry, before, after))
    return rows, notes


def classes_of(rows: list[FlipRow]) -> list[str]:
    """Every class the compared models know, in their order."""
    return list(dict.fromkeys(label for row in rows for label in row.before))


def flip_json(rows: list[FlipRow], notes: list[str], original: str, edited: str) -> dict[str, Any]:
    """The comparison as plain values, for API callers."""
    left, right = diff(original, edited)
    return {"changed_in_review": [p for p, changed in left if changed],
            "changed_in_edit": [p for p, changed in right if changed],
            "models": [{"model": r.entry.key, "before": {"label": r.label(r.before), "probabilities": r.before},
                        "after": {"label": r.label(r.after), "probabilities": r.after},
                        "change": {c: r.after[c] - r.before[c] for c in r.before}} for r in rows],
            "notes": notes}
