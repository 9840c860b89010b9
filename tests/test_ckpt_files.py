"""What a checkpoint file may be, checked before anything is allocated; and what saving leaves behind."""

import errno
import json
import os
import threading
import time

import pytest
import torch

import sentiment_core.checkpoint as checkpoint
from sentiment_core.checkpoint import CheckpointError, check_output, load_checkpoint, read_metadata, save_checkpoint
from sentiment_core.config import ModelConfig, TrainConfig
from sentiment_core.model import SentimentRNN
from sentiment_core.vocab import Vocab


@pytest.fixture
def saved(tmp_path):
    vocab = Vocab.build([["good", "bad", "film", "plot"]])
    model = SentimentRNN(ModelConfig(vocab_size=len(vocab), embed_dim=8, hidden_dim=8))
    return save_checkpoint(tmp_path / "m.safetensors", model, vocab, TrainConfig()), model, vocab


def set_config(path, key, **changes) -> None:
    blob = path.read_bytes()
    size = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + size])
    header["__metadata__"][key] = json.dumps({**json.loads(header["__metadata__"][key]), **changes})
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + blob[8 + size :])


def finishes_quickly(fn, seconds=10.0):
    """Run ``fn`` in a thread; its exception, or a failure if it is still running after ``seconds``."""
    outcome = {}

    def run():
        try:
            fn()
            outcome["result"] = None
        except BaseException as exc:  # handed back to the test
            outcome["result"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn} was still reading after {seconds} s"
    return outcome["result"]


def test_a_huge_config_in_a_small_file_is_refused_before_any_model_is_built(saved, monkeypatch):
    path = saved[0]
    built = []
    real = checkpoint.SentimentRNN

    def spy(cfg):
        built.append(torch.get_default_device().type)
        return real(cfg)

    monkeypatch.setattr(checkpoint, "SentimentRNN", spy)
    set_config(path, "model_config", embed_dim=30_000)  # 25k words x 30k would be 3 GB
    with pytest.raises(CheckpointError, match="embed_dim must be at most 4096"):
        load_checkpoint(path)
    set_config(path, "model_config", embed_dim=4_000)  # within the bounds, but not what the file holds
    for read in (read_metadata, load_checkpoint):
        with pytest.raises(CheckpointError, match=r"don't match the model config: embedding.weight has shape \[6, 8\]"):
            read(path)
    assert "cpu" not in built  # shapes were compared on the meta device only


def test_layers_above_the_bound_are_refused(saved):
    set_config(saved[0], "model_config", num_layers=100)
    with pytest.raises(CheckpointError, match="num_layers must be at most 8"):
        load_checkpoint(saved[0])


def test_a_fifo_is_refused_at_once_instead_of_blocking(tmp_path):
    fifo = tmp_path / "fifo.safetensors"
    os.mkfifo(fifo)
    for read in (load_checkpoint, read_metadata):
        error = finishes_quickly(lambda read=read: read(fifo))
        assert isinstance(error, CheckpointError) and "not a regular file" in str(error)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_dev_zero_is_refused_at_once():
    error = finishes_quickly(lambda: load_checkpoint("/dev/zero"))
    assert isinstance(error, CheckpointError) and "not a regular file" in str(error)


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.safetensors"
    with open(big, "wb") as f:
        f.truncate(checkpoint.MAX_FILE_BYTES + 1)  # sparse: no disk used
    error = finishes_quickly(lambda: load_checkpoint(big), seconds=5)
    assert isinstance(error, CheckpointError) and "larger than any checkpoint" in str(error)


def test_a_checkpoint_cannot_lift_the_token_limit(saved):
    set_config(saved[0], "train_config", max_tokens=10**9)
    with pytest.raises(CheckpointError, match="max_tokens must be at most 5000"):
        load_checkpoint(saved[0])


def test_stale_temp_files_of_a_killed_save_are_removed(saved):
    path, model, vocab = saved
    stale, fresh = path.parent / f".{path.name}.abc123.tmp", path.parent / f".{path.name}.def456.tmp"
    other = path.parent / ".other.safetensors.ghi789.tmp"
    for p in (stale, fresh, other):
        p.write_bytes(b"half a checkpoint")
    old = time.time() - 3600
    for p in (stale, other):
        os.utime(p, (old, old))
    save_checkpoint(path, model, vocab)
    assert not stale.exists()
    assert fresh.exists() and other.exists()  # maybe a save in progress; another checkpoint's


def test_a_full_disk_is_an_error_naming_the_checkpoint(saved, monkeypatch):
    path, model, vocab = saved
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="no space left") as info:
        save_checkpoint(path, model, vocab)
    assert info.value.errno == errno.ENOSPC and str(path) in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.safetensors"]


def test_save_refuses_metrics_a_reader_would_refuse(saved):
    path, model, vocab = saved
    with pytest.raises(CheckpointError, match=r"metrics\.val\.count"):
        save_checkpoint(path.with_name("bad.safetensors"), model, vocab,
                        metrics={"val": {"loss": 0.1, "accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1": 0.9}})
    assert not path.with_name("bad.safetensors").exists()


def test_check_output(tmp_path, monkeypatch):
    target = tmp_path / "new" / "m.safetensors"
    check_output(target, needed_bytes=1)  # a folder still to be created is fine
    target.parent.mkdir()
    target.write_bytes(b"an old model")
    with pytest.raises(FileExistsError, match="--overwrite"):
        check_output(target)
    check_output(target, overwrite=True)
    with pytest.raises(IsADirectoryError):
        check_output(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(NotADirectoryError):
        check_output(blocker / "m.safetensors")
    monkeypatch.setattr("shutil.disk_usage", lambda p: type("U", (), {"free": 1_000_000})())
    with pytest.raises(OSError, match="not enough free space"):
        check_output(tmp_path / "x.safetensors", needed_bytes=10_000_000)
