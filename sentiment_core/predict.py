"""A pure prediction API over a checkpoint: probabilities, running prediction, word attributions.

Every text goes through one reading rule (``Predictor.read``), whether it comes alone
(``predict``, ``analyze``) or in a batch (``predict_batch``):

- characters that cannot be encoded as UTF-8 (lone surrogates, which JSON lets through) are
  replaced with U+FFFD, and the reading says so;
- a text over ``max_tokens * CHARS_PER_TOKEN`` characters is first clipped to its head and tail
  (cut at spaces), so the tokenizer's work stays bounded;
- a text with no tokens (empty, whitespace, or only ``<br />`` tags) is an ``EmptyTextError``,
  never scored as an unknown word;
- a long text keeps its first and last tokens (``head_tail``, as in training), and the reading
  records where the omitted middle was (``cut_at``);
- a short text (``data/punctuation.CLOSED_MAX_TOKENS``) that stops on a word ("The plot was dull") is
  read with a full stop added, when the model's training texts rarely stop on one
  (``data/punctuation.WORD_END_SHARE``; reviews end in ".", "!", "?", ")" or "8/10"), so a missing
  final mark does not move the answer; the reading says so (``closed``).

``analyze``, the running prediction, word attributions and ``gradient_by_position`` come from
``explain.Explanations``, which ``Predictor`` extends.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .checkpoint import Checkpoint, load_checkpoint
from .data.punctuation import CLOSED_MAX_TOKENS, WORD_END_SHARE, ends_in_word
from .explain import IG_STEPS, RUNNING_POINTS, Analysis, Attribution, Explanations, GradientFlow
from .model import class_probabilities
from .tokenizer import clip_chars, head_tail, tokenize_many

DEFAULT_MAX_TOKENS = 1000
# Characters kept before tokenizing: generous for max_tokens tokens (IMDB averages ~5 chars a
# token), and it bounds the tokenizer's work on a pasted megabyte.
CHARS_PER_TOKEN = 16

_SURROGATE_RE = re.compile("[\ud800-\udfff]")

__all__ = ["CHARS_PER_TOKEN", "DEFAULT_MAX_TOKENS", "IG_STEPS", "RUNNING_POINTS", "Analysis", "Attribution",
           "EmptyTextError", "GradientFlow", "Predictor", "Reading", "readable"]


class EmptyTextError(ValueError):
    """The text to classify has no words: it is empty, whitespace, or only ``<br />`` tags."""


@dataclass
class Reading:
    """What the model reads of one text."""

    tokens: list[str]
    truncated: bool  # some of the text was left out (its middle)
    cut_at: int | None  # index in ``tokens`` where the omitted middle was; None when nothing was cut
    replaced: bool  # some characters could not be read (lone surrogates) and were replaced with U+FFFD
    closed: bool = False  # a full stop was added after the last word (see the module docstring)


def readable(text: str) -> tuple[str, bool]:
    """``text`` with whatever UTF-8 cannot encode replaced by U+FFFD, and whether anything was.

    Surrogate pairs are joined into the character they stand for; lone surrogates become U+FFFD.
    """
    if _SURROGATE_RE.search(text) is None:
        return text, False
    fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return fixed, fixed.count("\ufffd") > text.count("\ufffd")


def _cut_position(kept: list[int]) -> int:
    """Where a shortened list of kept indices 0..n-1 left some out: its first skip, else its end."""
    return next((i for i, j in enumerate(kept) if i != j), len(kept))


class Predictor(Explanations):
    """Classifies reviews with a loaded checkpoint. Thread-safe for concurrent calls."""

    def __init__(self, checkpoint: Checkpoint, device: str | torch.device = "cpu", max_tokens: int = 0):
        self.checkpoint = checkpoint
        self.device = torch.device(device)
        self.model = checkpoint.model.to(self.device).eval()
        self.vocab = checkpoint.vocab
        self.labels = checkpoint.labels
        trained_limit = checkpoint.train_config.max_tokens if checkpoint.train_config else 0
        self.max_tokens = max_tokens or trained_limit or DEFAULT_MAX_TOKENS
        # How many tokens head_tail keeps from the front of a long text.
        self._front = _cut_position(head_tail(list(range(self.max_tokens + 1)), self.max_tokens))
        share = checkpoint.info.get("word_end_share")
        self.closes_texts = share is not None and share < WORD_END_SHARE

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str = "cpu", max_tokens: int = 0) -> Predictor:
        return cls(load_checkpoint(path), device, max_tokens)

    def _keep(self, pieces: list[list[str]]) -> tuple[list[str], int | None]:
        """The tokens the model reads from the tokenized pieces, and where the omitted middle was."""
        if len(pieces) == 1:
            tokens = pieces[0]
            if len(tokens) <= self.max_tokens:
                return tokens, None
            kept = head_tail(list(range(len(tokens))), self.max_tokens)
            return [tokens[i] for i in kept], _cut_position(kept)
        # A clipped text: head_tail's share of first tokens from the head piece and the last ones
        # from the tail piece; a piece too short for its share leaves the rest to the other.
        head, tail = pieces
        n_tail = min(len(tail), self.max_tokens - self._front)
        n_head = min(len(head), self.max_tokens - n_tail)
        n_tail = min(len(tail), self.max_tokens - n_head)
        return head[:n_head] + tail[len(tail) - n_tail :], n_head

    def _read(self, texts: Sequence[str], single: bool) -> list[Reading]:
        """Readings of ``texts``, tokenized in one pass; errors name the text, or its position in a batch."""
        prepared: list[tuple[list[str], bool]] = []
        for i, text in enumerate(texts):
            which = "the text" if single else f"text {i + 1}"
            if not isinstance(text, str):
                raise TypeError(f"{which} must be a string, not {type(text).__name__}")
            if not text.strip():
                raise EmptyTextError(f"{which} is empty" + (": type or paste a review" if single else ""))
            text, replaced = readable(text)
            prepared.append((clip_chars(text, self.max_tokens * CHARS_PER_TOKEN), replaced))
        tokenized = tokenize_many(piece for pieces, _ in prepared for piece in pieces)
        readings = []
        for i, (pieces, replaced) in enumerate(prepared):
            tokens, cut_at = self._keep([next(tokenized) for _ in pieces])
            if not tokens:
                raise EmptyTextError(f"{'the text' if single else f'text {i + 1}'} has no words to read")
            # Only a short text is closed: a longer one is a review, scored as reviews are.
            closed = self.closes_texts and len(tokens) <= CLOSED_MAX_TOKENS and cut_at is None and ends_in_word(tokens)
            if closed:
                tokens = [*tokens, "."]
            readings.append(Reading(tokens, len(pieces) > 1 or cut_at is not None, cut_at, replaced, closed))
        return readings

    def read(self, text: str) -> Reading:
        """What the model reads of one text, by the rule in this module's docstring.

        Raises ``TypeError`` for a non-string and ``EmptyTextError`` for a text without words.
        """
        return self._read([text], single=True)[0]

    def tokens(self, text: str) -> tuple[list[str], bool]:
        """The tokens the model reads for ``text`` (head and tail of a long one), and whether it was cut."""
        reading = self.read(text)
        return reading.tokens, reading.truncated

    def probability_rows(self, logits: torch.Tensor) -> list[dict[str, float]]:
        """{label: probability} per row of logits (B,) of two classes or (B, K) of more."""
        return [dict(zip(self.labels, row)) for row in class_probabilities(logits.float()).tolist()]


    def class_to_explain(self, target: str | None, tokens: list[str] | None = None) -> int | None:
        """The class index to explain: None (the positive logit) for two classes; for more, the
        label named, or by default the class predicted for ``tokens``."""
        if target is not None and target not in self.labels:
            raise ValueError(f"unknown label {target!r}; the model's labels are {self.labels}")
        if len(self.labels) == 2:
            if target not in (None, self.labels[1]):
                raise ValueError(f"a two-class model explains its positive label {self.labels[1]!r}, "
                                 f"not {target!r}")
            return None
        if target is not None:
            return self.labels.index(target)
        with torch.inference_mode():
            ids = self.encode(tokens or [])
            logits = self.model.infer(ids[None], torch.tensor([len(ids)], device=self.device))
        return int(logits[0].argmax())

    def encode(self, tokens: list[str]) -> torch.Tensor:
        """Token ids (T,) of ``tokens`` on the predictor's device."""
        return torch.tensor(self.vocab.encode(tokens), dtype=torch.long, device=self.device)

    @torch.inference_mode()
    def predict(self, text: str) -> dict[str, float]:
        """{label: probability} for one review, e.g. {'negative': 0.1, 'positive': 0.9}."""
        ids = self.encode(self.read(text).tokens)
        return self.probability_rows(self.model.infer(ids[None], torch.tensor([len(ids)], device=self.device)))[0]

    @torch.inference_mode()
    def predict_batch(self, texts: Sequence[str], batch_size: int = 64) -> list[dict[str, float]]:
        """Probabilities for many reviews, read by the same rule as ``predict``."""
        return self.predict_encoded([self.encode(reading.tokens) for reading in self._read(texts, single=False)],
                                    batch_size)

    @torch.inference_mode()
    def predict_encoded(self, encoded: Sequence[torch.Tensor], batch_size: int = 64) -> list[dict[str, float]]:
        """Probabilities for reviews already read and encoded (``encode(read(text).tokens)``), in batches."""
        # Sort by length so each batch pads little, then restore the input order.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out: list[dict[str, float]] = [{}] * len(encoded)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = torch.nn.utils.rnn.pad_sequence([encoded[i] for i in idx], batch_first=True,
                                                     padding_value=self.vocab.pad_index)
            lengths = torch.tensor([len(encoded[i]) for i in idx], device=self.device)
            for i, probs in zip(idx, self.probability_rows(self.model.infer(batch, lengths))):
                out[i] = probs
        return out
