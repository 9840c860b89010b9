"""Disk the app may fill, and what it removes to stay within it (no Gradio here).

    quota.enforce(runs_dir, 2 * 10**9, keep=[running])  # oldest unpinned runs go first
    quota.pin(runs_dir / "mine.safetensors")             # a pinned run is never removed
    quota.bound_caches(cache_dir)                        # token, vector, error and behaviour caches
    quota.clean_start(runs_dir)                          # what a killed earlier instance left
    with quota.disk_errors("the predictions"):           # ENOSPC -> a clear UserInputError
        ...

A run is its checkpoint in the runs folder and the files beside it with the same stem (card,
state, pin). Shipped models live in another folder and are never counted or removed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from sentiment_core.tempfiles import STALE_SECONDS

from .user_input import UserInputError

log = logging.getLogger(__name__)

DEFAULT_RUNS_QUOTA = 2 * 10**9  # bytes: the runs folder (checkpoints, cards, data copies)
# Each cache folder's bound, in bytes; the oldest entries go first. The IMDB archive beside them is never
# touched. A token cache of the IMDB reviews takes about 130 MB.
CACHE_LIMITS = {"tokens": 10**9, "vectors": 256 * 10**6, "errors": 64 * 10**6, "behaviour": 64 * 10**6}
BATCH_PREFIX = "sentiment-batch-"  # + the server's pid + "-": a batch folder in the temp folder
BATCH_STALE_S = 3600  # an older batch folder whose server is unknown is removed at start-up
PIN_SUFFIX = ".pinned"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)


class DiskFullError(UserInputError):
    """The disk (or the user's disk quota) is full."""


def parse_size(text: str | int) -> int:
    """``2GB``, ``500 MB``, ``1.5GiB``, ``0`` (no quota), or a number of bytes, as bytes."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a size such as 2GB or 500MB")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    return int(float(number) * base ** "bkmgt".index(unit.lower() or "b"))


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def disk_full_message(what: str) -> str:
    return (f"The server's disk is full: {what} could not be saved, and nothing was left half-written. "
            "Try again later, or remove runs you no longer need.")


@contextlib.contextmanager
def disk_errors(what: str, partial: Path | None = None) -> Iterator[None]:
    """Turn a full disk inside the block into a ``DiskFullError`` naming ``what``, removing ``partial``
    (a file or folder the block was writing) first; other errors pass through."""
    try:
        yield
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        if partial is not None:
            remove(partial)
        log.warning("disk full while saving %s: %s", what, exc)
        raise DiskFullError(disk_full_message(what)) from None


def remove(path: Path) -> None:
    """Delete a file or a folder, whichever it is; gone already is fine."""
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (links not followed)."""
    try:
        if not path.is_dir() or path.is_symlink():
            return path.lstat().st_size
        return sum(f.lstat().st_size for f in path.rglob("*") if not f.is_dir() or f.is_symlink())
    except OSError:
        return 0


def _newest(path: Path) -> float:
    try:
        if not path.is_dir():
            return path.lstat().st_mtime
        return max([path.lstat().st_mtime, *(f.lstat().st_mtime for f in path.rglob("*"))])
    except OSError:
        return 0.0


def pin(checkpoint: Path) -> None:
    """Keep the run of ``checkpoint`` whatever the quota."""
    checkpoint.with_suffix(PIN_SUFFIX).touch()


def is_pinned(checkpoint: Path) -> bool:
    return checkpoint.with_suffix(PIN_SUFFIX).exists()


def run_files(checkpoint: Path) -> list[Path]:
    """A run's files: its checkpoint and what sits beside it under the same stem (card, state, pin)."""
    return [p for p in checkpoint.parent.glob(f"{glob_escape(checkpoint.stem)}.*")
            if p == checkpoint or p.name[len(checkpoint.stem):] in (".md", ".run.json", PIN_SUFFIX)]


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def enforce(runs_dir: Path, quota: int, keep: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Remove the oldest unpinned runs until the runs folder holds at most ``quota`` bytes (0: no quota);
    ``keep``: checkpoints never removed (the run going). The checkpoints removed, oldest first."""
    if quota <= 0 or not runs_dir.is_dir():
        return []
    used = size(runs_dir)
    keep = {Path(k).resolve() for k in keep}
    removed = []
    runs = sorted(runs_dir.glob("*.safetensors"), key=_newest)
    for checkpoint in runs:
        if used <= quota:
            break
        if checkpoint.resolve() in keep or is_pinned(checkpoint):
            continue
        files = run_files(checkpoint)
        used -= sum(size(f) for f in files)
        for f in files:
            remove(f)
        removed.append(checkpoint)
        log.info("runs folder over its quota of %s bytes: removed the run %s", f"{quota:,}", checkpoint.name)
    if used > quota:
        log.warning("the runs folder holds %s bytes, over its quota of %s: only pinned or running runs are left",
                    f"{used:,}", f"{quota:,}")
    return removed


def bound_cache(folder: Path, limit: int) -> list[Path]:
    """Remove the least recently written entries of ``folder`` until it holds at most ``limit`` bytes."""
    try:
        entries = sorted(folder.iterdir(), key=_newest)
    except OSError:
        return []
    sizes = {e: size(e) for e in entries}
    used, removed = sum(sizes.values()), []
    for entry in entries:
        if used <= limit:
            break
        remove(entry)
        used -= sizes[entry]
        removed.append(entry)
    return removed


def bound_caches(cache_dir: Path, limits: dict[str, int] | None = None) -> list[Path]:
    """``bound_cache`` on each cache folder of ``cache_dir`` (``CACHE_LIMITS``)."""
    return [p for name, limit in (limits or CACHE_LIMITS).items() for p in bound_cache(cache_dir / name, limit)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def stale_batch_folders(temp_dir: Path | None = None, now: float | None = None) -> list[Path]:
    """Batch folders of servers that are gone (their pid is in the name), or old ones of unknown servers."""
    now = now or time.time()
    stale = []
    for folder in Path(temp_dir or tempfile.gettempdir()).glob(f"{BATCH_PREFIX}*"):
        pid = folder.name[len(BATCH_PREFIX):].split("-")[0]
        if pid.isdigit():
            if int(pid) != os.getpid() and not _alive(int(pid)):
                stale.append(folder)
        elif now - _newest(folder) > BATCH_STALE_S:
            stale.append(folder)
    return stale


def clean_start(runs_dir: Path, temp_dir: Path | None = None) -> list[Path]:
    """Remove what earlier instances left: their batch folders (visitors' prediction CSVs) and the temp files
    of writes killed halfway in the runs folder and its ``data/``. What was removed."""
    removed = stale_batch_folders(temp_dir)
    for folder in (runs_dir, runs_dir / "data"):
        with contextlib.suppress(OSError):
            removed += [p for p in folder.iterdir() if p.name.endswith(".tmp") and p.is_file()
                        and time.time() - p.stat().st_mtime > STALE_SECONDS]
    for path in removed:
        remove(path)
    if removed:
        log.info("removed %d files and folders left by earlier instances", len(removed))
    return removed
