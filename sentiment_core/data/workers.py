"""Tokenizing many reviews, in worker processes that stop when told and die with their parent.

The 50,000 labeled and 50,000 unlabeled reviews take a few minutes on one core, so a full run
tokenizes them in a pool of spawned processes (about 300 MB each). Two guarantees:

- a ``progress`` hook that raises (Stop in the app, Ctrl-C in the CLI) ends the pool at once:
  queued chunks are cancelled, the running ones are not waited for;
- the workers die with the process that started them, even when it is killed with SIGKILL:
  on Linux the kernel sends them SIGKILL (``prctl(PR_SET_PDEATHSIG)``), elsewhere a thread in
  each worker exits it once its parent is gone.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from ..tokenizer import tokenize_many
from .source import Progress, _no_progress

log = logging.getLogger(__name__)

CHUNK = 500  # reviews per task: about 0.2 s of work, so progress (and a stop) is never far away
POLL_S = 0.25  # how often the hook is called while waiting for workers (start-up takes seconds)
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _tokenize_chunk(texts: list[str]) -> list[list[str]]:
    return list(tokenize_many(texts))


def _set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where that isn't available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int, interval: float = 0.5, end: Callable[[int], object] = os._exit) -> None:
    """Exit once the parent is gone (an orphan is re-parented, so its parent pid changes)."""
    while os.getppid() == parent:
        time.sleep(interval)
    end(1)


def _die_with_parent(parent: int) -> None:
    """Pool initializer: make this worker end when ``parent`` dies, however it dies."""
    if _set_parent_death_signal():
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)
        return
    threading.Thread(target=_watch_parent, args=(parent,), name="watch-parent", daemon=True).start()


def tokenize_texts(texts: Sequence[str], progress: Progress = _no_progress, workers: int = 0) -> list[list[str]]:
    """Tokenize many reviews, in several processes when there are many.

    ``progress("tokenize", done, total)`` is called after every chunk and while waiting for
    workers; an exception it raises stops the work and propagates.
    """
    workers = workers or min(os.cpu_count() or 1, 4)
    chunks = [list(texts[i : i + CHUNK]) for i in range(0, len(texts), CHUNK)]
    if workers > 1 and len(chunks) > 2:
        try:
            return _in_workers(chunks, workers, progress, len(texts))
        except BrokenProcessPool:
            # Spawned workers re-import __main__, which fails for code run from stdin or some shells.
            log.warning("tokenizer worker processes failed to start; tokenizing in this process")
    out: list[list[str]] = []
    for piece in chunks:
        out.extend(_tokenize_chunk(piece))
        progress("tokenize", len(out), len(texts))
    return out


def _in_workers(chunks: list[list[str]], workers: int, progress: Progress, total: int) -> list[list[str]]:
    # "spawn": forking a process that holds torch threads or a web server can deadlock.
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_die_with_parent,
                               initargs=(os.getpid(),))
    out: list[list[str]] = []
    try:
        futures = [pool.submit(_tokenize_chunk, piece) for piece in chunks]
        for future in futures:
            while True:
                try:
                    out.extend(future.result(timeout=POLL_S))
                    break
                except concurrent.futures.TimeoutError:
                    progress("tokenize", len(out), total)
            progress("tokenize", len(out), total)
    except BaseException:
        # Stopped (or failed): drop the queued chunks and don't wait for the running ones.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return out
