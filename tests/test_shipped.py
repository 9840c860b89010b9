"""The models shipped in checkpoints/: they load, fit a Space without LFS, and say what they scored."""

import pytest

from sentiment_core import DEFAULT_CHECKPOINT, Predictor
from sentiment_core.card import is_card, render_card
from sentiment_core.checkpoint import read_metadata

TUTORIAL = DEFAULT_CHECKPOINT.with_name("tutorial-rnn.safetensors")


@pytest.mark.parametrize("path", [DEFAULT_CHECKPOINT, TUTORIAL], ids=["default", "tutorial"])
def test_shipped_checkpoints_load_and_stay_under_10_mb(path):
    assert path.stat().st_size < 10_000_000
    meta = read_metadata(path)
    assert meta["metrics"]["test"]["count"] == 25_000  # scored on the full test set
    assert meta["train_config"]["max_train_samples"] == 0 and meta["info"]["train_size"] == 22_500
    card = path.with_suffix(".md").read_text(encoding="utf-8")
    assert card == render_card(path)  # the committed card matches the checkpoint it describes
    assert is_card(path.with_suffix(".md"))  # so `card` may rewrite it without --overwrite


def test_default_model_reaches_90_percent_and_reads_obvious_reviews():
    meta = read_metadata(DEFAULT_CHECKPOINT)
    assert meta["metrics"]["test"]["accuracy"] >= 0.90
    assert meta["model_config"]["cell"] in ("rnn", "lstm", "gru")
    predictor = Predictor.from_checkpoint(DEFAULT_CHECKPOINT)
    probs = predictor.predict_batch([
        "One of the best films I have seen in years: moving, funny and beautifully acted.",
        "A boring, badly acted mess. I walked out after an hour and want my money back.",
    ])
    assert probs[0]["positive"] > 0.8 and probs[1]["negative"] > 0.8


def test_tutorial_model_is_the_tutorial_architecture():
    config = read_metadata(TUTORIAL)["model_config"]
    shape = (config["cell"], config["embed_dim"], config["hidden_dim"], config["bidirectional"])
    assert shape == ("rnn", 100, 256, False)
    assert config["vocab_size"] == 25_002
