"""The model registry stays off the hot path: requests read a snapshot of the folders, rescanned only
when a folder changes or its time is up, and the header cache forgets files that are gone."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from demo.services.registry import ModelRegistry
from demo.services.worker import TrainingWorker
from demo.tabs import train as tt


@pytest.fixture
def many(tmp_path: Path, tiny_checkpoint: Path) -> ModelRegistry:
    """A registry over a shipped default and five runs, the folders last changed long ago."""
    shipped, runs = tmp_path / "checkpoints", tmp_path / "runs"
    shipped.mkdir()
    runs.mkdir()
    shutil.copy(tiny_checkpoint, shipped / "default.safetensors")
    for i in range(5):
        shutil.copy(tiny_checkpoint, runs / f"run-{i}.safetensors")
    old = time.time_ns() - 10 * 10**9
    for folder in (shipped, runs):
        os.utime(folder, ns=(old, old))
    return ModelRegistry(shipped, runs, shipped / "default.safetensors", scan_ttl_s=60)


@pytest.fixture
def calls(monkeypatch) -> dict[str, list[Path]]:
    """Every Path.glob and Path.stat call, by the path it was made on."""
    seen: dict[str, list[Path]] = {"glob": [], "stat": []}
    glob, stat = Path.glob, Path.stat

    def counted_glob(self, *args, **kwargs):
        seen["glob"].append(self)
        return glob(self, *args, **kwargs)

    def counted_stat(self, *args, **kwargs):
        seen["stat"].append(self)
        return stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "glob", counted_glob)
    monkeypatch.setattr(Path, "stat", counted_stat)
    return seen


def test_requests_neither_list_the_folders_nor_stat_other_checkpoints(many, calls):
    many.predictor("runs/run-3")  # the first request scans and loads
    calls["glob"].clear()
    calls["stat"].clear()
    for _ in range(50):
        many.predictor("runs/run-3")
        many.default_key()
        many.entry("shipped/default")
    assert calls["glob"] == []
    others = [p for p in calls["stat"] if p.suffix == ".safetensors" and p.name != "run-3.safetensors"
              and p.name != "default.safetensors"]
    assert others == []
    assert len(calls["stat"]) <= 50 * 3 * 3 + 50  # the folders and the default model per call, the file per load


def test_a_new_or_removed_checkpoint_is_seen_at_once_and_a_rewritten_one_within_the_ttl(many, tiny_checkpoint):
    runs = many.folders["runs"]
    assert len(many.scan()[0]) == 6
    shutil.copy(tiny_checkpoint, runs / "new.safetensors")  # the folder's mtime moves
    assert "runs/new" in [key for _, key in many.choices()]
    (runs / "new.safetensors").unlink()
    assert "runs/new" not in [key for _, key in many.choices()]
    many.scan_ttl_s = 0  # a file rewritten in place changes no folder: the TTL catches it
    before = many.signature()
    os.utime(runs / "run-0.safetensors", ns=(time.time_ns(), time.time_ns() + 10**9))
    assert many.signature() != before


def test_the_header_cache_forgets_files_that_are_gone(many):
    runs = many.folders["runs"]
    many.scan()
    assert len(many._meta) == 6
    for i in range(5):
        (runs / f"run-{i}.safetensors").unlink()
    assert [e.key for e in many.scan()[0]] == ["shipped/default"]
    assert len(many._meta) == 1


def test_the_compare_plot_reads_each_runs_history_once_per_refresh(many, monkeypatch):
    tab = tt.TrainTab(TrainingWorker(threads=1), many, many.folders["runs"], None, None, None)
    scans = []
    scan = many.scan
    monkeypatch.setattr(many, "scan", lambda: scans.append(1) or scan())
    monkeypatch.setattr(many, "entry", lambda key: pytest.fail("a history read through entry() rescans"))
    assert tab.compare("validation loss") is not None
    assert len(scans) == 1
