"""Pseudo-labels: IMDB's unlabeled reviews labelled by teacher models, the file that holds them, and a
run that trains on them."""

import dataclasses
import json

import pytest
import torch

import sentiment_core.pseudo as pseudo
from sentiment_core import load_checkpoint, load_corpus
from sentiment_core.cli import main
from sentiment_core.config import TrainConfig
from sentiment_core.data import DataError, Reviews, TokenLists, seeded_sample
from sentiment_core.data.cache import cache_key
from sentiment_core.finetune import training_examples
from sentiment_core.predict import Predictor


def examples(corpus, cfg):
    gen = training_examples(corpus, cfg)
    try:
        while True:
            next(gen)
    except StopIteration as done:
        return done.value


def document(**changes):
    doc = {"format": pseudo.FORMAT, "version": pseudo.VERSION, "labels": ["negative", "positive"],
           "source_key": "abc", "seed": 0, "teachers": [{"file": "t.safetensors", "name": "t", "sha256": "0"}],
           "ids": ["unsup/1_0", "unsup/2_0"], "probabilities": [[0.1, 0.9], [0.6, 0.4]]}
    return {**doc, **changes}


def write(path, doc):
    path.write_text(json.dumps(doc) if isinstance(doc, dict) else doc, encoding="utf-8")
    return path


def test_a_pseudo_label_file_is_read_back_as_written(tmp_path):
    doc = pseudo.read_pseudo_labels(write(tmp_path / "p.json", document()))
    assert doc["ids"] == ["unsup/1_0", "unsup/2_0"] and doc["probabilities"][1] == [0.6, 0.4]


@pytest.mark.parametrize("doc, message", [
    ("{not json", "unreadable JSON"),
    ("[1, 2]", "not a pseudo-label file"),
    (document(format="other"), "not a pseudo-label file"),
    (document(version=2), "version 2"),
    (document(labels=["only"]), "'labels' must be"),
    (document(teachers=[]), "'teachers' must list"),
    (document(teachers=[{"file": "t"}] * (pseudo.MAX_TEACHERS + 1)), "'teachers' must list"),
    (document(ids=["unsup/1_0"]), "one per row"),
    (document(ids=["unsup/1_0", "unsup/1_0"]), "distinct"),
    (document(ids=["unsup/1_0", 7]), "distinct"),
    (document(probabilities=[[0.1, 0.9], [0.5, 0.6]]), "adding up to 1"),
    (document(probabilities=[[0.1, 0.9], [1.5, -0.5]]), "in \\[0, 1\\]"),
    (document(probabilities=[[0.1, 0.9], [0.4, 0.6, 0.0]]), "2 numbers"),
    (document(probabilities=[[0.1, 0.9], [True, False]]), "2 numbers"),
    ('{"format": "sentiment-pseudo-labels", "version": 1, "labels": ["a", "b"], "source_key": "k", '
     '"teachers": [{"file": "t"}], "ids": ["x"], "probabilities": [[NaN, 1]]}', "numbers in"),
    (document(source_key=None), "'source_key'"),
])
def test_a_bad_pseudo_label_file_is_refused_with_what_is_wrong(tmp_path, doc, message):
    with pytest.raises(DataError, match=message):
        pseudo.read_pseudo_labels(write(tmp_path / "p.json", doc))


def test_a_missing_or_huge_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="cannot read the pseudo-label file"):
        pseudo.read_pseudo_labels(tmp_path / "none.json")
    monkeypatch.setattr(pseudo, "MAX_FILE_BYTES", 100)
    with pytest.raises(DataError, match="more than a pseudo-label file's"):
        pseudo.read_pseudo_labels(write(tmp_path / "p.json", document()))


def test_the_sample_is_seeded_sorted_and_all_when_asked():
    assert seeded_sample(0, 5, seed=1) == list(range(5)) == seeded_sample(9, 5, seed=1)
    picked = seeded_sample(3, 100, seed=1)
    assert picked == sorted(picked) == seeded_sample(3, 100, seed=1) != seeded_sample(3, 100, seed=2)


def test_the_ensemble_averages_each_teachers_calibrated_probabilities(tiny_checkpoint):
    teacher = load_checkpoint(tiny_checkpoint)
    texts = ["A wonderful film with a great cast .", "Dull , boring and far too long ."]
    reviews = Reviews(["a", "b"], [0, 0], TokenLists.from_lists(t.split() for t in texts))
    alone = pseudo.ensemble_probabilities([teacher], reviews)
    predicted = Predictor(teacher).predict_batch(texts)
    assert alone[:, 1].tolist() == pytest.approx([p["positive"] for p in predicted], abs=1e-5)
    assert torch.equal(pseudo.ensemble_probabilities([teacher, teacher], reviews), alone)
    other = dataclasses.replace(teacher, labels=["bad", "good"])
    with pytest.raises(ValueError, match="labels differ"):
        pseudo.ensemble_probabilities([teacher, other], reviews)
    with pytest.raises(ValueError, match="at least one teacher"):
        pseudo.ensemble_probabilities([], reviews)


def test_unlabeled_reviews_are_labelled_and_a_run_trains_on_the_sure_ones(imdb_checkpoint, imdb_archive, tmp_path):
    out = tmp_path / "pseudo.json"
    args = ["pseudo-label", "--teacher", str(imdb_checkpoint), "--teacher", str(imdb_checkpoint), "--data",
            str(imdb_archive), "--count", "40", "--seed", "3", "--output", str(out)]
    assert main(args) == 0
    doc = pseudo.read_pseudo_labels(out)
    assert len(doc["ids"]) == 40 and all(i.startswith("unsup/") for i in doc["ids"])
    assert [t["file"] for t in doc["teachers"]] == [imdb_checkpoint.name] * 2
    assert main(args) == 1  # the file exists: refused without --overwrite, and kept
    assert pseudo.read_pseudo_labels(out) == doc
    assert main([*args[:-1], str(tmp_path / "pseudo.txt")]) == 1

    cfg = TrainConfig(data=str(imdb_archive), max_train_samples=50, max_eval_samples=20, pseudo_labels=str(out),
                      pseudo_min_confidence=0.0)
    corpus = load_corpus(cfg)
    everything = examples(corpus, cfg)
    labelled = {i: everything.labels[n] for n, i in enumerate(everything.ids) if i.startswith("pseudo/")}
    answers = {f"pseudo/{i}": max(range(2), key=row.__getitem__) for i, row in zip(doc["ids"], doc["probabilities"])}
    assert labelled == answers and len(everything) == 50 + 40
    sure = max(max(row) for row in doc["probabilities"])
    strict = examples(corpus, dataclasses.replace(cfg, pseudo_min_confidence=sure))
    assert 1 <= sum(i.startswith("pseudo/") for i in strict.ids) < 40

    # Another data's file, other labels, or a review that is not one of this data's unlabeled ones: refused.
    for change, message in ((dict(source_key="0" * 16), "other data or another tokenizer"),
                            (dict(labels=["bad", "good"]), "labels reviews as"),
                            (dict(ids=["unsup/nope_0", *doc["ids"][1:]]), "not unlabeled reviews of this data")):
        bad = write(tmp_path / "bad.json", {**doc, **change})
        with pytest.raises(DataError, match=message):
            examples(corpus, dataclasses.replace(cfg, pseudo_labels=str(bad)))
    assert doc["source_key"] == cache_key(pseudo.unlabeled_cache(str(imdb_archive)).source)


def test_pseudo_labels_are_for_imdb_data(synthetic_data, tmp_path):
    cfg = TrainConfig(data=str(synthetic_data), pseudo_labels=str(write(tmp_path / "p.json", document())))
    with pytest.raises(ValueError, match="IMDB's unlabeled reviews"):
        examples(load_corpus(cfg), cfg)
