"""Labels asked for at the same moment are computed in one pass (demo/services/batching.py)."""

from __future__ import annotations

import threading

import pytest

from demo.services.batching import Batcher
from sentiment_core import EmptyTextError, Predictor

TEXTS = [f"{'A wonderful, moving film. ' * (i % 5 + 1)}The cast {('shines', 'is lost')[i % 2]}." for i in range(16)]


@pytest.fixture(scope="module")
def predictor(tiny_checkpoint) -> Predictor:
    return Predictor.from_checkpoint(tiny_checkpoint)


def test_a_lone_request_gets_exactly_what_predict_gives(predictor):
    assert Batcher().predict(predictor, TEXTS[0]) == predictor.predict(TEXTS[0])


def run_together(batcher: Batcher, predictor: Predictor, texts: list[str]) -> list:
    """Each text from its own thread, all released at once; per text its result or its exception."""
    start, out = threading.Barrier(len(texts)), [None] * len(texts)

    def ask(i: int) -> None:
        start.wait()
        try:
            out[i] = batcher.predict(predictor, texts[i])
        except Exception as exc:
            out[i] = exc

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def test_requests_at_the_same_moment_share_passes_and_each_gets_its_own_row(predictor, monkeypatch):
    passes = []
    real = predictor.predict_encoded

    def counted(encoded, *args, **kwargs):
        passes.append(len(encoded))
        threading.Event().wait(0.02)  # a pass takes a while: the others queue up meanwhile
        return real(encoded, *args, **kwargs)

    monkeypatch.setattr(predictor, "predict_encoded", counted)
    results = run_together(Batcher(max_batch=8), predictor, TEXTS)
    for text, result in zip(TEXTS, results):
        assert result == pytest.approx(predictor.predict(text), abs=1e-6)
    assert sum(passes) == len(TEXTS) and len(passes) < len(TEXTS) and max(passes) <= 8


def test_an_empty_text_fails_alone_and_a_failed_pass_reaches_everyone_in_it(predictor, monkeypatch):
    results = run_together(Batcher(), predictor, [TEXTS[0], "   ", TEXTS[1]])
    assert isinstance(results[1], EmptyTextError) and isinstance(results[0], dict) and isinstance(results[2], dict)

    def broken(encoded, *args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(predictor, "predict_encoded", broken)
    results = run_together(Batcher(), predictor, TEXTS[:4])
    assert all(isinstance(r, RuntimeError) and str(r) == "out of memory" for r in results)
