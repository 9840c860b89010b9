"""Temporary files of atomic writes (write a temp file, then rename it over the target).

A process killed between the two leaves its temp file behind; the next write of the same target
removes such leftovers, so a checkpoint or token cache written again and again never fills a disk.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

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
