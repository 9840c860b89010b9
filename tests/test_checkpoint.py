"""Checkpoints: exact round trip, atomic writes, and clear errors for every broken file."""

import json
import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from sentiment_core.checkpoint import FORMAT_VERSION, CheckpointError, load_checkpoint, read_metadata, save_checkpoint
from sentiment_core.config import ModelConfig, TrainConfig
from sentiment_core.evaluation import Metrics
from sentiment_core.model import SentimentRNN
from sentiment_core.vocab import Vocab

VAL = Metrics.from_counts(0.3, 4, 1, 0, 5).to_dict()


@pytest.fixture
def saved(tmp_path):
    vocab = Vocab.build([["good", "bad", "film", "plot"]])
    torch.manual_seed(0)
    model = SentimentRNN(ModelConfig(cell="lstm", vocab_size=len(vocab), embed_dim=8, hidden_dim=8, num_layers=2))
    path = save_checkpoint(tmp_path / "m.safetensors", model, vocab, TrainConfig(epochs=3),
                           {"val": VAL}, {"name": "m"})
    return path, model.eval(), vocab


def test_round_trip_gives_identical_logits(saved):
    path, model, vocab = saved
    ckpt = load_checkpoint(path)
    tokens, lengths = torch.tensor([[2, 3, 4, 5], [5, 4, 0, 0]]), torch.tensor([4, 2])
    with torch.no_grad():
        assert torch.equal(ckpt.model(tokens, lengths), model(tokens, lengths))
    assert ckpt.vocab.itos == vocab.itos
    assert ckpt.model_config == model.cfg
    assert ckpt.train_config.epochs == 3
    assert ckpt.labels == ["negative", "positive"]
    assert ckpt.metrics == {"val": VAL} and ckpt.info == {"name": "m"}
    assert read_metadata(path)["format_version"] == FORMAT_VERSION


def test_float16_storage_halves_the_file_and_stays_close(saved, tmp_path):
    path, model, vocab = saved
    half = save_checkpoint(tmp_path / "half.safetensors", model, vocab, dtype="float16")
    assert os.path.getsize(half) < 0.6 * os.path.getsize(path)
    tokens, lengths = torch.tensor([[2, 3, 4, 5]]), torch.tensor([4])
    with torch.no_grad():
        torch.testing.assert_close(load_checkpoint(half).model(tokens, lengths), model(tokens, lengths),
                                   atol=1e-2, rtol=1e-2)


class _Payload:
    """Unpickling this creates ``marker``: proof that a loader ran pickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.mark.parametrize("how", ["torch.save", "pickle", "pickle inside a header"])
def test_loading_a_pickle_payload_fails_and_never_unpickles(saved, tmp_path, monkeypatch, how):
    path, marker = saved[0], tmp_path / "unpickled"
    if how == "torch.save":
        torch.save({"weights": torch.zeros(3), "payload": _Payload(marker)}, path)
    elif how == "pickle":
        path.write_bytes(pickle.dumps(_Payload(marker)))
    else:  # a valid safetensors frame whose header names a pickle file as the model
        blob = pickle.dumps(_Payload(marker))
        path.write_bytes(len(blob).to_bytes(8, "little") + blob)

    def refuse(*args, **kwargs):
        raise AssertionError("a checkpoint loader unpickled")

    for name in ("load", "loads"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    for read in (load_checkpoint, read_metadata):
        with pytest.raises(CheckpointError, match="not a safetensors checkpoint"):
            read(path)
    assert not marker.exists()


def test_crash_mid_save_keeps_the_previous_checkpoint(saved, monkeypatch):
    path, model, vocab = saved
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, vocab)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.safetensors"]  # no temp file left


def corrupt(path, kind):
    blob = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(os.urandom(4096))
    elif kind == "pickle":
        torch.save({"weights": torch.zeros(3)}, path)
    elif kind == "foreign":
        save_file({"weight": torch.zeros(3)}, path)
    elif kind == "newer":
        vocab = Vocab.build([["a"]])
        model = SentimentRNN(ModelConfig(vocab_size=len(vocab), embed_dim=4, hidden_dim=4))
        save_checkpoint(path, model, vocab)
        size = int.from_bytes(path.read_bytes()[:8], "little")
        header = json.loads(path.read_bytes()[8 : 8 + size])
        header["__metadata__"]["format_version"] = str(FORMAT_VERSION + 1)
        raw = json.dumps(header).encode()
        raw += b" " * (size - len(raw)) if len(raw) <= size else b""
        path.write_bytes(len(raw).to_bytes(8, "little") + raw + path.read_bytes()[8 + size :])
    elif kind == "mismatched":
        meta = {k: v for k, v in read_metadata(path).items() if k != "format_version"}
        meta["model_config"]["hidden_dim"] = 16
        blob = path.read_bytes()
        size = int.from_bytes(blob[:8], "little")
        header = json.loads(blob[8 : 8 + size])
        header["__metadata__"]["model_config"] = json.dumps(meta["model_config"])
        raw = json.dumps(header).encode()
        path.write_bytes(len(raw).to_bytes(8, "little") + raw + blob[8 + size :])


@pytest.mark.parametrize("kind, message", [
    ("truncated", "truncated"),
    ("empty", "truncated or empty"),
    ("garbage", "not a safetensors checkpoint"),
    ("pickle", "not a safetensors checkpoint"),
    ("foreign", "not a sentiment_core checkpoint"),
    ("newer", "newer than this sentiment_core reads"),
    ("mismatched", "don't match the model config"),
])
def test_broken_files_raise_a_clear_error_naming_the_file(saved, kind, message):
    path = saved[0]
    corrupt(path, kind)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "absent.safetensors")
    with pytest.raises(CheckpointError, match="folder"):
        load_checkpoint(tmp_path)
