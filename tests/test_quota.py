"""The app's disk stays bounded: a runs quota, bounded caches, start-up cleanup, and a full disk that says so."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import gradio as gr
import pandas as pd
import pytest

from demo import build_demo
from demo.services import batch, own_data, quota


def run(folder: Path, stem: str, size: int, age: float, card: bool = True) -> Path:
    """A run's checkpoint of ``size`` bytes (and its card), written ``age`` seconds ago."""
    checkpoint = folder / f"{stem}.safetensors"
    checkpoint.write_bytes(b"x" * size)
    files = [checkpoint]
    if card:
        files.append(checkpoint.with_suffix(".md"))
        files[-1].write_text("# Model card: x\n")
    for f in files:
        os.utime(f, (time.time() - age, time.time() - age))
    return checkpoint


def test_the_oldest_unpinned_runs_go_first_until_the_folder_fits_its_quota(tmp_path):
    old, pinned, middle, running, new = (run(tmp_path, name, 1000, age) for name, age in
                                         (("old", 500), ("pinned", 400), ("middle", 300), ("running", 200),
                                          ("new", 100)))
    quota.pin(pinned)
    (tmp_path / "other").mkdir()  # a folder of someone else's: counted, never removed
    removed = quota.enforce(tmp_path, 3200, keep=[running])
    assert removed == [old, middle]
    assert not old.with_suffix(".md").exists() and not middle.exists()
    assert pinned.exists() and running.exists() and new.exists() and (tmp_path / "other").is_dir()
    assert quota.enforce(tmp_path, 0) == []  # no quota


def test_the_default_quota_and_its_option(monkeypatch):
    import app

    monkeypatch.setenv("SENTIMENT_DATA", "download")  # the app checks its data option too; nothing is fetched

    assert app.parse_args([]).runs_quota == quota.DEFAULT_RUNS_QUOTA == 2 * 10**9
    assert app.parse_args(["--runs-quota", "500MB"]).runs_quota == 500 * 10**6
    assert quota.parse_size("1.5GiB") == int(1.5 * 2**30) and quota.parse_size("0") == 0
    with pytest.raises(SystemExit):
        app.parse_args(["--runs-quota", "lots"])


def test_caches_are_bounded_oldest_entries_first(tmp_path):
    tokens = tmp_path / "tokens"
    for i, age in enumerate((300, 200, 100)):
        entry = tokens / f"key{i}"
        entry.mkdir(parents=True)
        (entry / "part.bin").write_bytes(b"x" * 1000)
        os.utime(entry / "part.bin", (time.time() - age, time.time() - age))
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(b"x" * 5000)  # the archive is never a cache entry
    assert quota.bound_caches(tmp_path, {"tokens": 2000, "vectors": 10}) == [tokens / "key0"]
    assert sorted(p.name for p in tokens.iterdir()) == ["key1", "key2"] and (tmp_path / "aclImdb_v1.tar.gz").exists()


def test_start_up_removes_what_a_killed_instance_left(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    temp = tmp_path / "tmp"
    dead = temp / f"sentiment-batch-{int(gone.stdout)}-abc"
    alive = temp / f"sentiment-batch-{os.getpid()}-def"
    legacy_old, legacy_new = temp / "sentiment-batch-old", temp / "sentiment-batch-new"
    for folder in (dead, alive, legacy_old, legacy_new):
        (folder / "batch-x").mkdir(parents=True)
        (folder / "batch-x" / "predictions.csv").write_text("text,prediction\n")
    os.utime(legacy_old / "batch-x" / "predictions.csv", (0, 0))
    os.utime(legacy_old / "batch-x", (0, 0))
    os.utime(legacy_old, (0, 0))
    runs = tmp_path / "runs"
    (runs / "data").mkdir(parents=True)
    stale = [runs / ".a.safetensors.x1.tmp", runs / "data" / ".abc.csv.x2.tmp"]
    fresh = runs / ".b.safetensors.x3.tmp"  # a write in progress
    for f in (*stale, fresh):
        f.write_bytes(b"x")
    for f in stale:
        os.utime(f, (0, 0))
    quota.clean_start(runs, temp)
    assert not dead.exists() and not legacy_old.exists() and not any(f.exists() for f in stale)
    assert alive.exists() and legacy_new.exists() and fresh.exists()


def test_the_app_expires_gradios_cache_and_names_its_batch_folder_after_its_process(tmp_path):
    demo = build_demo(checkpoint_dir="/nonexistent", runs_dir=tmp_path / "runs", allow_training=False)
    assert isinstance(demo, gr.Blocks) and demo.delete_cache == (1800, 3600)


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


class FillsTheDisk(io.BufferedWriter):
    """A file that takes a few bytes, then finds the disk full."""

    def write(self, data):
        super().write(bytes(data)[:10])
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_copying_an_upload_is_a_clear_message_and_leaves_no_file(tmp_path, monkeypatch):
    upload = tmp_path / "up.csv"
    upload.write_bytes(b"text,label\n" + b"good film,pos\nbad film,neg\n" * 100)
    digest = hashlib.sha256(upload.read_bytes()).hexdigest()
    real = os.fdopen
    monkeypatch.setattr("sentiment_core.tempfiles.os.fdopen",
                        lambda fd, mode="r", **kw: FillsTheDisk(real(fd, mode, buffering=0, **kw)))
    with pytest.raises(own_data.DataSourceError, match="disk is full") as info:
        own_data._copy(upload, digest, tmp_path / "runs")
    assert "None" not in str(info.value) and "Errno" not in str(info.value)
    assert not list((tmp_path / "runs" / "data").iterdir())  # no partial copy, no .tmp


def test_a_full_disk_while_writing_batch_results_is_a_clear_message_and_leaves_no_file(registry, tmp_path,
                                                                                      monkeypatch):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "r.txt").write_text("Loved it.\nHated it.\n")
    out = tmp_path / "out"

    def half_written(self, path, *args, **kwargs):
        Path(path).write_text("text,predic")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_written)
    with pytest.raises(quota.DiskFullError, match="disk is full: the predictions file"):
        batch.classify_file(registry, "shipped/default", str(uploads / "r.txt"), out, uploads)
    assert list(out.iterdir()) == []
