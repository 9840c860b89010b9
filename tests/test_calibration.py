"""Temperature scaling and calibration error: fitted on validation, folded into the model, shown on the card."""

import random
import threading

import pytest
import torch

from sentiment_core import preset, train
from sentiment_core.behaviour import SuiteResult
from sentiment_core.calibration import (
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    calibrate,
    collect_logits,
    expected_calibration_error,
    fit_temperature,
    fold_temperature,
    metrics_of,
    probabilities,
    reliability,
)
from sentiment_core.card import render_card, write_card
from sentiment_core.checkpoint import Checkpoint, load_checkpoint, read_metadata, save_checkpoint
from sentiment_core.config import ModelConfig, TrainConfig
from sentiment_core.data import Corpus, EncodedDataset, Reviews, make_loader
from sentiment_core.evaluation import Metrics, evaluate
from sentiment_core.model import SentimentRNN
from sentiment_core.predict import Predictor
from sentiment_core.vocab import Vocab

VAL = Metrics.from_counts(0.3, 4, 1, 0, 5).to_dict()


def calibrated_binary(n=20_000, seed=0):
    """Logits (N,) and labels drawn from exactly those logits' probabilities."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, generator=g, dtype=torch.float64) * 2
    labels = (torch.rand(n, generator=g, dtype=torch.float64) < torch.sigmoid(logits)).long()
    return logits, labels


def calibrated_multiclass(n=20_000, k=4, seed=0):
    """Logits (N, K) and labels drawn from their softmax."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g, dtype=torch.float64) * 1.5
    labels = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=g).squeeze(-1)
    return logits, labels


def test_the_temperature_of_sharpened_logits_is_recovered():
    logits, labels = calibrated_binary()
    assert fit_temperature(logits * 3, labels, 2) == pytest.approx(3.0, rel=0.06)
    assert fit_temperature(logits / 2, labels, 2) == pytest.approx(0.5, rel=0.06)
    assert fit_temperature(logits, labels, 2) == pytest.approx(1.0, rel=0.06)
    logits, labels = calibrated_multiclass()
    assert fit_temperature(logits * 3, labels, 4) == pytest.approx(3.0, rel=0.06)


def test_the_fit_is_deterministic_bounded_and_checks_its_input():
    logits, labels = calibrated_binary(500)
    assert fit_temperature(logits * 3, labels, 2) == fit_temperature(logits * 3, labels, 2)
    # Separable data: sharper is always better for the NLL, but with no mistake to weigh it is not sharpened
    # (a small file's validation split: every prediction 100% sure otherwise); one mistake: sharper, to the
    # bound at most; a constant wrong guess: flatter is better.
    separable = torch.tensor([-4.0, -3.0, 3.0, 4.0])
    assert fit_temperature(separable, torch.tensor([0, 0, 1, 1]), 2) == 1.0
    almost = torch.tensor([-4.0, -3.0, 3.0, 4.0, 0.1])
    assert MIN_TEMPERATURE <= fit_temperature(almost, torch.tensor([0, 0, 1, 1, 0]), 2) < 1.0
    assert fit_temperature(separable, torch.tensor([1, 1, 0, 0]), 2) == pytest.approx(MAX_TEMPERATURE, rel=1e-6)
    assert fit_temperature(torch.zeros(0), torch.zeros(0, dtype=torch.long), 2) == 1.0
    with pytest.raises(ValueError, match="logits of shape"):
        fit_temperature(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="NaN"):
        fit_temperature(torch.tensor([float("nan")]), torch.tensor([1]), 2)


def test_ece_is_small_for_calibrated_and_large_for_over_confident_probabilities():
    logits, labels = calibrated_binary()
    assert expected_calibration_error(probabilities(logits), labels) < 0.02
    assert expected_calibration_error(probabilities(logits * 4), labels) > 0.1
    logits, labels = calibrated_multiclass()
    assert expected_calibration_error(probabilities(logits), labels) < 0.02
    assert expected_calibration_error(probabilities(logits * 4), labels) > 0.1


def test_reliability_bins_count_confidence_and_accuracy():
    probs = torch.tensor([[0.15, 0.85], [0.25, 0.75], [0.95, 0.05], [0.5, 0.5]], dtype=torch.float64)
    labels = torch.tensor([1, 0, 0, 1])
    bins = reliability(probs, labels, bins=10)
    assert [b.count for b in bins] == [0, 0, 0, 0, 1, 0, 0, 1, 1, 1]  # (0.4, 0.5] holds the 0.5 tie
    assert (bins[7].lower, bins[7].upper) == (pytest.approx(0.7), pytest.approx(0.8))
    assert (bins[7].confidence, bins[7].accuracy) == (pytest.approx(0.75), 0.0)
    assert (bins[8].confidence, bins[8].accuracy) == (pytest.approx(0.85), 1.0)
    assert bins[4].accuracy == 0.0  # a tie predicts the first class
    assert expected_calibration_error(probs, labels, bins=10) == pytest.approx((0.5 + 0.75 + 0.15 + 0.05) / 4)


def tiny_model(num_classes=2, cell="gru", seed=0):
    vocab = Vocab.build([["good", "bad", "film", "plot", "dull", "great"]])
    torch.manual_seed(seed)
    model = SentimentRNN(ModelConfig(vocab_size=len(vocab), embed_dim=8, hidden_dim=8, cell=cell,
                                     num_classes=num_classes)).eval()
    with torch.no_grad():
        model.fc.weight.mul_(20)  # confident enough that the temperature visibly matters
    return model, vocab


@pytest.mark.parametrize("num_classes", [2, 3])
def test_folding_divides_the_logits_keeps_predictions_and_explanations_add_up(num_classes):
    model, vocab = tiny_model(num_classes)
    labels = ["negative", "positive"] if num_classes == 2 else ["a", "b", "c"]
    predictor = Predictor(Checkpoint(model, model.cfg, vocab, labels))
    texts = ["good film", "bad plot and a dull film", "great", "the plot was good but dull"]
    tokens = predictor.tokens(texts[1])[0]
    before_probs = predictor.predict_batch(texts)
    before = predictor.integrated_gradients(tokens, target=labels[-1])
    ids, lengths = torch.tensor([vocab.encode(tokens)]), torch.tensor([len(tokens)])
    logits_before = model(ids, lengths)
    fold_temperature(model, 2.5)
    after_probs = predictor.predict_batch(texts)
    after = predictor.integrated_gradients(tokens, target=labels[-1])
    logits_after = model(ids, lengths)
    assert torch.allclose(logits_after, logits_before / 2.5, atol=1e-5)
    for p, q in zip(before_probs, after_probs):
        assert max(p, key=p.get) == max(q, key=q.get)
        assert max(q.values()) < max(p.values())  # flatter: T > 1
    # Attributions are linear in the final layer: every score, and the logit change they add up to, scale by 1/T.
    assert after.scores == pytest.approx([s / 2.5 for s in before.scores], rel=1e-3, abs=1e-6)
    assert after.logit - after.baseline_logit == pytest.approx((before.logit - before.baseline_logit) / 2.5, rel=1e-4)
    assert after.completeness_error == pytest.approx(before.completeness_error, rel=1e-2, abs=1e-4)
    with pytest.raises(ValueError, match="positive number"):
        fold_temperature(model, 0.0)


def toy_reviews(classes, n, rng):
    """Reviews whose class word is present 70% of the time: learnable, but not separable."""
    labels = [i % len(classes) for i in range(n)]
    items = [[*rng.choices(["the", "film", "was", "and", "it", "plot"], k=5),
              classes[y] if rng.random() < 0.7 else rng.choice(classes)] for y in labels]
    return Reviews([f"r{i}" for i in range(n)], labels, items)


def toy_corpus(classes, seed=0):
    rng = random.Random(seed)
    return Corpus(toy_reviews(classes, 256, rng), toy_reviews(classes, 96, rng), toy_reviews(classes, 64, rng),
                  classes=list(classes), description="toy reviews")


def test_calibrate_folds_the_fit_and_scores_the_calibrated_model_in_one_pass():
    model, vocab = tiny_model(3)
    val = toy_reviews(["a", "b", "c"], 60, random.Random(1))
    loader = make_loader(EncodedDataset(val, vocab), 16, shuffle=False)
    record, metrics = calibrate(model, loader)
    assert metrics.to_dict() == pytest.approx(evaluate(model, loader).to_dict(), rel=1e-4)
    assert record["val_count"] == 60 and sum(b["count"] for b in record["val_reliability"]) == 60
    assert record["val_ece_after"] < record["val_ece_before"]
    again = fit_temperature(*collect_logits(model, loader), 3)  # the folded model needs no more scaling
    assert again == pytest.approx(1.0, rel=1e-3)
    assert metrics_of(*collect_logits(model, loader), 3).accuracy == metrics.accuracy


def configs(output, **changes):
    return preset("quick", embed_dim=16, hidden_dim=16, batch_size=32, epochs=2, output=str(output),
                  pretrain_embeddings=False, **changes)


def test_a_multiclass_run_is_calibrated_and_its_card_says_the_suite_does_not_apply(tmp_path):
    events = list(train(*configs(tmp_path / "m.safetensors", save_dtype="float16"), toy_corpus(["a", "b", "c"])))
    final = events[-1]
    assert final.status == "finished", final
    assert "calibration" in [e.phase for e in events if e.kind == "Timing"]
    metrics = read_metadata(final.path)["metrics"]
    record = metrics["calibration"]
    assert MIN_TEMPERATURE <= record["temperature"] <= MAX_TEMPERATURE and "behaviour" not in metrics
    assert "short_ece" not in record
    assert final.val == metrics["val"]  # what the run reports is the calibrated, float16 model's
    card = render_card(final.path)
    assert "## Calibration" in card and f"T = {record['temperature']:.3f}" in card
    assert "The behaviour suite does not apply" in card and "a, b, c" in card


def test_a_stopped_polarity_run_is_calibrated_and_runs_the_suite(tmp_path):
    stop = threading.Event()
    seen = []
    for event in train(*configs(tmp_path / "s.safetensors"), toy_corpus(["negative", "positive"]), stop=stop):
        seen.append(event)
        if event.kind == "Step" and event.step == 3:
            stop.set()
    final = seen[-1]
    assert final.status == "stopped" and final.path and not final.error
    metrics = load_checkpoint(final.path).metrics
    assert {"temperature", "val_ece_after", "short_ece", "short_reliability"} <= set(metrics["calibration"])
    assert set(metrics["behaviour"]) == {"dev", "heldout"} and "test" not in metrics


def test_the_tiny_checkpoint_records_calibration_and_behaviour_and_its_card_shows_them(tiny_checkpoint, tmp_path):
    metrics = read_metadata(tiny_checkpoint)["metrics"]
    record = metrics["calibration"]
    assert MIN_TEMPERATURE <= record["temperature"] <= MAX_TEMPERATURE
    assert 0 <= record["val_ece_after"] <= 1 and 0 <= record["short_ece"] <= 1
    assert sum(b["count"] for b in record["val_reliability"]) == metrics["val"]["count"] == record["val_count"]
    assert sum(b["count"] for b in record["short_reliability"]) == record["short_count"] > 1000
    for half in ("dev", "heldout"):
        result = SuiteResult.from_dict(metrics["behaviour"][half])
        assert result.half == half and result.cases > 1000
    card = write_card(tiny_checkpoint, overwrite=True).read_text(encoding="utf-8")
    assert "## Calibration" in card and "## Behaviour" in card
    assert "| validation reviews, after scaling |" in card and "short sentences of the behaviour suite" in card
    assert "| confidence | reviews | mean confidence | accuracy |" in card
    assert "| figure | held-out (tests) | dev (tests) |" in card and "### negation of positive" in card
    assert card.index("## Calibration") < card.index("## Behaviour") < card.index("## Known limits")


def old_checkpoint(path, metrics=None, labels=None):
    model, vocab = tiny_model(len(labels) if labels else 2)
    val = Metrics.from_confusion(0.3, [[2, 0, 0], [0, 2, 1], [0, 0, 3]]).to_dict() if labels else VAL
    return save_checkpoint(path, model, vocab, TrainConfig(), {"val": val, "test": val, **(metrics or {})},
                           {"name": "old"}, labels=labels)


def test_a_checkpoint_without_the_records_renders_as_before(tmp_path):
    card = render_card(old_checkpoint(tmp_path / "old.safetensors"))
    assert "## Calibration" not in card and "## Behaviour" not in card and "## Known limits" in card


def test_malformed_or_skipped_records_do_not_break_the_card(tmp_path):
    bad = {"calibration": {"temperature": "hot"}, "behaviour": {"dev": {"tests": 3}}}
    card = render_card(old_checkpoint(tmp_path / "bad.safetensors", bad))
    assert "calibration record is unreadable" in card and "behaviour record is unreadable" in card
    skipped = {"calibration": {"skipped": "trained in several processes"}}
    card = render_card(old_checkpoint(tmp_path / "skip.safetensors", skipped))
    assert "Probabilities are not calibrated: trained in several processes." in card


def test_the_suite_does_not_apply_to_other_labels(tmp_path):
    card = render_card(old_checkpoint(tmp_path / "m.safetensors", labels=["sad", "calm", "happy"]))
    assert "The behaviour suite does not apply" in card and "sad, calm, happy" in card
    assert "## Calibration" not in card

