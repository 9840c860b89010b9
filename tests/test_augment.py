"""Extra training examples (data/augment.py): sentences, passages, the probe scrub and counterfactual
pairs; and no training example a run builds holds a sentence of the behaviour suite."""

import csv
import dataclasses
import re
from pathlib import Path

import pytest

import sentiment_core.finetune as finetune
from sentiment_core.behaviour import BUG_REPORT_SENTENCES, normalize, probe_sentences
from sentiment_core.config import TrainConfig
from sentiment_core.data import Corpus, DataError, Reviews, TokenLists, load_corpus
from sentiment_core.data.augment import (
    MAX_PASSAGE_SENTENCES,
    MAX_PASSAGE_TOKENS,
    MIN_PASSAGE_TOKENS,
    counterfactual_pairs,
    edited_sentences,
    join,
    passages,
    probe_keys,
    read_counterfactual,
    scrub,
    sentences,
)
from sentiment_core.tokenizer import tokenize, tokenize_many

COUNTERFACTUAL = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "counterfactual-imdb"
CLASSES = ["negative", "positive"]


def reviews(texts: list[str], labels: list[int] | None = None, prefix: str = "r") -> Reviews:
    return Reviews([f"{prefix}/{i}" for i in range(len(texts))], labels or [i % 2 for i in range(len(texts))],
                   TokenLists.from_lists(tokenize_many(texts)))


def write_tsv(path: Path, rows: list[tuple[str, str, str]], header=("Sentiment", "Text", "batch_id")) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(header)
        writer.writerows(rows)
    return path


# ---------------------------------------------------------------------------------------------
# Sentences and passages


@pytest.mark.parametrize("text, expected", [
    ("A fine film . I liked it ! Did you ? Yes", ["A fine film .", "I liked it !", "Did you ?", "Yes"]),
    ("Wait ! ! ! what ? ! Fine ...", ["Wait ! ! !", "what ? !", "Fine ..."]),
    ("no punctuation at all", ["no punctuation at all"]),
    (". . Hello .", [". .", "Hello ."]),
    ("It ?! Sure .", ["It ?!", "Sure ."]),
    ("", []),
])
def test_sentences_end_after_each_run_of_stops(text, expected):
    tokens = text.split()
    spans = sentences(tokens)
    assert [" ".join(tokens[a:b]) for a, b in spans] == expected
    assert [a for a, _ in spans[1:]] == [b for _, b in spans[:-1]]  # back to back, nothing left out


def long_reviews() -> Reviews:
    texts = [" ".join(f"Sentence {j} of review {i} is {'good' if i % 2 else 'bad'} ." for j in range(6))
             for i in range(10)]
    texts.append("Short .")  # too short for a passage of its own
    return reviews(texts)


def test_passages_are_one_to_three_sentences_of_a_review_with_its_label():
    source = long_reviews()
    out = passages(source, 2.0, seed=3)
    assert len(out) == 22  # about per_review passages a review
    by_id = dict(zip(source.ids, range(len(source))))
    for pid, label, tokens in zip(out.ids, out.labels, out.items):
        i = by_id[pid.split("#passage")[0]]
        review = source.items[i]
        assert label == source.labels[i]
        assert MIN_PASSAGE_TOKENS <= len(tokens) <= MAX_PASSAGE_TOKENS
        starts = [a for a, _ in sentences(review)]
        start = next(a for a in starts if review[a : a + len(tokens)] == tokens)  # whole sentences of it
        assert start in starts and 1 <= len(sentences(tokens)) <= MAX_PASSAGE_SENTENCES
        assert tokens[-1] == "."
    assert {len(sentences(t)) for t in out.items} == {1, 2, 3}


def test_passages_are_seeded():
    source = long_reviews()
    assert list(passages(source, 1.0, seed=5).items) == list(passages(source, 1.0, seed=5).items)
    assert list(passages(source, 1.0, seed=5).items) != list(passages(source, 1.0, seed=6).items)
    assert len(passages(source, 0.0, seed=5)) == 0


def test_a_passage_is_cut_at_its_token_limit():
    text = " ".join(["word"] * (MAX_PASSAGE_TOKENS + 50)) + " ."
    out = passages(reviews([text]), 1.0, seed=0)
    assert [len(t) for t in out.items] == [MAX_PASSAGE_TOKENS]


# ---------------------------------------------------------------------------------------------
# The probe scrub


PROBES = ["I hated it.", "This movie is not bad."]


def test_scrub_removes_exactly_the_probe_sentences_whatever_their_case():
    probes = probe_keys(PROBES)
    source = reviews([
        "The cast was fine. I HATED IT. The music was lovely.",
        "I hated it, mostly. This movie is not bad!",  # neither sentence is a probe's
        "This movie is not bad. Really.",
        "A plain review without any probe.",
    ], labels=[0, 1, 1, 0])
    out, removed = scrub(source, probes)
    assert removed == 2
    assert [" ".join(t) for t in out.items] == [
        "The cast was fine . The music was lovely .", "I hated it , mostly . This movie is not bad !", "Really .",
        "A plain review without any probe ."]
    assert out.ids == source.ids and out.labels == source.labels
    assert scrub(reviews(["Nothing to see."]), probes)[1] == 0


def test_a_review_that_is_only_probe_sentences_keeps_its_text():
    source = reviews(["I hated it.", "i hated it. This movie is not bad."])
    out, removed = scrub(source, probe_keys(PROBES))
    assert removed == 0 and list(out.items) == list(source.items)


def test_a_probe_of_two_sentences_is_scrubbed_but_not_its_sentences_alone():
    probe = "Did I like the acting? Absolutely."  # 726 suite sentences are several sentences like this one
    assert normalize(probe) in probe_sentences()
    source = reviews([f"The plot was thin. {probe} The end was fine.", "Absolutely. Did I like the acting? No."])
    out, removed = scrub(source, probe_keys([probe]))
    assert removed == 1
    assert [" ".join(t) for t in out.items] == ["The plot was thin . The end was fine .",
                                                 "Absolutely . Did I like the acting ? No ."]


# ---------------------------------------------------------------------------------------------
# Counterfactual pairs


PAIRS = [("Negative", "This film was dull. I left early.", "1"), ("Positive", "This film was gripping. I stayed.", "1"),
         ("Positive", "A fine cast and a fine plot.", "2"), ("Negative", "A poor cast and a poor plot.", "2"),
         ("positive", "Lovely music throughout.", "3"), ("NEGATIVE ", "Awful music throughout.", "3")]


def test_a_pair_with_a_held_out_review_is_dropped_whole(tmp_path):
    path = write_tsv(tmp_path / "pairs.tsv", PAIRS)
    held_out = [TokenLists.from_lists([tokenize("A POOR cast and a poor plot.")]),
                TokenLists.from_lists([tokenize("Unrelated test review.")])]
    out, dropped = counterfactual_pairs(path, CLASSES, held_out)
    assert dropped == 1
    assert [" ".join(t) for t in out.items] == [
        "This film was dull . I left early .", "This film was gripping . I stayed .", "Lovely music throughout .",
        "Awful music throughout ."]
    assert out.labels == [0, 1, 1, 0] and len(set(out.ids)) == 4
    assert all(i.startswith("counterfactual/") for i in out.ids)
    assert counterfactual_pairs(path, CLASSES, [])[1] == 0


def test_edited_sentences_are_the_changed_runs_of_each_pair_labelled_as_their_review(tmp_path):
    rows = [("Negative", "Shot in Prague. I don't find him funny. The end came soon.", "1"),
            ("Positive", "Shot in Prague. I find him funny. The end came soon.", "1"),
            ("Positive", "A fine cast. Lovely music. " + "Long " * 90 + "scene.", "2"),
            ("Negative", "A poor cast. Lovely music. " + "Dull " * 90 + "scene.", "2"),
            ("Positive", "Great fun.", "3"), ("Negative", "Great fun. Sadly it drags.", "3"),
            ("Positive", "Same label.", "4"), ("Positive", "Same label, edited.", "4")]
    pairs, _ = counterfactual_pairs(write_tsv(tmp_path / "pairs.tsv", rows), CLASSES, [])
    edits = edited_sentences(pairs)
    got = [(edits.labels[i], " ".join(edits.items[i])) for i in range(len(edits))]
    assert got == [(0, "I do n't find him funny ."), (1, "I find him funny ."),
                   (1, "A fine cast ."), (0, "A poor cast ."),  # the 92-token rewrite is left out
                   (0, "Sadly it drags .")]  # a sentence added on one side only; pair 4 is no flip
    assert len(set(edits.ids)) == len(edits) and all(i.startswith("counterfactual/") for i in edits.ids)


def test_an_edited_sentence_that_is_a_probe_is_dropped_not_kept():
    edits = reviews(["I hated it.", "I hated it. The cast is lost.", "The cast shines."], labels=[0, 0, 1])
    probes = probe_keys(["I hated it."])
    kept, removed = scrub(edits, probes, drop_whole=True)
    assert [" ".join(t) for t in kept.items] == ["The cast is lost .", "The cast shines ."]
    assert kept.labels == [0, 1] and kept.ids == ["r/1", "r/2"] and removed == 2
    assert len(scrub(edits, probes)[0]) == 3  # reviews keep a text that is nothing but probes


def test_edited_sentences_need_the_counterfactual_file():
    with pytest.raises(ValueError, match="name the counterfactual file"):
        TrainConfig(edited_sentences=2)


def test_the_shipped_counterfactual_split_reads_as_pairs_of_opposite_labels():
    rows = read_counterfactual(COUNTERFACTUAL / "train_paired.tsv", CLASSES)
    assert len(rows) == 3414
    pairs = {}
    for batch_id, label, text in rows:
        pairs.setdefault(batch_id, []).append(label)
        assert text
    assert len(pairs) == 1707 and all(sorted(labels) == [0, 1] for labels in pairs.values())


@pytest.mark.parametrize("kind, message", [
    ("bad label", "line 3: label 'Neutral' is none of the classes"),
    ("missing column", "expected the columns Sentiment, Text and batch_id"),
    ("empty", "expected the columns Sentiment, Text and batch_id"),
    ("missing file", "no such counterfactual file"),
    ("not utf-8", "not UTF-8 text after line"),
    ("not utf-8 far down", "not UTF-8 text after line"),
])
def test_a_bad_counterfactual_file_is_a_data_error(kind, message, tmp_path):
    path = tmp_path / "pairs.tsv"
    if kind == "bad label":
        write_tsv(path, [PAIRS[0], ("Neutral", "Meh.", "1")])
    elif kind == "missing column":
        write_tsv(path, [("Negative", "Dull.")], header=("Sentiment", "Text"))
    elif kind == "empty":
        path.write_text("")
    elif kind.startswith("not utf-8"):
        rows = [PAIRS[0]] * (2000 if kind.endswith("far down") else 1)
        write_tsv(path, rows)
        path.write_bytes(path.read_bytes() + b"Positive\t\xff\xfe\t1\n")
    with pytest.raises(DataError, match=message) as info:
        counterfactual_pairs(path, CLASSES, [])
    assert str(path) in str(info.value)


def read_with_limit(path: Path, limit: int):
    """What read_counterfactual makes of ``path`` under csv's field size ``limit``; the limit must be untouched."""
    saved = csv.field_size_limit(limit)
    try:
        try:
            outcome = ("read", [len(text) for _, _, text in read_counterfactual(path, CLASSES)])
        except DataError as exc:
            outcome = ("refused", str(exc))
        assert csv.field_size_limit() == limit  # a process-wide setting: not this reader's to change
        return outcome
    finally:
        csv.field_size_limit(saved)


def test_a_200_kb_field_is_read_whatever_csv_limit_ran_before(tmp_path):
    path = write_tsv(tmp_path / "big.tsv", [("Negative", "dull " * 40_000, "1"), ("Positive", "Fine.", "1")])
    # Python's default limit, and the one table.py's reader leaves behind: the same rows either way.
    for limit in (131_072, 16 * 2**20):
        assert read_with_limit(path, limit) == ("read", [200_000, 5])


def test_join_keeps_every_part_in_order():
    a, b = reviews(["One.", "Two."], prefix="a"), reviews(["Three."], labels=[1], prefix="b")
    out = join([a, b])
    assert out.ids == ["a/0", "a/1", "b/0"] and out.labels == [0, 1, 1]
    assert [" ".join(t) for t in out.items] == ["One .", "Two .", "Three ."]


# ---------------------------------------------------------------------------------------------
# No training text holds a suite sentence


@pytest.fixture(scope="module")
def suite_keys() -> set[tuple[str, ...]]:
    """Every suite and bug-report sentence as lowercased tokens (tokenized here, not by the code under test)."""
    texts = sorted(probe_sentences() | set(BUG_REPORT_SENTENCES))
    return {tuple(t.lower() for t in tokens) for tokens in tokenize_many(texts)}


def suite_sentences_in(examples: Reviews, keys: set[tuple[str, ...]]) -> list[tuple[str, str]]:
    """(id, text) of every run of one to three consecutive sentences of an example that is a suite sentence."""
    found = []
    for rid, tokens in zip(examples.ids, examples.items):
        spans = sentences(tokens)
        for i in range(len(spans)):
            for j in range(i, min(i + 3, len(spans))):
                words = tuple(t.lower() for t in tokens[spans[i][0] : spans[j][1]])
                if words in keys:
                    found.append((rid, " ".join(words)))
    return found


def examples(corpus: Corpus, cfg: TrainConfig) -> tuple[Reviews, list]:
    gen, events = finetune.training_examples(corpus, cfg), []
    try:
        while True:
            events.append(next(gen))
    except StopIteration as done:
        return done.value, events


@pytest.mark.imdb  # IMDB reviews, and the pairs edited from them that are left out by the archive's ids
def test_a_runs_training_examples_hold_no_suite_sentence(suite_keys):
    cfg = TrainConfig(max_train_samples=300, max_eval_samples=100, passages=1.0,
                      counterfactual=str(COUNTERFACTUAL / "train_paired.tsv"))
    corpus = load_corpus(cfg)
    train, events = examples(corpus, cfg)
    assert len(train) > 300 + 300 + 3000  # the reviews, their passages and the pairs
    assert any(i.startswith("counterfactual/") for i in train.ids) and any("#passage" in i for i in train.ids)
    assert "counterfactual reviews" in events[-1].message
    assert suite_sentences_in(train, suite_keys) == []
    with_edits, events = examples(corpus, dataclasses.replace(cfg, edited_sentences=2))
    edits = [i for i in with_edits.ids if "/edit" in i]
    assert len(edits) > 2 * 4000 and len(set(edits)) == len(edits) // 2  # two copies of each
    assert "edited sentences of them x 2" in events[-1].message
    assert suite_sentences_in(with_edits, suite_keys) == []
    composed, events = examples(corpus, dataclasses.replace(cfg, negations=1, emphatic_negations=1, contrasts=1))
    assert any(i.startswith("negation") for i in composed.ids) and any(i.startswith("contrast") for i in composed.ids)
    assert "negated sentences x 1" in events[-1].message and "contrasts" in events[-1].message
    assert "emphatic negations x 1" in events[-1].message and any(i.startswith("emphatic") for i in composed.ids)
    assert suite_sentences_in(composed, suite_keys) == []
    # Verb negations and questions compose more of the sentences people type ("I didn't like it.", "Was it
    # good?"), which is where a suite sentence is likeliest to be made: none is kept. With them, the plain
    # claims the rules compose from, each labelled as its extreme review.
    more, events = examples(corpus, dataclasses.replace(cfg, negations=1, emphatic_negations=1, contrasts=1,
                                                        negate_verbs=True, questions=1, claims=2))
    negated = [i for i in more.ids if i.startswith("negation")]
    assert len(negated) > len([i for i in composed.ids if i.startswith("negation")])
    assert "questions x 1" in events[-1].message and any(i.startswith("question") for i in more.ids)
    claims = [i for i in more.ids if "#claim" in i and not i.startswith(("negation", "emphatic", "question",
                                                                         "contrast"))]
    assert claims and len(set(claims)) == len(claims) // 2  # two copies of each
    assert f"{len(claims) // 2:,} claims of rated reviews x 2" in events[-1].message
    assert all(re.search(r"_(\d+)#claim", i).group(1) in {"1", "2", "9", "10"} for i in claims)
    kept = set(claims)
    labelled = {i: corpus.classes[more.labels[n]] for n, i in enumerate(more.ids) if i in kept}
    assert all(label == {"pos": "positive", "neg": "negative"}[i.split("/")[0]] for i, label in labelled.items())
    assert suite_sentences_in(more, suite_keys) == []


def test_the_check_finds_a_planted_suite_sentence_unless_scrubbed(suite_keys, tmp_path, monkeypatch):
    planted, planted_pair = "I hated it.", "This movie is not bad."
    plain = ["Shot in Prague.", "The end came too soon.", "A dull and empty film.", "The cast shines.",
             "The cast is lost.", "Nobody in it can act."]
    probes = probe_sentences()
    assert normalize(planted) in probes and normalize(planted_pair) in probes
    assert not {normalize(p) for p in plain} & probes
    pairs = write_tsv(tmp_path / "pairs.tsv", [("Positive", f"{planted_pair} The cast shines.", "1"),
                                               ("Negative", "Nobody in it can act. The cast is lost.", "1")])
    texts = [f"Shot in Prague. {planted} The end came too soon."] * 4 + ["A dull and empty film."] * 4
    corpus = Corpus(train=reviews(texts), val=reviews(["Some other film."]), test=reviews(["Yet another film."]))
    cfg = TrainConfig(passages=1.0, counterfactual=str(pairs))

    monkeypatch.setattr(finetune, "scrub", lambda reviews, probes: (reviews, 0))
    unscrubbed, _ = examples(corpus, cfg)
    found = {text for _, text in suite_sentences_in(unscrubbed, suite_keys)}
    assert found == {"i hated it .", "this movie is not bad ."}

    monkeypatch.undo()
    train, events = examples(corpus, cfg)
    assert suite_sentences_in(train, suite_keys) == []
    assert "4 behaviour-suite sentences scrubbed" in events[-1].message
    kept = {" ".join(t) for t in train.items}
    assert "Shot in Prague . The end came too soon ." in kept and "The cast shines ." in kept


def test_counterfactual_pairs_are_for_polarity_data_only(tmp_path):
    pairs = write_tsv(tmp_path / "pairs.tsv", PAIRS)
    three = Corpus(train=reviews(["Fine.", "Bad.", "Odd."], labels=[0, 1, 2]), val=reviews(["Fine."]),
                   test=reviews(["Bad."]), classes=["low", "mid", "high"])
    with pytest.raises(ValueError, match="counterfactual pairs are negative/positive reviews"):
        examples(three, TrainConfig(counterfactual=str(pairs)))
