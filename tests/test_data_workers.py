"""Tokenizer worker processes: they die with their parent, and a stop ends the work at once."""

import io
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from sentiment_core.config import TrainConfig
from sentiment_core.data import load_corpus, read_raw, tokenize_texts
from sentiment_core.data.workers import CHUNK

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [f"Review {i}: " + "a fine and long sentence, with words. " * 30 for i in range(40_000)]


class Stop(Exception):
    pass


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), None when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")  # a zombie has exited; only its entry is left


def _worker_pids(parent: int) -> list[int]:
    """The tokenizer workers (spawned multiprocessing children) of ``parent``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and int(stat[1]) == parent:
            try:
                if b"spawn_main" in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


CHILD = """
    import os, sys
    from sentiment_core import processes
    from sentiment_core.data import workers

    if os.environ.get("NO_PRCTL"):  # runs in the spawned workers too: they import this file as __mp_main__
        processes._set_parent_death_signal = lambda: False

    if __name__ == "__main__":
        texts = [f"Review {i}: " + "a fine and long sentence, with words. " * 30 for i in range(40_000)]
        workers.tokenize_texts(texts, lambda stage, done, total: print(done, flush=True), workers=2)
        print("finished", flush=True)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find the worker processes")
@pytest.mark.parametrize("mechanism", ["parent-death signal", "watch thread"])
def test_workers_die_when_their_parent_is_killed(tmp_path, mechanism):
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if mechanism == "watch thread":
        env["NO_PRCTL"] = "1"
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.strip()) for line in child.stdout], daemon=True).start()
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while True:  # wait until the workers have tokenized a chunk: the child is mid-way
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line != "finished", "the child finished before it could be killed"
            if int(line) > 0:
                break
        workers = _worker_pids(child.pid)
        assert len(workers) == 2
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if _alive(pid)], "tokenizer workers outlived their killed parent"
    finally:
        child.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_stop_while_workers_start_ends_at_once_and_cancels_the_rest():
    calls = []

    def progress(stage, done, total):
        calls.append(time.monotonic())
        if len(calls) > 1:
            raise Stop

    start = time.monotonic()
    with pytest.raises(Stop):
        tokenize_texts(TEXTS, progress, workers=2)
    # The hook is called while the workers start (seconds) and the pool is not waited for.
    assert time.monotonic() - start < 2
    # Queued chunks were cancelled: the workers end after at most one chunk each.
    deadline = time.monotonic() + 60
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not multiprocessing.active_children()


def test_stop_in_process_ends_after_one_chunk():
    calls = []

    def progress(stage, done, total):
        calls.append((stage, done, total))
        raise Stop

    with pytest.raises(Stop):
        tokenize_texts(TEXTS[: 3 * CHUNK], progress, workers=1)
    assert calls == [("tokenize", CHUNK, 3 * CHUNK)]


def test_reading_an_archive_reports_progress_every_thousand_members(tmp_path):
    archive = tmp_path / "small.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for split in ("train", "test"):
            for polarity in ("neg", "pos"):
                for i in range(625):
                    text = f"Review {i} of {split}/{polarity}.".encode()
                    info = tarfile.TarInfo(f"aclImdb/{split}/{polarity}/{i}_1.txt")
                    info.size = len(text)
                    tar.addfile(info, io.BytesIO(text))
    calls = []
    raw = read_raw(archive, progress=lambda *args: calls.append(args))
    assert len(raw["train"]) == len(raw["test"]) == 1250
    size = archive.stat().st_size
    assert [c[0] for c in calls] == ["read"] * 3 and calls[-1] == ("read", size, size)
    assert [c[1] for c in calls] == sorted(c[1] for c in calls)


def test_a_stop_while_reading_ends_load_corpus_within_two_seconds(imdb_archive, tmp_path):
    calls = []

    def progress(stage, done, total):
        calls.append((stage, time.monotonic()))
        if len(calls) > 1:
            raise Stop

    with pytest.raises(Stop):
        load_corpus(TrainConfig(data=str(imdb_archive), cache_dir=str(tmp_path)), progress)
    assert calls[0][0] == "read" and time.monotonic() - calls[0][1] < 2
