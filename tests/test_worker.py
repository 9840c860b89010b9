"""The training worker: each run in a child process, Stop that always ends it, deaths reported, no orphans."""

from __future__ import annotations

import dataclasses
import multiprocessing.connection
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from demo.services import form
from demo.services.worker import Run, TrainingWorker, thread_budget
from demo.tabs.train_views import status_markdown
from sentiment_core import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def tiny_configs(output: Path, data: str | os.PathLike = "", cache_dir: str | os.PathLike = "", **overrides):
    """Configs of a run of a few seconds: 300 reviews of ``data`` (a labelled file such as the synthetic
    reviews; empty: the IMDB data of $SENTIMENT_DATA), a 16-unit GRU."""
    values = form.preset_settings("quick")
    values.update(max_train_samples=300, max_eval_samples=100, embed_dim=16, hidden_dim=16, max_tokens=100,
                  epochs=1, batch_size=32, device="cpu")
    values.update(overrides)
    model_cfg, train_cfg, settings, _ = form.parse_settings("quick", values)
    return model_cfg, dataclasses.replace(train_cfg, output=str(output), data=str(data),
                                          cache_dir=str(cache_dir)), settings


def start(worker: TrainingWorker, output: Path, data: str | os.PathLike = "", **overrides) -> Run:
    model_cfg, train_cfg, settings = tiny_configs(output, data, **overrides)
    return worker.start(Run(output.stem, str(output), "quick", settings), model_cfg, train_cfg, {"name": output.stem})


def wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the training worker")
        time.sleep(0.05)


def latest(worker: TrainingWorker) -> Run:
    return worker.snapshot()[1]


@pytest.fixture
def fresh_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty token cache: a run on it tokenizes its data (about a second), never just reads cached tokens."""
    return tmp_path_factory.mktemp("tokens")


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_run_in_a_child_process_records_every_event_and_writes_a_card(tmp_path, synthetic_data, fresh_cache):
    worker = TrainingWorker(threads=1)
    start(worker, tmp_path / "one.safetensors", synthetic_data, cache_dir=fresh_cache)
    wait_for(lambda: worker.pid is not None or not latest(worker).running, timeout=30)
    child = worker.pid
    assert child not in (None, os.getpid())
    assert worker.join(timeout=180)
    run = latest(worker)
    assert run.status == "finished", run.error
    kinds = [e["kind"] for e in run.events if e["kind"] != "Timing"]
    assert kinds[0] == "Started" and kinds[-1] == "Finished" and "Step" in kinds and "EpochEnd" in kinds
    # Where the time went, from reading the data (in the child, before training) to the test and the behaviour suite.
    phases = [e["phase"] for e in run.of_kind("Timing")]  # each of 0.05 s or more
    assert phases[0] in ("checking the file", "tokenizing") and "tokenizing" in phases
    assert phases[-3:] == ["calibration", "testing", "behaviour suite"]
    assert "vocabulary and model" in phases and "epoch 1" in phases
    assert "Where the time goes" in status_markdown(run) and "start-up and saving" in status_markdown(run)
    assert (tmp_path / "one.safetensors").is_file() and (tmp_path / "one.md").is_file()
    assert gone(child)


def test_stop_while_reading_the_data_ends_within_two_seconds_and_saves_nothing(tmp_path, synthetic_data, fresh_cache):
    worker = TrainingWorker(threads=1)
    start(worker, tmp_path / "early.safetensors", synthetic_data, cache_dir=fresh_cache)
    # Reading a labelled file: "reading", then "checking rows" and "tokenizing" (which takes about a second).
    wait_for(lambda: latest(worker).stage.startswith(("reading", "checking", "tokenizing")), timeout=60)
    asked = time.monotonic()
    assert worker.stop()
    assert worker.join(timeout=10)
    assert time.monotonic() - asked < 2.0
    run = latest(worker)
    assert run.status == "stopped" and run.last("Finished")["path"] == ""
    assert "no checkpoint" in run.stage
    assert not list(tmp_path.iterdir())  # no checkpoint, no card: nothing untrained to select


def test_a_child_that_ignores_stop_before_training_is_terminated_within_two_seconds(tmp_path, monkeypatch,
                                                                                     synthetic_data):
    # sitecustomize runs first in every new interpreter: the child's data loading hangs, deaf to Stop.
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(textwrap.dedent("""
        import time
        import sentiment_core.data
        sentiment_core.data.load_corpus = lambda *args, **kwargs: time.sleep(600)
    """))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hooks), str(ROOT)]))
    worker = TrainingWorker(threads=1)
    start(worker, tmp_path / "hung.safetensors", synthetic_data)
    wait_for(lambda: latest(worker).stage.startswith("reading"), timeout=60)
    time.sleep(0.5)  # inside the hanging call
    asked = time.monotonic()
    assert worker.stop()
    assert worker.join(timeout=10)
    assert time.monotonic() - asked < 2.0 + 0.5  # the grace period, then SIGTERM
    run = latest(worker)
    assert run.status == "stopped" and "no checkpoint was saved" in run.stage
    assert not (tmp_path / "hung.safetensors").exists()


def test_stop_during_training_keeps_the_best_checkpoint(tmp_path, synthetic_data):
    worker = TrainingWorker(threads=1)
    start(worker, tmp_path / "long.safetensors", synthetic_data, epochs=30, max_train_samples=600)
    wait_for(lambda: len(latest(worker).of_kind("Step")) >= 3)
    assert worker.stop()
    assert worker.stop()  # a second press is harmless
    assert worker.join(timeout=120)
    run = latest(worker)
    assert run.status == "stopped" and run.last("Finished")["path"] == str(tmp_path / "long.safetensors")
    assert load_checkpoint(tmp_path / "long.safetensors").metrics["val"]["count"] == 100
    assert not worker.stop()


def test_a_killed_child_is_a_failed_run_and_its_last_checkpoint_survives(tmp_path, synthetic_data):
    worker = TrainingWorker(threads=1)
    start(worker, tmp_path / "doomed.safetensors", synthetic_data, epochs=30, max_train_samples=600)
    wait_for(lambda: latest(worker).of_kind("CheckpointSaved") and len(latest(worker).of_kind("Step")) > 25)
    os.kill(worker.pid, signal.SIGKILL)
    assert worker.join(timeout=30)
    run = latest(worker)
    assert run.status == "failed" and "killed by SIGKILL" in run.error
    assert f"best checkpoint so far is kept at {tmp_path / 'doomed.safetensors'}" in run.error
    assert run.last("Finished")["path"] == str(tmp_path / "doomed.safetensors")
    assert load_checkpoint(tmp_path / "doomed.safetensors").metrics["best_epoch"] >= 1
    assert (tmp_path / "doomed.md").is_file()
    start(worker, tmp_path / "after.safetensors", synthetic_data)  # the worker is free again
    assert worker.join(timeout=180) and latest(worker).status == "finished"


def test_a_failing_run_reports_its_error_and_start_works_again(tmp_path, monkeypatch, synthetic_data):
    worker = TrainingWorker(threads=1)
    monkeypatch.setenv("SENTIMENT_DATA", str(tmp_path / "no-such-archive.tar.gz"))
    start(worker, tmp_path / "failed.safetensors")
    assert worker.join(timeout=60)
    run = latest(worker)
    assert run.status == "failed" and "DataError" in run.error and "not found" in run.error
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match="in progress"):
        start(worker, tmp_path / "recovered.safetensors", synthetic_data)
        start(worker, tmp_path / "second.safetensors", synthetic_data)
    assert worker.join(timeout=180)
    assert [r.name for r in worker.runs()] == ["failed", "recovered"]


SCRIPT = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from tests.test_worker import start
from demo.services.worker import TrainingWorker
from demo.tabs.train_views import status_markdown
if __name__ == "__main__":
    worker = TrainingWorker(threads=1)
    start(worker, Path({out!r}), {data!r}, epochs=30, max_train_samples=600)
    while not worker.snapshot()[1].of_kind("Step"):
        time.sleep(0.05)
    print(worker.pid, flush=True)
    time.sleep(600)
"""


def test_a_child_dies_with_the_app_even_when_the_app_is_killed(tmp_path, synthetic_data):
    script = tmp_path / "app_like.py"
    script.write_text(SCRIPT.format(root=str(ROOT), out=str(tmp_path / "orphan.safetensors"), data=str(synthetic_data)))
    app = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(app.stdout.readline())
        assert not gone(child)
        app.kill()
        app.wait(10)
        deadline = time.monotonic() + 5
        while not gone(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gone(child), "the training child outlived the killed app"
    finally:
        app.kill()


# ---------------------------------------------------------------------------------------------
# The stop/start race, without real processes


class _FakeProcess:
    """Stands in for a child: holds the pipe open until the test ends the run."""

    def __init__(self, target, args, name) -> None:
        self.spec, send, self.stop = args
        self.conn = multiprocessing.connection.Connection(os.dup(send.fileno()))
        self.pid, self.exitcode, self.alive = 4242, 0, True

    def start(self) -> None:
        pass

    def is_alive(self) -> bool:
        return self.alive

    def join(self, timeout=None) -> None:
        pass

    def kill(self) -> None:
        self.alive = False

    terminate = kill

    def finish(self) -> None:
        self.alive = False  # before the pipe closes: the watcher checks right after it sees the end
        self.conn.send({"kind": "Finished", "status": "finished", "path": "", "val": {}, "test": {},
                        "elapsed_s": 0.0, "error": ""})
        self.conn.close()


class _HookLock:
    """A lock that runs ``hook`` once, just after it is released."""

    def __init__(self) -> None:
        self.lock, self.hook = threading.Lock(), None

    def __enter__(self):
        self.lock.acquire()

    def __exit__(self, *exc) -> None:
        self.lock.release()
        hook, self.hook = self.hook, None
        if hook:
            hook()


def test_a_stop_never_reaches_a_run_that_started_after_it(tmp_path, monkeypatch):
    processes: list[_FakeProcess] = []

    def fake_process(target, args, name):
        processes.append(_FakeProcess(target, args, name))
        return processes[-1]

    worker = TrainingWorker(threads=1)
    monkeypatch.setattr(worker._context, "Process", fake_process)
    worker._lock = _HookLock()
    first = start(worker, tmp_path / "first.safetensors")

    def first_ends_and_second_starts() -> None:
        processes[0].finish()
        wait_for(lambda: not first.running, timeout=10)
        start(worker, tmp_path / "second.safetensors")

    worker._lock.hook = first_ends_and_second_starts  # runs between stop()'s check and anything after it
    assert worker.stop()
    second = latest(worker)
    assert second.name == "second" and second.running and not second.stop_requested
    assert not processes[1].stop.is_set()
    processes[1].finish()
    assert worker.join(timeout=10)


def test_thread_budget_leaves_the_server_a_core():
    assert thread_budget(1) == (1, 1)
    assert thread_budget(2) == (1, 1)
    serve, train = thread_budget(8)
    assert serve >= 1 and serve + train == 8


def test_a_run_started_from_a_short_lived_thread_outlives_that_thread(tmp_path, synthetic_data):
    # The app starts runs from Gradio's request threads, which come and go; the run must not go with them.
    worker = TrainingWorker(threads=1)

    def press_start() -> None:  # like a request thread: it starts the run, lingers a little, and ends
        start(worker, tmp_path / "threaded.safetensors", synthetic_data, epochs=3)
        wait_for(lambda: latest(worker).of_kind("Step") or not latest(worker).running)

    starter = threading.Thread(target=press_start)
    starter.start()
    starter.join()
    assert worker.join(timeout=180)
    run = latest(worker)
    assert run.status == "finished", run.error
