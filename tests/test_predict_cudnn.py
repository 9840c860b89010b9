"""Attributions and cuDNN's process-wide switch: untouched on CPU, restored on CUDA however calls overlap."""

from __future__ import annotations

import threading

import pytest
import torch

from sentiment_core import Predictor, explain


@pytest.fixture(scope="module")
def predictor(tiny_checkpoint):
    return Predictor.from_checkpoint(tiny_checkpoint)


def test_attributions_on_cpu_never_touch_cudnn(predictor, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("torch.backends.cudnn.flags called for a CPU model")

    monkeypatch.setattr(torch.backends.cudnn, "flags", forbidden)
    tokens = predictor.tokens("A wonderful, moving film with a superb cast.")[0]
    seen, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            seen.append(torch.backends.cudnn.enabled)

    def attribute(results: list) -> None:
        for _ in range(5):
            results.append(predictor.attributions(tokens, steps=8))

    watcher = threading.Thread(target=watch)
    watcher.start()
    results: list = []
    threads = [threading.Thread(target=attribute, args=(results,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert len(results) == 20 and all(r == pytest.approx(results[0], abs=1e-5) for r in results)
    assert torch.backends.cudnn.enabled and all(seen)


def test_overlapping_cuda_switches_restore_cudnn():
    """The CUDA path's guard, without a GPU: overlapping calls take turns and leave cuDNN on."""
    assert torch.backends.cudnn.enabled
    inside, entered = [], threading.Barrier(3)

    def hold():
        entered.wait()
        with explain._plain_rnn_kernels(torch.device("cuda")):
            inside.append(torch.backends.cudnn.enabled)
            threading.Event().wait(0.05)  # overlap with the other threads

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inside == [False, False, False] and torch.backends.cudnn.enabled


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_attributions_on_cuda_match_cpu(tiny_checkpoint):
    cpu = Predictor.from_checkpoint(tiny_checkpoint)
    cuda = Predictor.from_checkpoint(tiny_checkpoint, device="cuda")
    tokens = cpu.tokens("A wonderful, moving film with a superb cast.")[0]
    assert cuda.attributions(tokens) == pytest.approx(cpu.attributions(tokens), abs=1e-3)
    assert torch.backends.cudnn.enabled
