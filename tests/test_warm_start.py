"""Continuing a classifier (``init_checkpoint``) and choosing the positive class of two (``positive_label``):
the checkpoint records both, the registry reads them, and each wrong choice is a clear refusal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from demo.services.registry import ModelRegistry
from sentiment_core import load_checkpoint, preset, train
from sentiment_core.card import render_card
from sentiment_core.checkpoint import read_metadata, update_checkpoint
from sentiment_core.config import SHIPPED_LM, TrainConfig
from sentiment_core.events import Status

WORDS = {"bad": ["awful", "dull", "poor"], "good": ["great", "fine", "lovely"], "meh": ["plain", "so-so", "okay"]}


def labelled_csv(path: Path, classes: list[str], n: int = 240) -> Path:
    """Rows cycling through ``classes`` in that order (the first row is ``classes[0]``)."""
    rows = [(f"A {WORDS[c][i % 3]} film, really {WORDS[c][(i + 1) % 3]} number {i}.", c)
            for i, c in ((i, classes[i % len(classes)]) for i in range(n))]
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    return path


def run(tmp: Path, data: Path, name: str, **overrides) -> list:
    settings = {"epochs": 1, "max_tokens": 30, "embed_dim": 8, "hidden_dim": 8, **overrides}
    model_cfg, train_cfg = preset("quick", data=str(data), output=str(tmp / f"{name}.safetensors"),
                                  cache_dir=str(tmp / "cache"), **settings)
    return list(train(model_cfg, train_cfg, info={"name": name}))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("warm")
    return {"bad-first": labelled_csv(tmp / "bad_first.csv", ["bad", "good"]),
            "good-first": labelled_csv(tmp / "good_first.csv", ["good", "bad"]),
            "three": labelled_csv(tmp / "three.csv", ["bad", "good", "meh"])}


@pytest.fixture(scope="module")
def first_model(tmp_path_factory, files) -> Path:
    tmp = tmp_path_factory.mktemp("first")
    model_cfg, train_cfg = preset("quick", data=str(files["bad-first"]), output=str(tmp / "first.safetensors"),
                                  cache_dir=str(tmp / "cache"), epochs=1, max_tokens=30, embed_dim=8, hidden_dim=8)
    events = list(train(model_cfg, train_cfg, info={"name": "first", "command": "python -m sentiment_core train X"}))
    assert events[-1].status == "finished", events[-1].error
    return tmp / "first.safetensors"


def test_the_positive_class_follows_the_files_first_rows_and_is_recorded(first_model, files, tmp_path):
    assert read_metadata(first_model)["info"]["positive_label"] == "good"  # rows: bad, good, bad, ...
    events = run(tmp_path, files["good-first"], "flipped")
    assert events[-1].status == "finished", events[-1].error
    meta = read_metadata(tmp_path / "flipped.safetensors")
    assert meta["labels"] == ["bad", "good"] and meta["info"]["positive_label"] == "bad"
    entry = ModelRegistry(tmp_path / "none", tmp_path).entry("runs/flipped")
    assert entry.positive_class == "bad"


def test_the_user_picks_the_positive_class(files, tmp_path):
    events = run(tmp_path, files["good-first"], "chosen", positive_label="good")
    assert events[-1].status == "finished", events[-1].error
    assert ModelRegistry(tmp_path / "none", tmp_path).entry("runs/chosen").positive_class == "good"


@pytest.mark.parametrize("label, data, problem", [("meh", "bad-first", "not one of the classes 'bad', 'good'"),
                                                  ("bad", "three", "is for two classes; this data has 3")])
def test_a_positive_class_the_data_lacks_is_refused(files, tmp_path, label, data, problem):
    events = run(tmp_path, files[data], "wrong", positive_label=label)
    assert events[-1].status == "failed" and problem in events[-1].error
    assert not (tmp_path / "wrong.safetensors").exists()


def test_a_run_continues_a_checkpoint_with_its_vocabulary_architecture_and_weights(first_model, files, tmp_path):
    start = load_checkpoint(first_model)
    # The preset asks for another size: the checkpoint's architecture wins, and the run says so.
    events = run(tmp_path, files["good-first"], "more", init_checkpoint=str(first_model), embed_dim=16, lr=1e-12)
    assert events[-1].status == "finished", events[-1].error
    notes = [e.message for e in events if isinstance(e, Status)]
    assert any("continuing from first.safetensors" in n and "embed_dim 8" in n for n in notes), notes
    more = load_checkpoint(tmp_path / "more.safetensors")
    assert more.vocab.itos == start.vocab.itos and more.model_config.embed_dim == 8
    assert more.info["continued_from"] == "first.safetensors"
    assert more.info["continued_command"] == "python -m sentiment_core train X"  # the start's own command
    # With a vanishing learning rate the weights stay the checkpoint's (the head is rescaled by calibration).
    for name, tensor in start.model.state_dict().items():
        if name.startswith("fc."):
            continue
        assert torch.allclose(tensor, more.model.state_dict()[name], atol=1e-6), name
    # A third stage: its card facts give the start's command and the one before it, oldest first.
    update_checkpoint(tmp_path / "more.safetensors", info={"command": "python -m sentiment_core train Y"})
    events = run(tmp_path, files["good-first"], "third", init_checkpoint=str(tmp_path / "more.safetensors"), lr=1e-12)
    assert events[-1].status == "finished", events[-1].error
    third = load_checkpoint(tmp_path / "third.safetensors")
    assert third.info["continued_command"] == "python -m sentiment_core train Y"
    assert third.info["earlier_commands"] == ["python -m sentiment_core train X"]
    assert ("and it was trained with `python -m sentiment_core train Y`, itself continued from a model made by "
            "`python -m sentiment_core train X`.") in render_card(tmp_path / "third.safetensors")


def test_continuing_on_another_label_set_is_refused(first_model, files, tmp_path):
    events = run(tmp_path, files["three"], "other", init_checkpoint=str(first_model))
    assert events[-1].status == "failed"
    assert "classifies 'bad', 'good'; this data's classes are 'bad', 'good', 'meh'" in events[-1].error
    assert "same label set" in events[-1].error


@pytest.mark.parametrize("bad, problem", [
    ("missing", "no such file"),
    ("lm", "a pretrained language model, not a classifier: start from it with pretrained_lm"),
    ("text", "not a safetensors checkpoint")])
def test_continuing_from_a_file_that_is_no_classifier_is_refused(files, tmp_path, bad, problem):
    path = {"missing": tmp_path / "nope.safetensors", "lm": SHIPPED_LM, "text": files["three"]}[bad]
    if bad == "lm" and not SHIPPED_LM.exists():
        pytest.skip("no shipped language model")
    events = run(tmp_path, files["bad-first"], "nothing", init_checkpoint=str(path))
    assert events[-1].status == "failed" and problem in events[-1].error


def test_config_refuses_mixed_starts_and_bad_labels():
    with pytest.raises(ValueError, match="brings its own weights"):
        TrainConfig(init_checkpoint="a.safetensors", pretrained_lm="lm.safetensors")
    with pytest.raises(ValueError, match="positive_label"):
        TrainConfig(positive_label="x" * 201)
    with pytest.raises(ValueError, match="positive_label"):
        TrainConfig(positive_label="bad\nlabel")


def test_the_cli_offers_both_options():
    out = subprocess.run([sys.executable, "-m", "sentiment_core", "train", "--help"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert "--init-checkpoint" in out and "--positive-label" in out
