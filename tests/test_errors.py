"""The errors table: exactly the off-diagonal of evaluate's confusion matrix, raw texts, filters, its cache."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from sentiment_core import CheckpointError, Predictor, load_checkpoint, save_checkpoint
from sentiment_core.data import DataError, EncodedDataset, make_loader
from sentiment_core.evaluation import evaluate, load_split, split_config
from sentiment_core.mistakes import ErrorTable, error_table
from sentiment_core.tokenizer import tokenize

SLICE = 200


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("errors-cache")


@pytest.fixture(scope="module")
def val_run(tiny_checkpoint, cache_dir) -> tuple[ErrorTable, Path]:
    """The validation slice's table, and the cache file it was written to."""
    table = error_table(tiny_checkpoint, "val", cache_dir=str(cache_dir), max_samples=SLICE)
    (path,) = (cache_dir / "errors").glob("*.json")
    return table, path


@pytest.fixture(scope="module")
def val_table(val_run) -> ErrorTable:
    return val_run[0]


def reference(checkpoint, split):
    """What ``evaluate`` says of the same slice, and the reviews it read."""
    ckpt = load_checkpoint(checkpoint)
    cfg = split_config(ckpt.train_config, max_samples=SLICE)
    reviews = load_split(cfg, split)
    loader = make_loader(EncodedDataset(reviews, ckpt.vocab, cfg.max_tokens), 128, shuffle=False)
    return evaluate(ckpt.model, loader), reviews


@pytest.mark.parametrize("split", ["val", "test"])
def test_the_errors_are_the_off_diagonal_of_evaluates_confusion_matrix(split, tiny_checkpoint, val_table, cache_dir):
    table = val_table if split == "val" else error_table(tiny_checkpoint, split, cache_dir=str(cache_dir),
                                                         max_samples=SLICE)
    metrics, reviews = reference(tiny_checkpoint, split)
    (_, fp), (fn, _) = metrics.confusion
    assert 0 < fp + fn < SLICE  # the tiny model makes mistakes, and not only mistakes
    assert len(table.rows) == fp + fn
    assert sum(row.label == "negative" for row in table.rows) == fp
    assert sum(row.label == "positive" for row in table.rows) == fn
    assert table.metrics.confusion == metrics.confusion and table.metrics.count == SLICE
    assert table.metrics.loss == pytest.approx(metrics.loss, rel=1e-5)
    assert table.split == split and table.max_tokens == 150
    index = {rid: i for i, rid in enumerate(reviews.ids)}
    assert len({row.id for row in table.rows}) == len(table.rows) and all(row.id in index for row in table.rows)
    for row in table.rows:
        assert row.label == ("negative", "positive")[reviews.labels[index[row.id]]] != row.predicted
        assert row.tokens == len(reviews.items[index[row.id]])
        assert 0.5 <= row.confidence <= 1.0
        assert row.confidence == pytest.approx(row.p_positive if row.predicted == "positive" else 1 - row.p_positive)
    confidences = [row.confidence for row in table.rows]
    assert confidences == sorted(confidences, reverse=True)


def test_each_error_carries_its_raw_review_which_the_predictor_reads_the_same_way(tiny_checkpoint, val_table):
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    assert predictor.max_tokens == val_table.max_tokens
    for row in val_table.rows[:10]:
        assert len(tokenize(row.text)) == row.tokens  # the text the tokens came from, not a re-joined one
        assert predictor.predict(row.text)["positive"] == pytest.approx(row.p_positive, abs=1e-4)


def test_select_filters_by_label_and_length_and_orders_by_confidence(val_table):
    rows = val_table.rows
    lengths = sorted(row.tokens for row in rows)
    low, high = lengths[len(lengths) // 4], lengths[3 * len(lengths) // 4]
    picked = val_table.select(label="positive", min_tokens=low, max_tokens=high)
    assert picked == [row for row in rows if row.label == "positive" and low <= row.tokens <= high]
    assert val_table.select(min_tokens=low) == [row for row in rows if row.tokens >= low]
    assert val_table.select(top=3) == rows[:3]
    assert val_table.select(least_confident=True, top=2) == rows[::-1][:2]
    assert val_table.select() == rows


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(label="neutral"), "label must be one of"),
    (dict(min_tokens=-1), "min_tokens must be"),
    (dict(top=2.5), "top must be"),
    (dict(max_tokens=True), "max_tokens must be"),
    (dict(min_tokens=50, max_tokens=10), "above max_tokens"),
])
def test_select_refuses_bad_filters(val_table, kwargs, message):
    with pytest.raises(ValueError, match=message):
        val_table.select(**kwargs)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    (dict(split="train"), ValueError, "split must be one of"),
    (dict(max_samples=-1), ValueError, "max_eval_samples must be at least 0"),
    (dict(batch_size=0), ValueError, "batch_size must be"),
    (dict(data="/nowhere/aclImdb"), DataError, "IMDB data not found"),
])
def test_bad_arguments_are_clear_errors(tiny_checkpoint, tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        error_table(tiny_checkpoint, **{"split": "val", "cache_dir": str(tmp_path), **kwargs})
    assert not (tmp_path / "errors").exists()


def test_a_missing_checkpoint_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        error_table(tmp_path / "missing.safetensors", cache_dir=str(tmp_path))


def test_the_table_is_cached_per_checkpoint_content(tiny_checkpoint, val_table, cache_dir, tmp_path):
    stages = []

    def seen(stage, done, total):
        stages.append(stage)

    copy = tmp_path / "copy.safetensors"
    shutil.copy(tiny_checkpoint, copy)  # the same bytes elsewhere: the same table, from the cache
    again = error_table(copy, "val", cache_dir=str(cache_dir), max_samples=SLICE, progress=seen)
    assert "classify" not in stages and "tokenize" not in stages
    assert again.rows == val_table.rows and again.metrics == val_table.metrics and again.checkpoint == str(copy)
    assert len(list((cache_dir / "errors").glob("*.json"))) == 2  # the val and test tables

    ckpt = load_checkpoint(tiny_checkpoint)  # the same weights saved with another name: other bytes
    save_checkpoint(copy, ckpt.model, ckpt.vocab, ckpt.train_config, ckpt.metrics, {**ckpt.info, "name": "renamed"})
    stages.clear()
    other = error_table(copy, "val", cache_dir=str(cache_dir), max_samples=SLICE, progress=seen)
    assert "classify" in stages and other.rows == val_table.rows
    assert len(list((cache_dir / "errors").glob("*.json"))) == 3


def test_a_damaged_cache_file_is_computed_again(tiny_checkpoint, val_run, tmp_path, caplog):
    val_table, path = val_run
    fresh = tmp_path / "cache"
    (fresh / "errors").mkdir(parents=True)
    data = json.loads(path.read_text())
    data["rows"] = data["rows"][1:]  # a row missing: the rows no longer match the confusion matrix
    (fresh / "errors" / path.name).write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING, logger="sentiment_core.mistakes"):
        table = error_table(tiny_checkpoint, "val", cache_dir=str(fresh), max_samples=SLICE)
    assert "unusable" in caplog.text and table.rows == val_table.rows
    assert len(json.loads((fresh / "errors" / path.name).read_text())["rows"]) == len(val_table.rows)


def test_a_progress_hook_that_raises_stops_the_work_and_nothing_is_cached(tiny_checkpoint, tmp_path):
    calls = []

    def stop(stage, done, total):
        calls.append((stage, done, total))
        if stage == "classify":
            raise Stop

    with pytest.raises(Stop):
        error_table(tiny_checkpoint, "val", cache_dir=str(tmp_path), max_samples=SLICE, progress=stop)
    assert calls[-1] == ("classify", 0, SLICE)
    assert not (tmp_path / "errors").exists()


def test_without_the_cache_the_table_is_computed_and_not_written(tiny_checkpoint, val_table, tmp_path):
    table = error_table(tiny_checkpoint, "val", cache_dir=str(tmp_path), max_samples=SLICE, use_cache=False)
    assert table.rows == val_table.rows
    assert not (tmp_path / "errors").exists()
