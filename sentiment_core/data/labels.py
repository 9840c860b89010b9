"""A label cell as a class name: one name per class however the file spells it, or a refusal.

    label_text("01") == label_text("+1") == label_text(1.0) == "1"
    label_text(True) == label_text(" TRUE ") == "true"

Numbers are compared as numbers (``1``, ``01``, ``+1``, ``1.0`` are one class); ``true``/``false``
stay classes of their own, but a column that mixes them with numbers is refused (is ``true`` 1?),
as are labels that differ only in case (``pos``, ``Pos``): either is one class written two ways,
and guessing which would train on a wrong label without a word.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from .source import DataError

MAX_LABEL_CHARS = 100  # a longer label is a text in the wrong column
SHOWN = 5  # spellings named in one error message
NUMBER_RE = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")
INTEGER_RE = re.compile(r"[-+]?\d+")


def label_text(value: Any) -> str | None:
    """A cell's label as a string, None if missing. Numbers are one class however written (1, 01, +1,
    1.0 and "1.0" are "1"); true and false, in any case, are "true" and "false"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > MAX_LABEL_CHARS:  # a long one is refused by the caller, as a text
            return text or None
        if text.lower() in ("true", "false"):
            return text.lower()
        if INTEGER_RE.fullmatch(text):
            return str(int(text))
        if NUMBER_RE.fullmatch(text):
            number = float(text)
            if math.isfinite(number):
                return str(int(number)) if number.is_integer() else repr(number)
        return text
    raise TypeError(type(value).__name__)


def check_spellings(path: Path, column: str, first_row: dict[str, str]) -> None:
    """Labels that can only be one class written two ways are refused: a word in two cases
    (``pos``, ``Pos``), or true/false beside numbers (is ``true`` 1?)."""
    by_fold: dict[str, list[str]] = {}
    for name in first_row:
        by_fold.setdefault(name.casefold(), []).append(name)
    for spellings in by_fold.values():
        if len(spellings) > 1:
            named = ", ".join(f"{s!r} ({first_row[s]})" for s in spellings[:SHOWN])
            raise DataError(f"{path}, column {column!r}: labels {named} differ only in case; write each class "
                            "one way")
    flags = [name for name in first_row if name in ("true", "false")]
    numbers = [name for name in first_row if NUMBER_RE.fullmatch(name)]
    if flags and numbers:
        raise DataError(f"{path}, column {column!r}: labels mix true/false ({flags[0]!r}, {first_row[flags[0]]}) "
                        f"with numbers ({numbers[0]!r}, {first_row[numbers[0]]}); they would be separate classes, "
                        "so write the labels one way")


def sorted_classes(names: list[str]) -> list[str]:
    """Numerically when every label is an integer (2 before 10), else as strings."""
    if all(INTEGER_RE.fullmatch(name) for name in names):
        return sorted(names, key=int)
    return sorted(names)
