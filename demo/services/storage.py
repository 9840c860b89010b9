"""Where the app keeps runs and caches: a Space's persistent storage (``/data``) when there is one.

On Hugging Face Spaces only ``/data`` (persistent storage, when the Space has it) survives a restart.
Without a ``--runs-dir``, runs go to ``<persistent>/runs`` and the data and token caches to
``<persistent>/cache`` whenever that folder exists and is writable; else to ``runs/`` beside the app.
``$SENTIMENT_PERSISTENT_DIR`` names another persistent folder (tests point it at a temporary one).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sentiment_core import markdown as md

PERSISTENT_ENV = "SENTIMENT_PERSISTENT_DIR"
SPACE_PERSISTENT = "/data"
ROOT = Path(__file__).resolve().parent.parent.parent


def persistent_root() -> Path | None:
    """The persistent folder (``$SENTIMENT_PERSISTENT_DIR``, else ``/data``) if it exists and takes files."""
    root = Path(os.environ.get(PERSISTENT_ENV) or SPACE_PERSISTENT)
    if not root.is_dir():
        return None
    try:
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError:
        return None
    return root


def default_runs_dir() -> Path:
    """Where runs are saved when no folder is given: persistent storage's ``runs/``, else ``runs/`` here."""
    root = persistent_root()
    return root / "runs" if root else ROOT / "runs"


def default_cache_dir() -> Path | None:
    """The data and token cache on persistent storage; None: the library's default (``~/.cache``)."""
    root = persistent_root()
    return root / "cache" if root else None


def is_persistent(path: str | os.PathLike) -> bool:
    """Whether ``path`` lies on the persistent storage."""
    root = persistent_root()
    if root is None:
        return False
    real, base = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([real, base]) == base


def storage_note(runs_dir: str | os.PathLike) -> str:
    """One line for the Train tab: where runs are kept and whether they survive a restart."""
    where = md.code(str(runs_dir))
    if is_persistent(runs_dir):
        return f"Runs are kept in {where}, on persistent storage: they survive a restart of this server."
    if os.environ.get("SPACE_ID"):
        return (f"Runs are kept in {where}, on this Space's disk, which is wiped when the Space restarts: "
                "download the runs you want to keep (or give the Space persistent storage).")
    return f"Runs are kept in {where} on this machine's disk; they stay until you delete them."
