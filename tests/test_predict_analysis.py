"""What analyze adds to a prediction: the running prediction and integrated gradients, with their error."""

from __future__ import annotations

import tarfile
import threading

import pytest
import torch

from sentiment_core import DEFAULT_CHECKPOINT, Predictor, explain
from sentiment_core.predict import IG_STEPS, RUNNING_POINTS, Attribution

REVIEW = ("This movie was a wonderful surprise: the acting is superb, the story moving, and I loved "
          "every minute of it.<br /><br />Highly recommended. Well, the ending drags a little, but still.")
# The review bench/bench_predict.py times: the test review of about 230 tokens.
BENCH_REVIEW = "aclImdb/test/neg/102_4.txt"


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    return Predictor.from_checkpoint(tiny_checkpoint)


@pytest.fixture(scope="module")
def shipped():
    return Predictor.from_checkpoint(DEFAULT_CHECKPOINT)


@pytest.fixture(scope="module")
def bench_review(imdb_archive):
    with tarfile.open(imdb_archive, "r:gz") as archive:
        for member in archive:
            if member.name == BENCH_REVIEW:
                return archive.extractfile(member).read().decode("utf-8")
    raise AssertionError(f"{BENCH_REVIEW} is not in {imdb_archive}")


def test_shipped_model_explains_the_bench_review_within_5_percent(shipped, bench_review):
    analysis = shipped.analyze(bench_review)
    assert 200 < len(analysis.tokens) < 260
    assert analysis.steps <= IG_STEPS and len(analysis.running) == RUNNING_POINTS
    assert analysis.completeness_error <= 0.05
    assert analysis.running[-1] == pytest.approx(shipped.predict(bench_review)["positive"], abs=1e-5)


def test_completeness_error_is_measured_against_the_logits(shipped):
    tokens = shipped.tokens(REVIEW)[0]
    attribution = shipped.integrated_gradients(tokens)
    ids = torch.tensor([shipped.vocab.encode(tokens)])
    lengths = torch.tensor([len(tokens)])
    with torch.no_grad():
        logit = shipped.model(ids, lengths).item()
        baseline = shipped.model.classify(torch.zeros(1, len(tokens), shipped.model.cfg.embed_dim), lengths).item()
    assert attribution.logit == pytest.approx(logit, abs=1e-5)
    assert attribution.baseline_logit == pytest.approx(baseline, abs=1e-5)
    miss = abs(sum(attribution.scores) - (logit - baseline)) / abs(logit - baseline)
    assert attribution.completeness_error == pytest.approx(miss, rel=1e-3, abs=1e-6)


def test_completeness_error_of_a_text_that_changes_nothing():
    assert Attribution([0.0, 0.0], 1.5, 1.5, 3).completeness_error == 0.0
    assert Attribution([0.1, 0.0], 1.5, 1.5, 3).completeness_error == float("inf")
    assert Attribution([0.5, 0.3], 2.0, 1.0, 3).completeness_error == pytest.approx(0.2)


@pytest.mark.parametrize(("steps", "used"), [(3, 3), (8, 7), (16, 15), (IG_STEPS, IG_STEPS), (60, 59)])
def test_integrated_gradients_use_at_most_their_steps(tiny, steps, used, monkeypatch):
    tokens = tiny.tokens(REVIEW)[0]
    monkeypatch.setattr(explain, "IG_TOLERANCE", 0.0)  # every round
    attribution = tiny.integrated_gradients(tokens, steps)
    assert attribution.steps == used and len(attribution.scores) == len(tokens)


def test_the_bisection_rounds_stop_once_the_panels_add_up(tiny, monkeypatch):
    tokens = tiny.tokens(REVIEW)[0]
    monkeypatch.setattr(explain, "IG_TOLERANCE", float("inf"))  # the first panels always do
    attribution = tiny.integrated_gradients(tokens, IG_STEPS)
    assert attribution.steps == 13  # 6 Simpson panels: 13 points


@pytest.mark.parametrize("bad", [0, 2])
def test_too_few_steps_or_points_are_refused(tiny, bad):
    tokens = tiny.tokens(REVIEW)[0]
    with pytest.raises(ValueError, match="steps"):
        tiny.integrated_gradients(tokens, bad)
    with pytest.raises(ValueError, match="max_points"):
        tiny.running(tokens, max_points=bad - 1)


def test_running_prediction_equals_reading_each_prefix(tiny):
    tokens = tiny.tokens(REVIEW)[0]
    positions, probs = tiny.running(tokens, max_points=12)
    assert len(positions) == 12 and positions[0] == 1 and positions[-1] == len(tokens)
    ids = torch.tensor(tiny.vocab.encode(tokens))
    with torch.no_grad():
        slow = torch.sigmoid(tiny.model.prefix_logits(ids, torch.tensor(positions), reread=True))
    assert probs == pytest.approx(slow.tolist(), abs=1e-5)
    assert probs[-1] == pytest.approx(tiny.predict(REVIEW)["positive"], abs=1e-5)


def test_a_short_text_has_a_point_per_token(tiny):
    positions, probs = tiny.running(["Great", "film", "."])
    assert positions == [1, 2, 3] and len(probs) == 3


def test_analysis_probabilities_are_the_running_predictions_last_point(tiny):
    analysis = tiny.analyze(REVIEW)
    assert analysis.probabilities["positive"] == analysis.running[-1]
    assert analysis.probabilities == pytest.approx(tiny.predict(REVIEW), abs=1e-5)


def test_concurrent_analyses_agree(shipped):
    """The app analyzes from several request threads at once: nothing may be shared between calls."""
    texts = [REVIEW, "Dull, slow and far too long; the cast looks bored.", REVIEW + " " + REVIEW]
    expected = [shipped.analyze(text) for text in texts]
    results: dict[tuple[int, int], object] = {}

    def work(worker: int) -> None:
        for round_ in range(3):
            i = (worker + round_) % len(texts)
            results[worker, round_] = (i, shipped.analyze(texts[i]))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 12
    for i, got in results.values():
        assert got.attributions == pytest.approx(expected[i].attributions, abs=1e-5)
        assert got.running == pytest.approx(expected[i].running, abs=1e-6)
        assert got.completeness_error == pytest.approx(expected[i].completeness_error, abs=1e-4)
