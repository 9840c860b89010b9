"""Tokenizing many reviews, in worker processes that stop when told and die with their parent.

The 50,000 labeled and 50,000 unlabeled reviews take a few minutes on one core, so a full run
tokenizes them in a pool of spawned processes (about 300 MB each). Two guarantees:

- a ``progress`` hook that raises (Stop in the app, Ctrl-C in the CLI) ends the pool at once:
  queued chunks are cancelled, the running ones are not waited for;
- the workers die with the process that started them, even when it is killed with SIGKILL
  (``sentiment_core.processes.die_with_parent``).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from ..processes import die_with_parent
from ..tokenizer import tokenize_many
from .source import Progress, _no_progress

log = logging.getLogger(__name__)

CHUNK = 500  # reviews per task: about 0.2 s of work, so progress (and a stop) is never far away
POLL_S = 0.25  # how often the hook is called while waiting for workers (start-up takes seconds)


def _tokenize_chunk(texts: list[str]) -> list[list[str]]:
    return list(tokenize_many(texts))


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
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=die_with_parent,
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
