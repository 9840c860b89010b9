"""Atomic writes (write a temp file, then rename it over the target), and cache files read back.

A process killed between the two leaves its temp file behind; the next write of the same target
removes such leftovers, so a checkpoint or token cache written again and again never fills a disk.
The caches (tokens, word vectors, error tables) write with ``atomic_file`` and read with
``read_or_discard``: a damaged cache file is deleted and computed again, never an error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

STALE_SECONDS = 60  # a younger temp file may belong to a write in progress


def remove_stale(folder: Path, prefix: str, suffix: str = ".tmp", age: float = STALE_SECONDS) -> int:
    """Delete files in ``folder`` named ``prefix*suffix`` older than ``age`` seconds; how many were removed."""
    now, removed = time.time(), 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if entry.name.startswith(prefix) and entry.name.endswith(suffix):
            try:
                if entry.is_file(follow_symlinks=False) and now - entry.stat().st_mtime > age:
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                pass  # gone already, or not ours to delete
    return removed


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb", *, hidden: bool = False, durable: bool = False,
                **open_args: Any) -> Iterator[IO]:
    """A file to write ``path``'s new content into: a temp file beside it, renamed over ``path`` when
    the block ends, deleted if it raises (the exception propagates; the old file is intact).

    ``hidden``: the temp file's name starts with a dot, so a folder listing (the app's model list)
    never shows a half-written file. ``durable``: its bytes reach the disk before the rename, and
    the file gets the permissions of an ordinary new file (mkstemp makes it 0600).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}." if hidden else f"{path.name}."
    remove_stale(path.parent, prefix)  # left by a write that was killed
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_args) as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        if durable:
            os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_or_discard(path: Path, read: Callable[[Path], T], errors: tuple[type[Exception], ...], what: str,
                    then: str) -> T | None:
    """``read(path)``; None when there is no file. A file ``read`` fails on with one of ``errors`` is
    logged (``"<what> <path> is unusable: <why>; <then>"``), deleted, and None."""
    try:
        return read(path)
    except FileNotFoundError:
        return None
    except errors as exc:
        log.warning("%s %s is unusable: %s; %s", what, path, exc, then)
        with contextlib.suppress(OSError):
            path.unlink()
        return None
