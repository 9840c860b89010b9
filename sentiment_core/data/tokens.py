"""Many tokenized texts in three flat arrays, so a corpus of millions of tokens costs bytes per token.

As Python lists, every token is a string object of 50-60 bytes plus an 8-byte pointer: the 100,000
IMDB reviews (27 M tokens) took about 1.7 GB that way. ``TokenLists`` keeps each distinct token
once (the ``lexicon``) and the texts as int32 indices into it, with one offset per text:

    lexicon  ["A", "fine", "film", ".", "Dull"]
    codes    [0 1 2 3 | 4 3]                    int32, every text's tokens back to back
    offsets  [0 4 6]                            int64, text i is codes[offsets[i]:offsets[i + 1]]

about 4 bytes a token. It still reads as a sequence of token lists (``tokens[i]`` builds the
list of text i), so code written for lists works unchanged; the vocabulary, the batches and the
word vectors read the arrays directly.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import numpy as np


class TokenLists(Sequence[list[str]]):
    """Tokenized texts as a lexicon, int32 codes into it and per-text offsets; see the module docstring."""

    def __init__(self, lexicon: list[str], codes: np.ndarray, offsets: np.ndarray):
        self.lexicon = lexicon
        self.codes = np.asarray(codes, dtype=np.int32)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        if self.offsets.ndim != 1 or len(self.offsets) == 0 or self.offsets[0] != 0 \
                or self.offsets[-1] != len(self.codes):
            raise ValueError("offsets must start at 0 and end at the number of codes")

    @classmethod
    def from_lists(cls, texts: Iterable[Sequence[str]]) -> TokenLists:
        builder = TokenListsBuilder()
        for tokens in texts:
            builder.add(tokens)
        return builder.build()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return self.take(range(len(self))[i])
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"text {i} out of range ({len(self)} texts)")
        lexicon = self.lexicon
        return [lexicon[c] for c in self.codes[self.offsets[i] : self.offsets[i + 1]].tolist()]

    def __iter__(self) -> Iterator[list[str]]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(other) == len(self) and all(list(a) == list(b) for a, b in zip(self, other))

    def __repr__(self) -> str:
        return f"TokenLists({len(self):,} texts, {len(self.codes):,} tokens, {len(self.lexicon):,} distinct)"

    def lengths(self) -> np.ndarray:
        """Tokens per text, (N,) int64."""
        return np.diff(self.offsets)

    def take(self, indices: Sequence[int]) -> TokenLists:
        """The texts at ``indices``, in that order (repeats allowed), sharing this lexicon."""
        index = np.asarray(indices, dtype=np.int64)
        if len(index) and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"indices out of range ({len(self)} texts)")
        lengths = self.lengths()[index]
        offsets = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return TokenLists(self.lexicon, gather(self.codes, self.offsets[index], lengths), offsets)

    def nbytes(self) -> int:
        """Bytes of the arrays (the lexicon's strings not counted)."""
        return self.codes.nbytes + self.offsets.nbytes


# Texts gathered per round of ``gather``: its index arrays (8 bytes a token) then stay a few MB,
# whatever the corpus's size.
GATHER_TEXTS = 4096


def _spans(starts: np.ndarray, lengths: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """The positions ``starts[i] + j`` (j < lengths[i]) of every span, a few thousand spans at a
    time: (how many positions came before, positions)."""
    done = 0
    for first in range(0, len(starts), GATHER_TEXTS):
        part_starts, part_lengths = starts[first : first + GATHER_TEXTS], lengths[first : first + GATHER_TEXTS]
        count = int(part_lengths.sum())
        begins = np.zeros(len(part_lengths), dtype=np.int64)
        np.cumsum(part_lengths[:-1], out=begins[1:])
        within = np.arange(count, dtype=np.int64) - np.repeat(begins, part_lengths)  # place in the span
        yield done, np.repeat(part_starts, part_lengths) + within
        done += count


def gather(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``values[starts[i] : starts[i] + lengths[i]]`` for every i, back to back, in one array."""
    out = np.empty(int(lengths.sum()), dtype=values.dtype)
    for done, positions in _spans(starts, lengths):
        out[done : done + len(positions)] = values[positions]
    return out


def place(out: np.ndarray, starts: np.ndarray, lengths: np.ndarray, values: np.ndarray) -> None:
    """The reverse of ``gather``: ``values``, back to back, written to ``out[starts[i] : starts[i] + lengths[i]]``."""
    for done, positions in _spans(starts, lengths):
        out[positions] = values[done : done + len(positions)]


def concat(parts: Sequence[Sequence[Sequence[str]]]) -> TokenLists:
    """The texts of ``parts`` (``TokenLists`` or lists of token lists) one after the other, over one merged lexicon."""
    parts = [part if isinstance(part, TokenLists) else TokenLists.from_lists(part) for part in parts]
    if len(parts) == 1:
        return parts[0]
    lexicon: list[str] = []
    index: dict[str, int] = {}
    codes, lengths = [], []
    for part in parts:
        remap = np.fromiter((index.setdefault(tok, len(index)) for tok in part.lexicon), dtype=np.int32,
                            count=len(part.lexicon))
        codes.append(remap[part.codes])
        lengths.append(part.lengths())
    lexicon = list(index)
    all_lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
    offsets = np.zeros(len(all_lengths) + 1, dtype=np.int64)
    np.cumsum(all_lengths, out=offsets[1:])
    return TokenLists(lexicon, np.concatenate(codes) if codes else np.zeros(0, np.int32), offsets)


class TokenListsBuilder:
    """Appends token lists one at a time into a ``TokenLists``, holding only the compact arrays."""

    def __init__(self) -> None:
        self._index: dict[str, int] = {}
        self._codes = array("i")
        self._offsets = array("q", [0])

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def add(self, tokens: Iterable[str]) -> None:
        index = self._index
        setdefault = index.setdefault
        self._codes.extend([setdefault(tok, len(index)) for tok in tokens])
        self._offsets.append(len(self._codes))

    def extend(self, texts: Iterable[Iterable[str]]) -> None:
        for tokens in texts:
            self.add(tokens)

    def build(self) -> TokenLists:
        """The texts added so far. The arrays share the builder's memory (no copy of the corpus):
        add nothing after building."""
        codes = np.frombuffer(self._codes, dtype=np.int32) if self._codes else np.zeros(0, np.int32)
        return TokenLists(list(self._index), codes, np.frombuffer(self._offsets, dtype=np.int64))


def word_counts(texts: Iterable[Sequence[str]], lowercase: bool = True) -> Counter[str]:
    """How often each token occurs in ``texts`` (lowercased first by default); a ``TokenLists`` is
    counted per lexicon entry, not per token string."""
    counts: Counter[str] = Counter()
    if isinstance(texts, TokenLists):
        for tok, n in zip(texts.lexicon, np.bincount(texts.codes, minlength=len(texts.lexicon)).tolist()):
            if n:
                counts[tok.lower() if lowercase else tok] += n
    else:
        for tokens in texts:
            counts.update(t.lower() for t in tokens) if lowercase else counts.update(tokens)
    return counts
