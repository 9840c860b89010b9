"""Rewrites of a filled sentence for invariance tests: punctuation, contractions, typos.

Each takes a sentence and returns its rewrite, which may equal the sentence when the rewrite does
not apply (a case whose two texts are equal tests nothing, so the suite skips it).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

# Long form -> contraction. Lower case; a match keeps the case of its first letter.
CONTRACTIONS = {
    "is not": "isn't", "are not": "aren't", "was not": "wasn't", "were not": "weren't", "do not": "don't",
    "does not": "doesn't", "did not": "didn't", "could not": "couldn't", "would not": "wouldn't",
    "should not": "shouldn't", "cannot": "can't", "will not": "won't", "have not": "haven't", "has not": "hasn't",
    "it is": "it's", "that is": "that's", "there is": "there's", "what is": "what's", "i am": "I'm",
    "i have": "I've", "i will": "I'll", "we are": "we're", "we will": "we'll", "they are": "they're",
    "you are": "you're", "you will": "you'll",
}
EXPANSIONS = {short.lower(): long for long, short in CONTRACTIONS.items()}

_FINAL_PUNCTUATION = re.compile(r"[.!?]+$")
_WORD = re.compile(r"[^\W\d_]{4,}")  # letters only; shorter words barely change when two letters swap


def _pattern(table: dict[str, str]) -> re.Pattern:
    # Longest first, so the pattern never stops at a shorter form that starts the same way.
    return re.compile(r"\b(" + "|".join(map(re.escape, sorted(table, key=len, reverse=True))) + r")\b", re.IGNORECASE)


_CONTRACTIBLE = _pattern(CONTRACTIONS)
_EXPANDABLE = _pattern(EXPANSIONS)


def _rewrite(text: str, pattern: re.Pattern, table: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        found, new = match.group(0), table[match.group(0).lower()]
        return new[0].upper() + new[1:] if found[0].isupper() else new

    return pattern.sub(replace, text)


def contract(text: str) -> str:
    """Every long form of ``CONTRACTIONS`` contracted: 'It is not' -> "It's not"."""
    return _rewrite(text, _CONTRACTIBLE, CONTRACTIONS)


def expand(text: str) -> str:
    """Every contraction of ``CONTRACTIONS`` written out: "wasn't" -> 'was not'."""
    return _rewrite(text, _EXPANDABLE, EXPANSIONS)


def strip_final(text: str) -> str:
    """The sentence without its final punctuation."""
    return _FINAL_PUNCTUATION.sub("", text)


def exclaim(text: str) -> str:
    """The sentence ending in an exclamation mark instead."""
    return _FINAL_PUNCTUATION.sub("", text) + "!"


def trail_off(text: str) -> str:
    """The sentence ending in an ellipsis instead."""
    return _FINAL_PUNCTUATION.sub("", text) + "..."


def typo(text: str) -> str:
    """Two different adjacent letters swapped in one word of four or more letters.

    The word and the place are drawn from a generator seeded by the text itself, so a sentence
    always gets the same typo, whichever fills a run samples.
    """
    rng = random.Random(text)
    spots = [(m.start() + i) for m in _WORD.finditer(text) for i in range(len(m.group()) - 1)
             if text[m.start() + i] != text[m.start() + i + 1]]
    if not spots:
        return text
    i = rng.choice(spots)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


PERTURBATIONS: dict[str, Callable[[str], str]] = {
    "strip_final": strip_final, "exclaim": exclaim, "trail_off": trail_off,
    "contract": contract, "expand": expand, "typo": typo,
}
