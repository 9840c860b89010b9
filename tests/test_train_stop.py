"""When a run saves: never before its first step, never over a file it wasn't asked to replace."""

import dataclasses
import threading

import pytest
import torch

import sentiment_core.training as training
import sentiment_core.training_run as training_run
from sentiment_core import load_checkpoint, load_corpus, preset, train
from sentiment_core.data import Reviews
from sentiment_core.training import EpochEnd, Finished, Status


@pytest.fixture(scope="module")
def small_corpus(synthetic_data):
    """300 training and 100 validation/test synthetic reviews, with the training text standing in for
    the unlabeled reviews (IMDB's 50k take a minute to tokenize). Built by hand, it has no
    source key: its word vectors are computed every time, never cached."""
    corpus = load_corpus(preset("quick", data=str(synthetic_data), max_train_samples=300, max_eval_samples=100)[1])
    return dataclasses.replace(corpus, unlabeled=Reviews(corpus.train.ids, [-1] * len(corpus.train),
                                                         corpus.train.items), source_key="")


def configs(output, **changes):
    return preset("quick", max_train_samples=300, max_eval_samples=100, epochs=1, output=str(output), **changes)


def no_data(*args, **kwargs):
    raise AssertionError("the data was loaded")


def test_a_stop_before_the_run_loads_no_data_and_saves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "load_corpus", no_data)
    stop = threading.Event()
    stop.set()
    events = list(train(*configs(tmp_path / "s.safetensors"), stop=stop))
    assert [(e.kind, e.status, e.path) for e in events] == [("Finished", "stopped", "")]
    assert list(tmp_path.iterdir()) == []


def test_a_stop_during_the_word_vectors_saves_nothing(small_corpus, tmp_path, monkeypatch):
    stop = threading.Event()
    real = training_run.ppmi_svd_vectors

    def vectors_then_stop(*args, **kwargs):
        out = real(*args, **kwargs)
        stop.set()  # Stop pressed while the vectors were computed
        return out

    monkeypatch.setattr(training_run, "ppmi_svd_vectors", vectors_then_stop)
    events = list(train(*configs(tmp_path / "w.safetensors", pretrain_embeddings=True), small_corpus, stop=stop))
    assert [e.kind for e in events if e.kind not in ("Timing", "Progress")] == ["Status", "Finished"]
    assert events[-1].status == "stopped" and events[-1].path == "" and not events[-1].error
    assert not (tmp_path / "w.safetensors").exists()


def test_a_stop_announced_with_the_word_vector_status_skips_them(small_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(training_run, "ppmi_svd_vectors", no_data)
    stop = threading.Event()
    events = []
    for event in train(*configs(tmp_path / "v.safetensors", pretrain_embeddings=True), small_corpus, stop=stop):
        events.append(event)
        if isinstance(event, Status):
            stop.set()
    assert [e.kind for e in events if e.kind not in ("Timing", "Progress")] == ["Status", "Finished"]
    assert events[-1].status == "stopped"
    assert not (tmp_path / "v.safetensors").exists()


def test_an_existing_checkpoint_is_kept_unless_overwrite_is_asked(small_corpus, tmp_path, monkeypatch):
    out = tmp_path / "old.safetensors"
    out.write_bytes(b"last week's model")
    with monkeypatch.context() as patch:
        patch.setattr(training, "load_corpus", no_data)  # refused before any data is read
        done = list(train(*configs(out)))[-1]
    assert done.status == "failed" and "exists" in done.error and "--overwrite" in done.error and done.path == ""
    assert out.read_bytes() == b"last week's model"
    events = list(train(*configs(out, overwrite=True), small_corpus))
    assert events[-1].status == "finished", events[-1].error
    # Each EpochEnd carries the history row the checkpoint records.
    rows = [e.history_row for e in events if isinstance(e, EpochEnd)]
    assert rows == load_checkpoint(out).metrics["history"] and set(rows[0]) == {
        "epoch", "step", "train_loss", "val_loss", "val_accuracy"}


def test_a_file_that_is_not_a_card_where_the_card_goes_fails_first(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "load_corpus", no_data)
    (tmp_path / "m.md").write_text("my notes\n")
    done = list(train(*configs(tmp_path / "m.safetensors")))[-1]
    assert done.status == "failed" and "not a model card" in done.error
    assert (tmp_path / "m.md").read_text() == "my notes\n"


def test_no_room_for_the_checkpoint_fails_before_loading_data(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "load_corpus", no_data)
    monkeypatch.setattr("shutil.disk_usage", lambda path: type("Usage", (), {"free": 1000})())
    done = list(train(*configs(tmp_path / "full.safetensors")))[-1]
    assert isinstance(done, Finished) and done.status == "failed" and "not enough free space" in done.error


def test_a_stop_after_some_steps_still_saves(small_corpus, tmp_path):
    # The one case a run stopped before any epoch ended saves: after at least one step.
    stop = threading.Event()
    events = []
    for event in train(*configs(tmp_path / "p.safetensors"), small_corpus, stop=stop):
        events.append(event)
        if event.kind == "Step":
            stop.set()
    assert events[-1].status == "stopped" and events[-1].path
    assert torch.isfinite(torch.tensor(load_checkpoint(events[-1].path).metrics["val"]["loss"]))
