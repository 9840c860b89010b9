"""The training loop on the small synthetic reviews: it learns, it stops cleanly, it fails loudly."""

import threading

import pytest
import torch

from sentiment_core import Predictor, load_checkpoint, load_corpus, preset, train
from sentiment_core.data import corpus as corpus_module
from sentiment_core.training import CheckpointSaved, EpochEnd, Finished, Started, Step, Timing


@pytest.fixture(scope="module")
def slice_corpus(synthetic_data, tmp_path_factory):
    """The synthetic reviews (600 training, 200 validation and 200 test) as the quick preset loads them,
    tokenized once, into a cache of its own. Every load phase is timed, however short: on a fast machine
    the 1,000 short rows tokenize under the clock's reporting floor, which would leave no load timings."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(corpus_module._Clock, "MIN_S", 0.0)
        cfg = preset("quick", data=str(synthetic_data), cache_dir=str(tmp_path_factory.mktemp("tokens")))[1]
        return load_corpus(cfg)


def test_short_run_beats_chance_clearly(slice_corpus, tmp_path):
    model_cfg, train_cfg = preset("quick", output=str(tmp_path / "q.safetensors"))
    events = list(train(model_cfg, train_cfg, slice_corpus))
    kinds = [e.kind for e in events if e.kind != "Timing"]
    assert kinds[0] == "Started" and kinds[-1] == "Finished"
    started = next(e for e in events if isinstance(e, Started))
    assert kinds.count("EpochEnd") == 3 and kinds.count("Step") == started.total_steps
    # Where the time went: loading (from the corpus), the vocabulary, each epoch, calibration, the test
    # and the behaviour suite (a polarity model), in order.
    phases = [e.phase for e in events if isinstance(e, Timing)]
    assert phases == [*(p for p, _ in slice_corpus.timings), "vocabulary and model", "epoch 1", "epoch 2", "epoch 3",
                      "calibration", "testing", "behaviour suite"]
    assert slice_corpus.timings and all(e.seconds >= 0 for e in events if isinstance(e, Timing))
    done = events[-1]
    assert done.status == "finished", done.error
    assert done.val["accuracy"] > 0.68 and done.test["accuracy"] > 0.68
    assert done.test["count"] == 200
    steps = [e for e in events if isinstance(e, Step)]
    assert all(s.tokens_per_s > 0 and s.eta_s >= 0 for s in steps)
    assert sum(s.loss for s in steps[-10:]) < sum(s.loss for s in steps[:10])
    # The checkpoint predicts, and records what it was trained on.
    ckpt = load_checkpoint(done.path)
    assert ckpt.metrics["test"]["accuracy"] == done.test["accuracy"]
    assert ckpt.info["train_size"] == 600 and ckpt.train_config.max_train_samples == 2000  # all 600 of them
    assert Predictor(ckpt).predict("A wonderful, moving film. Brilliant acting!")["positive"] > 0.5


def train_until(corpus, output, when, configs=None) -> list:
    """Every event of a run (default: a 3-epoch quick one) whose stop flag is set once ``when(event)`` holds."""
    model_cfg, train_cfg = configs or preset("quick", output=str(output), epochs=3)
    stop = threading.Event()
    events = []
    for event in train(model_cfg, train_cfg, corpus, stop=stop):
        events.append(event)
        if when(event):
            stop.set()
    return events


def test_stop_mid_epoch_keeps_a_loadable_checkpoint(slice_corpus, tmp_path):
    # Stopped after step 5, before any epoch finished.
    events = train_until(slice_corpus, tmp_path / "s.safetensors", lambda e: isinstance(e, Step) and e.step == 5)
    steps = [e for e in events if isinstance(e, Step)]
    assert len(steps) == 5  # ended at the next batch
    done = events[-1]
    assert isinstance(done, Finished) and done.status == "stopped"
    assert done.test == {}  # a stopped run isn't scored on test
    assert load_checkpoint(done.path).metrics["val"]["count"] == 200


def test_stop_after_an_epoch_keeps_the_best_epoch(slice_corpus, tmp_path):
    events = train_until(slice_corpus, tmp_path / "b.safetensors", lambda e: isinstance(e, EpochEnd))
    saved = [e for e in events if isinstance(e, CheckpointSaved)]
    assert events[-1].status == "stopped" and saved[-1].epoch == 1
    started = next(e for e in events if isinstance(e, Started))
    assert sum(isinstance(e, Step) for e in events) == started.steps_per_epoch
    ckpt = load_checkpoint(events[-1].path)
    first_epoch = next(e for e in events if isinstance(e, EpochEnd))
    assert ckpt.metrics["best_epoch"] == 1 and ckpt.metrics["val"]["accuracy"] == first_epoch.val["accuracy"]


def test_out_of_memory_ends_with_a_clear_failed_event(slice_corpus, tmp_path, monkeypatch):
    from sentiment_core.model import SentimentRNN

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(SentimentRNN, "forward", out_of_memory)
    model_cfg, train_cfg = preset("quick", output=str(tmp_path / "f.safetensors"), epochs=1)
    events = list(train(model_cfg, train_cfg, slice_corpus))
    done = events[-1]
    assert done.status == "failed" and "out of memory" in done.error and "batch size" in done.error
    assert not (tmp_path / "f.safetensors").exists()


def test_diverging_loss_fails_instead_of_saving_nan(slice_corpus, tmp_path, monkeypatch):
    real = torch.nn.BCEWithLogitsLoss.forward
    monkeypatch.setattr(torch.nn.BCEWithLogitsLoss, "forward", lambda self, x, y: real(self, x, y) * float("nan"))
    model_cfg, train_cfg = preset("quick", output=str(tmp_path / "n.safetensors"), epochs=1)
    done = list(train(model_cfg, train_cfg, slice_corpus))[-1]
    assert done.status == "failed" and "nan" in done.error and "lower the lr" in done.error


def test_a_failure_after_an_epoch_keeps_the_best_checkpoint(slice_corpus, tmp_path, monkeypatch):
    real = torch.nn.BCEWithLogitsLoss.forward
    calls = []

    def nan_in_epoch_two(self, x, y):
        calls.append(1)  # 10 training steps and 2 validation batches make epoch one
        return real(self, x, y) * (float("nan") if len(calls) > 15 else 1.0)

    monkeypatch.setattr(torch.nn.BCEWithLogitsLoss, "forward", nan_in_epoch_two)
    model_cfg, train_cfg = preset("quick", output=str(tmp_path / "k.safetensors"), epochs=3)
    events = list(train(model_cfg, train_cfg, slice_corpus))
    done = events[-1]
    assert done.status == "failed" and done.path == str(tmp_path / "k.safetensors")
    assert "best checkpoint so far is kept" in done.error
    assert load_checkpoint(done.path).metrics["best_epoch"] == 1


def test_unavailable_device_fails_clearly(slice_corpus, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    model_cfg, train_cfg = preset("quick", device="cuda", output=str(tmp_path / "c.safetensors"))
    events = list(train(model_cfg, train_cfg, slice_corpus))
    assert len(events) == 1 and events[0].status == "failed" and "CUDA" in events[0].error


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(lr=0.0), dict(lr=float("nan")), dict(batch_size=0),
                                 dict(device="tpu"), dict(val_fraction=1.5), dict(max_tokens=-1)])
def test_bad_settings_are_rejected_before_training(bad):
    with pytest.raises(ValueError):
        preset("quick", **bad)


def test_started_event_describes_the_run(slice_corpus, tmp_path):
    # Stopped as soon as it started: before the first step, so nothing is saved.
    events = train_until(slice_corpus, tmp_path / "d.safetensors", lambda e: isinstance(e, Started))
    events = [e for e in events if not isinstance(e, Timing)]
    started = events[0]
    assert isinstance(started, Started)
    assert (started.train_size, started.val_size, started.test_size) == (600, 200, 200)
    assert started.device == "cpu" and started.num_parameters > 0
    assert [e.kind for e in events] == ["Started", "Finished"]
    assert events[-1].status == "stopped" and events[-1].path == ""
    assert not (tmp_path / "d.safetensors").exists()


def test_bfloat16_autocast_trains_and_scores_like_float32(slice_corpus, tmp_path):
    """The GPU path's mixed precision, run where it can be here: autocast to bfloat16 on the CPU."""
    from sentiment_core.data import EncodedDataset, make_loader
    from sentiment_core.evaluation import evaluate
    from sentiment_core.utils import uses_bfloat16

    assert not uses_bfloat16(torch.device("cpu"), "auto") and uses_bfloat16(torch.device("cpu"), "bfloat16")
    model_cfg, train_cfg = preset("quick", precision="bfloat16", output=str(tmp_path / "bf16.safetensors"))
    done = list(train(model_cfg, train_cfg, slice_corpus))[-1]
    assert done.status == "finished", done.error
    assert done.test["accuracy"] > 0.68
    ckpt = load_checkpoint(done.path)
    assert ckpt.info["precision"] == "bfloat16 autocast" and ckpt.train_config.precision == "bfloat16"
    # The saved float32 weights score the same with or without autocast, within rounding.
    loader = make_loader(EncodedDataset(slice_corpus.test, ckpt.vocab, train_cfg.max_tokens), 128, shuffle=False)
    full, mixed = evaluate(ckpt.model, loader), evaluate(ckpt.model, loader, precision="bfloat16")
    assert mixed.count == full.count == 200 and abs(mixed.accuracy - full.accuracy) < 0.02
    assert mixed.accuracy == done.test["accuracy"]  # the run's own test figure is the autocast one


def test_fit_steps_fits_the_batch_and_epochs_to_the_training_set_when_the_run_starts(slice_corpus, tmp_path):
    # 600 training reviews at the preset's batch of 128 would be 5 steps an epoch: the run halves the batch
    # to 16 (38 steps) and takes as many steps as 2 epochs of 22,500 (352), in 9 epochs stopped early.
    model_cfg, train_cfg = preset("quick", output=str(tmp_path / "f.safetensors"), batch_size=128, epochs=2,
                                  fit_steps=True)
    events = train_until(slice_corpus, tmp_path / "f.safetensors", lambda e: isinstance(e, Step) and e.step == 3,
                         (model_cfg, train_cfg))
    note = next(e.message for e in events if e.kind == "Status" and "fitted to" in e.message)
    assert note.startswith("fitted to 600 training reviews: batches of 16 and up to 9 epochs, stopping after 3")
    started = next(e for e in events if isinstance(e, Started))
    assert started.epochs == 9 and started.steps_per_epoch == 38
    ckpt = load_checkpoint(events[-1].path)
    assert (ckpt.train_config.batch_size, ckpt.train_config.epochs, ckpt.train_config.patience) == (16, 9, 3)
