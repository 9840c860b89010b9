"""A model's mistakes scored in a child process (demo/services/scoring.py), one scoring at a time."""

from __future__ import annotations

import threading

import pytest

from demo.services.scoring import Scorer
from demo.services.turns import Busy, Turns
from sentiment_core.data import DataError
from sentiment_core.mistakes import error_table


class Stop(Exception):
    pass


def test_a_child_scores_the_same_table_with_progress(tiny_checkpoint):
    seen = []
    table = Scorer().table(tiny_checkpoint, "val", progress=lambda *line: seen.append(line))
    reference = error_table(tiny_checkpoint, "val")
    assert table.rows == reference.rows and table.metrics == reference.metrics and table.labels == reference.labels
    assert table.checkpoint == str(tiny_checkpoint)


def test_a_bad_checkpoint_or_a_slow_child_is_a_data_error(tmp_path, tiny_checkpoint):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match=r"broken\.safetensors"):
        Scorer().table(broken, "val")
    with pytest.raises(DataError, match="took longer than"):
        Scorer(seconds=0.2).table(tiny_checkpoint, "test")  # the child cannot even import torch in that time


def test_a_progress_hook_that_raises_stops_the_scoring(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("SENTIMENT_CACHE_DIR", str(tmp_path))  # nothing cached: the child scores and reports

    def stop(stage, done, total):
        raise Stop(stage)

    with pytest.raises(Stop):
        Scorer().table(tiny_checkpoint, "test", progress=stop)


def test_one_job_runs_and_a_bounded_number_wait():
    turns = Turns(waiting=1, job_seconds=2.5, busy="busy; try again")  # waits 5 s at most
    running, release, outcomes = threading.Event(), threading.Event(), []

    def job():
        with turns.take():
            running.set()
            release.wait(5)

    def waiter():
        try:
            with turns.take():
                outcomes.append("ran")
        except Busy as exc:
            outcomes.append(str(exc))

    first = threading.Thread(target=job)
    first.start()
    running.wait(5)
    second = threading.Thread(target=waiter)
    second.start()
    while turns._queued < 2:
        pass
    waiter()  # a third: one runs, one waits, no room
    assert outcomes == ["busy; try again"]
    release.set()
    first.join()
    second.join()
    assert outcomes == ["busy; try again", "ran"]
    short = Turns(waiting=1, job_seconds=0.025, busy="gave up waiting")  # waits 0.05 s at most
    with short.take(), pytest.raises(Busy, match="gave up waiting"), short.take():
        pass
