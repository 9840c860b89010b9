"""The models shipped in checkpoints/: they load, fit a Space without LFS, say what they scored, and show
the vanishing gradient the app plots."""

import shlex
from pathlib import Path

import pytest

from sentiment_core import DEFAULT_CHECKPOINT, Predictor
from sentiment_core.behaviour import SUITE_VERSION
from sentiment_core.card import is_card, render_card
from sentiment_core.checkpoint import load_checkpoint, read_metadata
from sentiment_core.checkpoint_header import stage_commands
from sentiment_core.config import SHIPPED_LM, SHIPPED_SMALL_LM, preset
from sentiment_core.data.identity import IDENTITY_GROUPS
from sentiment_core.lm_checkpoint import load_language_model

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = DEFAULT_CHECKPOINT.with_name("tutorial-rnn.safetensors")
LSTM = DEFAULT_CHECKPOINT.with_name("lstm.safetensors")
BIGRU = DEFAULT_CHECKPOINT.with_name("bigru.safetensors")  # the default before the reader
READER = DEFAULT_CHECKPOINT.with_name("reader.safetensors")  # the reader without the composed negations and contrasts
# About 210 tokens: long enough for a vanishing gradient to vanish.
LONG_REVIEW = ("I went in expecting little from this film, but the first hour is a delight: sharp dialogue, a warm "
               "lead performance and a score that never pushes too hard. ") * 6 + \
    "In the end, though, it falls apart and I was bored."


@pytest.mark.parametrize("path", [DEFAULT_CHECKPOINT, TUTORIAL, LSTM, BIGRU, READER],
                         ids=["default", "tutorial", "lstm", "bigru", "reader"])
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


def test_lstm_model_reads_like_the_tutorial_rnn_with_a_gated_cell():
    meta = read_metadata(LSTM)
    config = meta["model_config"]
    assert (config["cell"], config["bidirectional"], config["pooling"]) == ("lstm", False, "last")
    assert meta["metrics"]["test"]["accuracy"] >= 0.88


def test_the_tutorial_rnns_gradient_vanishes_across_a_review_and_the_gated_cells_do_not():
    """What the app's gradient-flow plot shows: 50 tokens from the end, the vanilla RNN's logit has
    lost all dependence on the text; the LSTM, reading the same way (one direction, last state),
    keeps a few percent of it, and the bidirectional GRU, reading from both ends, depends on the
    first token within a factor of ten of the last."""
    flows = {path.stem: Predictor.from_checkpoint(path).gradient_by_position(LONG_REVIEW)
             for path in (TUTORIAL, LSTM, BIGRU)}
    far = {}  # the largest norm 50 or more tokens from the end, relative to the last token's
    for name, flow in flows.items():
        assert len(flow.tokens) >= 200 and flow.distances[-1] == 0
        far[name] = max(n for n, d in zip(flow.norms, flow.distances) if d >= 50) / flow.norms[-1]
    assert far["tutorial-rnn"] < 1e-9
    assert far["lstm"] > 1e-2
    assert flows["bigru"].norms[0] > 0.1 * flows["bigru"].norms[-1]


def test_the_shipped_language_model_is_an_encoder_that_read_no_validation_review():
    lm = load_language_model(SHIPPED_LM)
    assert SHIPPED_LM.stat().st_size < 10_000_000 and lm.encoder_only
    assert len(lm.held_out_ids) == 2_500 and len(lm.vocab) == 25_002
    assert all(p < 150 for p in lm.metrics["val_perplexity"].values())  # forward and backward
    assert lm.pretrain_config["seed"] == 1234 and lm.pretrain_config["val_fraction"] == 0.1


def test_the_second_pass_language_model_carries_on_the_first_on_the_same_text():
    second, first = load_language_model(SHIPPED_LM.with_name("imdb-lm2.safetensors")), load_language_model(SHIPPED_LM)
    assert second.encoder_only and second.vocab.itos == first.vocab.itos
    assert sorted(second.held_out_ids) == sorted(first.held_out_ids)
    history = second.metrics["history"]
    assert [row["epoch"] for row in history] == [1, 2] and history[0] == first.metrics["history"][0]
    assert second.metrics["softmax_fresh_from_epoch"] == 2  # it started from the shipped encoder
    for direction, value in second.metrics["val_perplexity"].items():
        assert value < first.metrics["val_perplexity"][direction] - 10


def test_the_transfer_presets_language_model_reads_fasts_word_vectors_and_read_no_validation_review():
    lm, big = load_language_model(SHIPPED_SMALL_LM), load_language_model(SHIPPED_LM)
    assert SHIPPED_SMALL_LM.stat().st_size < 10_000_000 and lm.encoder_only
    model_cfg, train_cfg = preset("transfer")
    assert Path(train_cfg.pretrained_lm) == SHIPPED_SMALL_LM and train_cfg.fit_steps
    assert (lm.model.cfg.embed_dim, lm.model.cfg.hidden_dim) == (model_cfg.embed_dim, model_cfg.hidden_dim)
    # The embedding is the PPMI-SVD vectors it started from, held while the recurrence learned to read them.
    assert lm.pretrain_config["embedding_init"] == "ppmi-svd" and lm.pretrain_config["freeze_embedding"]
    assert sorted(lm.held_out_ids) == sorted(big.held_out_ids) and len(lm.held_out_ids) == 2_500
    assert lm.vocab.itos == big.vocab.itos and all(p < 250 for p in lm.metrics["val_perplexity"].values())


def test_the_default_is_fine_tuned_from_the_shipped_language_model_and_every_model_has_its_behaviour_report():
    reader = load_checkpoint(DEFAULT_CHECKPOINT)
    # In stages: the reader preset fine-tunes the shipped language model, then adversarial epochs continue it;
    # a soup averages models made so, each continued from its own first stage.
    soup = reader.metrics.get("soup")
    chains = ([[*row["stages"], row["command"]] for row in soup["candidates"] if row["kept"]] if soup
              else [[*stage_commands(reader.info), reader.info["command"]]])
    assert Path(preset("reader")[1].pretrained_lm).name == SHIPPED_LM.name
    for chain in chains:
        assert len(chain) >= 2 and all(c.startswith("python -m sentiment_core train --preset reader ") for c in chain)
        assert all("--adversarial" in c for c in chain[1:])
        # The first stage starts from a shipped language model: the preset's, or one it names.
        first = shlex.split(chain[0])
        named = first[first.index("--pretrained-lm") + 1] if "--pretrained-lm" in first else ""
        lm_path = ROOT / named if named else SHIPPED_LM
        assert lm_path.parent == SHIPPED_LM.parent and lm_path.exists()
        assert load_language_model(lm_path).vocab.itos == reader.vocab.itos
    assert reader.train_config.adversarial > 0 and reader.train_config.init_checkpoint
    assert reader.train_config.edited_sentences and reader.train_config.counterfactual
    assert reader.train_config.negations and reader.train_config.contrasts
    assert reader.metrics["calibration"]["temperature"] > 0 and len(reader.metrics["seeds"]) >= 2
    for path in (DEFAULT_CHECKPOINT, TUTORIAL, LSTM, BIGRU, READER):
        behaviour = read_metadata(path)["metrics"]["behaviour"]
        assert behaviour["heldout"]["version"] == SUITE_VERSION and set(behaviour) == {"dev", "heldout"}


def test_the_default_beats_the_bigru_it_replaced_on_the_test_set_and_the_held_out_behaviour_half():
    new, old = read_metadata(DEFAULT_CHECKPOINT)["metrics"], read_metadata(BIGRU)["metrics"]
    assert new["test"]["accuracy"] > old["test"]["accuracy"] and new["test"]["count"] == old["test"]["count"]
    new_half, old_half = new["behaviour"]["heldout"], old["behaviour"]["heldout"]
    assert new_half.keys() == old_half.keys()
    assert (new_half["version"], new_half["max_cases"]) == (old_half["version"], old_half["max_cases"])
    assert set(new_half["summary"]) == {"polar", "negation", "identity", "overall"}
    assert all(new_half["summary"][k] < old_half["summary"][k] for k in old_half["summary"])  # fewer failures


def test_the_default_reads_the_sentences_of_the_bug_report():
    """Its six sentences, as the issue expects them, in the suite's three bands (none was trained on)."""
    predictor = Predictor.from_checkpoint(DEFAULT_CHECKPOINT)
    negative = predictor.predict_batch(["I don't think this was a great film.", "I hated it.", "I did not like it."])
    assert all(p["negative"] > 0.5 for p in negative)
    assert negative[1]["negative"] > 0.8  # "confidently"
    not_negative = predictor.predict_batch(["This movie is not bad.", "It wasn't terrible."])
    assert all(p["positive"] >= 1 / 3 for p in not_negative)  # positive or neutral
    assert predictor.predict("Not bad at all!")["positive"] > 2 / 3  # positive


def test_the_default_meets_the_behaviour_bars_on_the_held_out_half():
    """The issue's bars on the held-out half: at most 15% of the tests expecting a label fail, 25% of the
    negation tests and 10% of the identity-term invariance tests."""
    summary = read_metadata(DEFAULT_CHECKPOINT)["metrics"]["behaviour"]["heldout"]["summary"]
    assert summary["polar"] <= 0.15 and summary["negation"] <= 0.25 and summary["identity"] <= 0.10


def test_the_default_fails_fewer_behaviour_tests_than_the_reader_it_replaced():
    """The composed sentences and the adversarial epochs: the held-out half's label, negation and overall failures
    fall (from 30.6%, 59.9% and 28.9%) at a cost of 0.02 points of test accuracy (see the README)."""
    new, old = (read_metadata(p)["metrics"]["behaviour"]["heldout"]["summary"] for p in (DEFAULT_CHECKPOINT, READER))
    assert all(new[k] < old[k] for k in ("polar", "negation", "overall"))


def test_the_default_reads_a_sentence_the_same_whichever_identity_term_of_a_group_it_names():
    """Its last stage tied the identity terms: one word vector per group (nationality, religion, ...)."""
    predictor = Predictor.from_checkpoint(DEFAULT_CHECKPOINT)
    assert predictor.checkpoint.train_config.tie_identity_terms
    for group in ("religion", "origin"):
        texts = [f"The film follows a {w.capitalize()} family through one winter." for w in IDENTITY_GROUPS[group][:6]]
        probs = predictor.predict_batch(texts)
        # The same input row by row; only the batch's arithmetic can differ, in the last float bits.
        assert all(abs(p["positive"] - probs[0]["positive"]) < 1e-5 for p in probs)
