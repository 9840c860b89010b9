"""A small vocabulary: token <-> index, built from the training split only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .data.tokens import TokenLists, word_counts

PAD, UNK = "<pad>", "<unk>"


class Vocab:
    """Maps tokens to indices; index 0 is ``<pad>``, index 1 is ``<unk>``."""

    def __init__(self, itos: Sequence[str], lowercase: bool = True):
        if list(itos[:2]) != [PAD, UNK]:
            raise ValueError(f"a vocabulary must start with {PAD!r}, {UNK!r}")
        if len(set(itos)) != len(itos):
            raise ValueError("vocabulary tokens must be unique")
        self.itos = list(itos)
        self.lowercase = lowercase
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}

    pad_index = 0
    unk_index = 1

    @classmethod
    def build(
        cls,
        tokenized: Iterable[Sequence[str]],
        max_size: int = 25_000,
        min_freq: int = 1,
        lowercase: bool = True,
    ) -> Vocab:
        """Keep the ``max_size`` most frequent tokens seen at least ``min_freq`` times."""
        counts = word_counts(tokenized, lowercase)
        # Sort by (-count, token) so equal counts break ties the same way on every run.
        ranked = sorted((item for item in counts.items() if item[1] >= min_freq), key=lambda kv: (-kv[1], kv[0]))
        words = [tok for tok, _ in ranked if tok not in (PAD, UNK)][:max_size]
        return cls([PAD, UNK, *words], lowercase=lowercase)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Token indices, ``<unk>`` for unknown tokens."""
        get, unk = self.stoi.get, self.unk_index
        if self.lowercase:
            return [get(t.lower(), unk) for t in tokens]
        return [get(t, unk) for t in tokens]

    def lookup(self, texts: TokenLists) -> np.ndarray:
        """The vocabulary index of each entry of ``texts``' lexicon, (len(lexicon),) int32."""
        get, unk = self.stoi.get, self.unk_index
        return np.fromiter((get(t.lower() if self.lowercase else t, unk) for t in texts.lexicon), dtype=np.int32,
                           count=len(texts.lexicon))

    def encode_lists(self, texts: TokenLists) -> np.ndarray:
        """Token indices of all of ``texts``' codes at once, (len(texts.codes),) int32."""
        return self.lookup(texts)[texts.codes]

    def to_dict(self) -> dict[str, Any]:
        return {"itos": self.itos, "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocab:
        return cls(data["itos"], lowercase=bool(data.get("lowercase", True)))
