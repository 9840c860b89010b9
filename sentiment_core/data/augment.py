"""Training examples besides whole reviews, so short texts and minimal edits are in distribution.

A classifier trained only on whole reviews (230 tokens on average) meets a one-line sentence as
something it has never seen. Two kinds of extra examples fix that:

- **passages**: one to three consecutive sentences of a training review, labelled as the review.
  The label is noisy (a positive review has its dull scenes), which the whole reviews outweigh;
  the passages teach the model to decide from a few sentences, and from the ones that carry
  the verdict.
- **counterfactual pairs** (Kaushik, Hovy and Lipton, 2020): IMDB reviews that people edited as
  little as possible to flip their label. Each pair differs only where the sentiment is, so the
  model must read the words that changed ("not", "but", the adjective) rather than the topic.
  A pair whose original is one of the run's validation or test reviews is dropped.
- **edited sentences** of those pairs: the sentences people rewrote, each side labelled as its
  review ("I don't find him an interesting actor." negative, "I find him an interesting actor."
  positive). About 8,000 sentence-sized minimal pairs in people's own words, many of them
  negations and "but" clauses, where a whole review dilutes the edit in 200 unchanged words.

``scrub`` removes from labelled training text every sentence that is one of the behaviour suite's
probe sentences, so the suite never tests a sentence the classifier was trained on.
"""

from __future__ import annotations

import csv
import difflib
import logging
import random
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path

from ..tokenizer import tokenize_many
from .formats import wide_csv_fields
from .source import DataError, Reviews
from .tokens import TokenLists, concat

log = logging.getLogger(__name__)

MAX_PASSAGE_SENTENCES = 3
MAX_PASSAGE_TOKENS = 80
MIN_PASSAGE_TOKENS = 3
MAX_COUNTERFACTUAL_BYTES = 64 * 2**20  # the train split's file is 4 MB


def _sentence_end(token: str) -> bool:
    return bool(token) and all(c in ".!?" for c in token)


def sentences(tokens: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) token spans of the sentences of a review; a sentence ends after a run of . ! ?"""
    spans, start = [], 0
    for i, token in enumerate(tokens):
        if _sentence_end(token) and (i + 1 == len(tokens) or not _sentence_end(tokens[i + 1])):
            spans.append((start, i + 1))
            start = i + 1
    if start < len(tokens):
        spans.append((start, len(tokens)))
    return spans


def passages(reviews: Reviews, per_review: float, seed: int) -> Reviews:
    """About ``per_review`` passages (1-3 consecutive sentences) per review, each from a random
    review and labelled as it, seeded."""
    rng = random.Random(seed)
    count = round(per_review * len(reviews))
    ids, labels, items = [], [], []
    attempts = 0
    while len(items) < count and attempts < 4 * count:
        attempts += 1
        i = rng.randrange(len(reviews))
        tokens = reviews.items[i]
        spans = sentences(tokens)
        first = rng.randrange(len(spans))
        last = min(len(spans), first + rng.randint(1, MAX_PASSAGE_SENTENCES)) - 1
        passage = tokens[spans[first][0] : spans[last][1]][:MAX_PASSAGE_TOKENS]
        if len(passage) < MIN_PASSAGE_TOKENS:
            continue
        ids.append(f"{reviews.ids[i]}#passage{len(items)}")
        labels.append(reviews.labels[i])
        items.append(passage)
    return Reviews(ids, labels, TokenLists.from_lists(items))


def _key(tokens: Iterable[str]) -> tuple[str, ...]:
    return tuple(t.lower() for t in tokens)


def probe_keys(texts: Iterable[str]) -> set[tuple[str, ...]]:
    """The lowercased token sequences of probe sentences, as ``scrub`` compares them."""
    return {_key(tokens) for tokens in tokenize_many(texts) if tokens}


def scrub(reviews: Reviews, probes: AbstractSet[tuple[str, ...]], drop_whole: bool = False) -> tuple[Reviews, int]:
    """``reviews`` without any run of sentences whose tokens (lowercased) are a probe's (a probe may
    be several sentences: "Did I like it? No."); and how many runs were removed.

    A review that was nothing but probe sentences keeps its text: dropping it would shift the
    label balance for a sentence the classifier learns nothing special from. ``drop_whole`` drops it
    instead, for examples that are a sentence or two (where keeping it would train on the probe).
    """
    longest = max((len(p) for p in probes), default=0)
    most = max((len(sentences(p)) for p in probes), default=0)
    changed: dict[int, list[str]] = {}
    removed = 0
    for i in range(len(reviews)):
        tokens = reviews.items[i]
        spans = sentences(tokens)
        hit: set[int] = set()  # indices of the sentences to drop
        for first in range(len(spans)):
            for count in range(1, min(most, len(spans) - first) + 1):
                start, end = spans[first][0], spans[first + count - 1][1]
                if end - start > longest:
                    break
                if _key(tokens[start:end]) in probes:
                    hit.update(range(first, first + count))
                    removed += 1
        if hit and (len(hit) < len(spans) or drop_whole):
            changed[i] = [t for n, (a, b) in enumerate(spans) if n not in hit for t in tokens[a:b]]
    if not changed:
        return reviews, 0
    keep = [i for i in range(len(reviews)) if changed.get(i, True)]  # an emptied example is dropped
    items = TokenLists.from_lists(changed.get(i, reviews.items[i]) for i in keep)
    return Reviews([reviews.ids[i] for i in keep], [reviews.labels[i] for i in keep], items), removed


def read_counterfactual(path: str | Path, classes: Sequence[str]) -> list[tuple[str, int, str]]:
    """(batch_id, label index, text) rows of a counterfactual TSV (``Sentiment``, ``Text``, ``batch_id``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such counterfactual file")
    if path.stat().st_size > MAX_COUNTERFACTUAL_BYTES:
        raise DataError(f"{path}: larger than {MAX_COUNTERFACTUAL_BYTES // 2**20} MB; not a counterfactual split")
    index = {name.lower(): i for i, name in enumerate(classes)}
    rows = []
    with wide_csv_fields(MAX_COUNTERFACTUAL_BYTES), open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        try:
            if not reader.fieldnames or not {"Sentiment", "Text", "batch_id"} <= set(reader.fieldnames):
                raise DataError(f"{path}: expected the columns Sentiment, Text and batch_id")
            for row in reader:
                label = index.get((row["Sentiment"] or "").strip().lower())
                if label is None:
                    raise DataError(f"{path}, line {reader.line_num}: label {row['Sentiment']!r} is none of the "
                                    f"classes {list(classes)}")
                rows.append((row["batch_id"], label, row["Text"] or ""))
        except csv.Error as exc:
            raise DataError(f"{path}, line {reader.line_num}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text after line {reader.line_num}: {exc}") from exc
    return rows


def counterfactual_pairs(path: str | Path, classes: Sequence[str],
                         held_out: Sequence[TokenLists]) -> tuple[Reviews, int]:
    """The pairs of a counterfactual file as reviews, leaving out every pair one of whose texts
    is a review of ``held_out`` (validation, test); and how many pairs were left out."""
    rows = read_counterfactual(path, classes)
    tokens = list(tokenize_many(text for _, _, text in rows))
    seen = {_key(t) for part in held_out for t in part}
    pairs: dict[str, list[int]] = {}
    for i, (batch_id, _, _) in enumerate(rows):
        pairs.setdefault(batch_id, []).append(i)
    kept, dropped = [], 0
    for members in pairs.values():
        if any(_key(tokens[i]) in seen for i in members):
            dropped += 1
        else:
            kept.extend(members)
    reviews = Reviews([f"counterfactual/{rows[i][0]}/{n}" for n, i in enumerate(kept)],
                      [rows[i][1] for i in kept], TokenLists.from_lists(tokens[i] for i in kept))
    return reviews, dropped


def _sentence_runs(tokens: Sequence[str]) -> list[list[str]]:
    return [list(tokens[a:b]) for a, b in sentences(tokens)]


def edited_sentences(pairs: Reviews) -> Reviews:
    """The sentences that differ between the two texts of each counterfactual pair of ``pairs`` (as
    ``counterfactual_pairs`` returns them), each side labelled as its review.

    The texts are aligned sentence by sentence (``difflib``); a run of changed sentences becomes one
    example a side (a sentence people deleted or added has one side only). Runs longer than a passage
    are left out: a rewrite that long is a review, which the pairs already are.
    """
    members: dict[str, list[int]] = {}
    for i, review_id in enumerate(pairs.ids):
        members.setdefault(review_id.rsplit("/", 1)[0], []).append(i)
    ids, labels, items = [], [], []
    for batch_id, group in members.items():
        if len(group) != 2 or pairs.labels[group[0]] == pairs.labels[group[1]]:
            continue
        a, b = (_sentence_runs(pairs.items[i]) for i in group)
        matcher = difflib.SequenceMatcher(a=[_key(s) for s in a], b=[_key(s) for s in b], autojunk=False)
        for op, a1, a2, b1, b2 in matcher.get_opcodes():
            if op == "equal":
                continue
            for i, run in ((group[0], a[a1:a2]), (group[1], b[b1:b2])):
                tokens = [t for sentence in run for t in sentence]
                if 0 < len(tokens) <= MAX_PASSAGE_TOKENS:
                    ids.append(f"{batch_id}/edit{len(items)}")
                    labels.append(pairs.labels[i])
                    items.append(tokens)
    return Reviews(ids, labels, TokenLists.from_lists(items))


def join(parts: Sequence[Reviews]) -> Reviews:
    """Several sets of reviews as one."""
    return Reviews([i for p in parts for i in p.ids], [y for p in parts for y in p.labels],
                   concat([p.items for p in parts]))
