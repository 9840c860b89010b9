"""The one tokenizer used by training, evaluation, prediction and the app.

spaCy's English rules from ``spacy.blank("en")`` (the same tokenizer as ``en_core_web_sm``,
without a model download). Tokens keep their case; the vocabulary decides whether to lowercase.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator

import spacy

# Bump when the rules below change: the on-disk token cache is keyed on it.
TOKENIZER_VERSION = f"spacy-blank-en-{spacy.__version__}-br1"

# IMDb reviews carry HTML line breaks ("<br /><br />") that spaCy would split into "<", "br", "/>".
_BREAK_RE = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
_SPACE_RE = re.compile(r"\s+")


# spaCy keeps every string it has seen; in a long-running app, text from strangers would grow
# it without bound (about 380 bytes a new word), so the tokenizer is rebuilt past this many.
MAX_TOKENIZER_STRINGS = 100_000


@functools.cache
def _blank_english():
    return spacy.blank("en").tokenizer


def spacy_tokenizer():
    """The blank English spaCy tokenizer, rebuilt when its string store has grown past ``MAX_TOKENIZER_STRINGS``."""
    tokenizer = _blank_english()
    if len(tokenizer.vocab.strings) > MAX_TOKENIZER_STRINGS:
        _blank_english.cache_clear()  # a rebuild takes about 0.3 s, once per 100,000 new words
        tokenizer = _blank_english()
    return tokenizer


def clean_text(text: str) -> str:
    """Replace <br /> tags and collapse whitespace, so no token contains a space."""
    return _SPACE_RE.sub(" ", _BREAK_RE.sub(" ", text)).strip()


def has_words(text: str) -> bool:
    """Whether ``text`` has anything to tokenize (not blank, not only ``<br />`` tags)."""
    return bool(clean_text(text))


def tokenize(text: str) -> list[str]:
    """Split a review into spaCy tokens, case preserved."""
    return [t.text for t in spacy_tokenizer()(clean_text(text))]


def tokenize_many(texts: Iterable[str], batch_size: int = 256) -> Iterator[list[str]]:
    """Tokenize a stream of reviews; faster than calling ``tokenize`` in a loop."""
    docs = spacy_tokenizer().pipe((clean_text(t) for t in texts), batch_size=batch_size)
    for doc in docs:
        yield [t.text for t in doc]


def clip_chars(text: str, max_chars: int) -> list[str]:
    """``[text]``, or the head and tail of an over-long one (about ``max_chars // 2`` characters
    each, cut at a space), to tokenize as two pieces: it bounds the tokenizer's work on a paste."""
    if len(text) <= max_chars:
        return [text]
    half = max_chars // 2
    return [text[:half].rsplit(" ", 1)[0], text[-half:].split(" ", 1)[-1]]


def head_tail(tokens: list, max_tokens: int) -> list:
    """Keep ``max_tokens`` tokens of a long review: the first ceil(max_tokens / 2) and the last floor(max_tokens / 2).

    Reviews tend to open with a summary and close with a verdict; keeping both ends beats
    keeping only the head (Sun et al., 2019, "How to Fine-Tune BERT for Text Classification").
    """
    if max_tokens <= 0 or len(tokens) <= max_tokens:
        return tokens
    head = max_tokens - max_tokens // 2
    return tokens[:head] + tokens[len(tokens) - max_tokens // 2 :]
