"""Tokenizing many reviews, in several worker processes when there are many."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from ..tokenizer import tokenize_many
from .source import Progress, _no_progress

log = logging.getLogger(__name__)


def _tokenize_chunk(texts: list[str]) -> list[list[str]]:
    return list(tokenize_many(texts))


def tokenize_texts(texts: Sequence[str], progress: Progress = _no_progress, workers: int = 0) -> list[list[str]]:
    """Tokenize many reviews, in several processes when there are many."""
    workers = workers or min(os.cpu_count() or 1, 4)
    chunk = 500
    chunks = [list(texts[i : i + chunk]) for i in range(0, len(texts), chunk)]
    out: list[list[str]] = []
    if workers <= 1 or len(chunks) <= 2:
        for piece in chunks:
            out.extend(_tokenize_chunk(piece))
            progress("tokenize", len(out), len(texts))
        return out
    # "spawn": forking a process that holds torch threads or a web server can deadlock.
    try:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for tokens in pool.map(_tokenize_chunk, chunks):
                out.extend(tokens)
                progress("tokenize", len(out), len(texts))
        return out
    except BrokenProcessPool:
        # Spawned workers re-import __main__, which fails for code run from stdin or some shells.
        log.warning("tokenizer worker processes failed to start; tokenizing in this process")
        return tokenize_texts(texts, progress, workers=1)
