"""Tokenizing many reviews, in worker processes that stop when told and die with their parent.

The 50,000 labeled and 50,000 unlabeled reviews take a few minutes on one core, so a full run
tokenizes them in a pool of spawned processes (about 300 MB each). Two guarantees:

- a ``progress`` hook that raises (Stop in the app, Ctrl-C in the CLI) ends the pool at once:
  queued chunks are cancelled, the running ones are not waited for;
- the workers die with the process that started them, even when it is killed with SIGKILL
  (``sentiment_core.processes.die_with_parent``).
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from ..processes import die_with_parent
from ..tokenizer import tokenize_many
from .source import Progress, no_progress
from .tokens import TokenLists, TokenListsBuilder

log = logging.getLogger(__name__)

CHUNK = 500  # reviews per task: about 0.2 s of work, so progress (and a stop) is never far away
POLL_S = 0.25  # how often the hook is called while waiting for workers (start-up takes seconds)
IN_FLIGHT = 4  # chunks queued per worker: enough to keep it busy, few enough to bound memory


def _tokenize_chunk(texts: list[str]) -> list[list[str]]:
    return list(tokenize_many(texts))


def tokenize_texts(texts: Sequence[str], progress: Progress = no_progress, workers: int = 0) -> TokenLists:
    """Tokenize many reviews, in several processes when there are many.

    ``progress("tokenize", done, total)`` is called after every chunk and while waiting for
    workers; an exception it raises stops the work and propagates.
    """
    return tokenize_stream(texts, len(texts), progress, workers)


def tokenize_stream(texts: Iterable[str], total: int, progress: Progress = no_progress,
                    workers: int = 0) -> TokenLists:
    """``tokenize_texts`` over a stream of ``total`` texts that is read as it is tokenized: only the
    chunks in flight are held as strings, the tokens go straight into a compact ``TokenLists``."""
    workers = workers or min(os.cpu_count() or 1, 4)
    chunks = _chunks(texts)
    out = TokenListsBuilder()
    if workers > 1 and total > 2 * CHUNK:
        try:
            _in_workers(chunks, workers, progress, total, out)
            return out.build()
        except _Broken as broken:
            # Spawned workers re-import __main__, which fails for code run from stdin or some shells.
            log.warning("tokenizer worker processes failed to start; tokenizing in this process")
            chunks = itertools.chain(broken.pending, chunks)
    for piece in chunks:
        out.extend(_tokenize_chunk(piece))
        progress("tokenize", len(out), total)
    return out.build()


def _chunks(texts: Iterable[str]) -> Iterator[list[str]]:
    iterator = iter(texts)
    while piece := list(itertools.islice(iterator, CHUNK)):
        yield piece


class _Broken(Exception):
    """The pool broke; ``pending`` holds the chunks it had not returned, in order."""

    def __init__(self, pending: list[list[str]]):
        super().__init__("tokenizer pool broke")
        self.pending = pending


def _in_workers(chunks: Iterator[list[str]], workers: int, progress: Progress, total: int,
                out: TokenListsBuilder) -> None:
    # "spawn": forking a process that holds torch threads or a web server can deadlock.
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=die_with_parent,
                               initargs=(os.getpid(),))
    queue: collections.deque = collections.deque()  # (future, chunk), oldest first
    try:
        for piece in itertools.chain(chunks, [None]):
            if piece is not None:
                queue.append((pool.submit(_tokenize_chunk, piece), piece))
            # Collect finished chunks in order; wait only when the queue is full or the input ended.
            while queue and (len(queue) >= workers * IN_FLIGHT or piece is None or queue[0][0].done()):
                future = queue[0][0]
                while True:
                    try:
                        out.extend(future.result(timeout=POLL_S))
                        break
                    except concurrent.futures.TimeoutError:
                        progress("tokenize", len(out), total)
                queue.popleft()
                progress("tokenize", len(out), total)
    except BrokenProcessPool:
        pool.shutdown(wait=False, cancel_futures=True)
        raise _Broken([chunk for _, chunk in queue]) from None
    except BaseException:
        # Stopped (or failed): drop the queued chunks and don't wait for the running ones.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
