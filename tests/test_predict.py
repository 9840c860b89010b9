"""The Predictor: probabilities, batches, running prediction, attributions, and bad input."""

import time

import pytest
import torch

from sentiment_core import EmptyTextError, Predictor


@pytest.fixture(scope="module")
def predictor(tiny_checkpoint):
    return Predictor.from_checkpoint(tiny_checkpoint)


REVIEW = ("This movie was a wonderful surprise: the acting is superb, the story moving, and I loved "
          "every minute of it.<br /><br />Highly recommended.")


def test_predict_returns_label_probabilities(predictor):
    probs = predictor.predict(REVIEW)
    assert set(probs) == {"negative", "positive"}
    assert probs["negative"] + probs["positive"] == pytest.approx(1.0)
    assert 0.0 < probs["positive"] < 1.0


def test_batch_matches_single_predictions_in_order(predictor):
    texts = [REVIEW, "Awful, boring and far too long.", "ok", REVIEW + " " + REVIEW]
    batch = predictor.predict_batch(texts, batch_size=3)
    for text, got in zip(texts, batch):
        assert got["positive"] == pytest.approx(predictor.predict(text)["positive"], abs=1e-5)


@pytest.mark.parametrize("text", ["", "   ", "\n\t<br />"])
def test_empty_text_is_a_clear_error(predictor, text):
    with pytest.raises(EmptyTextError, match=r"empty|no words"):
        predictor.predict(text)


def test_empty_text_in_a_batch_names_its_position(predictor):
    with pytest.raises(EmptyTextError, match="text 2"):
        predictor.predict_batch(["fine", " "])


def test_non_string_is_a_type_error(predictor):
    with pytest.raises(TypeError):
        predictor.predict(None)


def test_a_megabyte_of_text_is_truncated_quickly(predictor):
    text = ("An excellent film with great performances. " * 25_000)[:1_000_000]
    start = time.perf_counter()
    analysis = predictor.analyze(text)
    elapsed = time.perf_counter() - start
    assert analysis.truncated and len(analysis.tokens) == predictor.max_tokens
    assert elapsed < 10  # generous: a bound on hanging, not a benchmark (bench/ measures latency)


def test_running_prediction_ends_at_the_prediction(predictor):
    tokens, _ = predictor.tokens(REVIEW)
    positions, probs = predictor.running(tokens)
    assert positions[-1] == len(tokens) and len(positions) == len(probs)
    assert probs[-1] == pytest.approx(predictor.predict(REVIEW)["positive"], abs=1e-5)
    positions, probs = predictor.running(tokens, max_points=5)
    assert len(positions) == 5 and positions[0] == 1 and positions[-1] == len(tokens)


def test_attributions_add_up_to_the_logit_change(predictor):
    tokens, _ = predictor.tokens(REVIEW)
    scores = predictor.attributions(tokens, steps=128)
    assert len(scores) == len(tokens)
    ids = torch.tensor([predictor.vocab.encode(tokens)])
    lengths = torch.tensor([len(tokens)])
    with torch.no_grad():
        logit = predictor.model(ids, lengths).item()
        baseline = predictor.model.classify(torch.zeros(1, len(tokens), predictor.model.cfg.embed_dim), lengths).item()
    # Integrated gradients' completeness property, up to the Riemann-sum error.
    assert sum(scores) == pytest.approx(logit - baseline, abs=0.05 * max(1.0, abs(logit - baseline)))


def test_analyze_bundles_everything(predictor):
    analysis = predictor.analyze(REVIEW)
    assert analysis.probabilities == pytest.approx(predictor.predict(REVIEW), abs=1e-5)
    assert len(analysis.attributions) == len(analysis.tokens) and not analysis.truncated
    assert analysis.running[-1] == pytest.approx(analysis.probabilities["positive"], abs=1e-5)
