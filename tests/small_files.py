"""Two small labelled files as a new user brings them: support tickets in 3 classes and good/bad
reviews, each class with its own words among words every class uses, and 5% of labels flipped."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

NOISE = 0.05  # share of rows whose label is replaced by another class's
SHARED = "the my i it is was this please thanks help today again still after when have not just need"
TICKETS = {
    "billing": "invoice charged refund payment card bill price twice subscription receipt",
    "technical": "error crash app screen loading broken bug update install freezes",
    "account": "password login username email locked reset profile verify signin access",
}
REVIEWS = {
    "good": "great love excellent perfect happy works recommend nice fast best",
    "bad": "terrible hate awful broken waste poor slow worst useless disappointed",
}


def labelled_csv(path: Path, class_words: dict[str, str], rows: int, seed: int = 0) -> Path:
    """``rows`` texts of 8-15 words: two to four of their class's words, up to one of another class's (so
    vocabularies overlap), the rest shared by all; labels replaced with probability ``NOISE``."""
    rng = random.Random(seed)
    shared, classes = str.split(SHARED), {name: str.split(words) for name, words in class_words.items()}
    names = list(classes)
    texts, labels = [], []
    for i in range(rows):
        label = names[i % len(names)]
        words = rng.choices(shared, k=rng.randint(6, 10))
        own = rng.choices(classes[label], k=rng.randint(2, 4))
        borrowed = rng.choices(classes[rng.choice([n for n in names if n != label])], k=rng.randint(0, 1))
        for word in own + borrowed:
            words.insert(rng.randrange(len(words) + 1), word)
        texts.append(" ".join(words))
        labels.append(rng.choice([n for n in names if n != label]) if rng.random() < NOISE else label)
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    return path


def tickets_csv(path: Path) -> Path:
    return labelled_csv(path, TICKETS, 600)


def good_bad_csv(path: Path) -> Path:
    return labelled_csv(path, REVIEWS, 200, seed=1)
