"""Which IMDB data a training run started in the app reads, checked and said before anyone presses Start.

The app's one data setting (``python app.py --data``, else ``$SENTIMENT_DATA``) is an
``aclImdb_v1.tar.gz`` archive, an unpacked ``aclImdb/`` folder, or ``download``: the official
archive, fetched once into the cache folder. The Train tab shows which, and says when the first
run will download it and how to avoid that offline.
"""

from __future__ import annotations

import os
from pathlib import Path

from sentiment_core import markdown as md
from sentiment_core.config import default_cache_dir
from sentiment_core.data.source import IMDB_SIZE, DataError, resolve_source

DOWNLOAD = "download"
HOW_TO_SET = ("start the app with `--data path/to/aclImdb_v1.tar.gz` (or an unpacked `aclImdb/` folder; "
              "`$SENTIMENT_DATA` works too)")


def setting(data: str | None = None) -> str:
    """The data setting a run uses: ``data`` if given, else ``$SENTIMENT_DATA``, else ``download``."""
    if data is None:
        data = os.environ.get("SENTIMENT_DATA", "")
    return data.strip() or DOWNLOAD


def cached_archive() -> Path:
    """Where ``download`` keeps the official archive (``sentiment_core.data.source.download_imdb``)."""
    return Path(default_cache_dir()) / "aclImdb_v1.tar.gz"


def problem(data: str) -> str | None:
    """Why a run could not read ``data`` (a missing path, a folder without train/ and test/, a file
    that is no archive), or None. ``download`` is checked only when a run tries it."""
    if data == DOWNLOAD:
        return None
    try:
        resolve_source(data)
    except DataError as exc:
        return str(exc)
    return None


def _shown(path: Path) -> str:
    """A path with the home folder as ~, which says enough and keeps the user name off a public page."""
    home = Path.home()
    try:
        return "~/" + str(path.expanduser().resolve().relative_to(home))
    except ValueError:
        return str(path)


def describe(data: str) -> str:
    """One Markdown paragraph for the Train tab: the data a run will read, and what reading it costs."""
    if data == DOWNLOAD:
        archive = cached_archive()
        if archive.is_file():
            return f"**Data**: the IMDB archive downloaded earlier, {md.code(_shown(archive))}."
        return (f"**Data**: the official IMDB archive. The first run downloads it ({IMDB_SIZE / 1e6:.0f} MB, once) "
                f"from ai.stanford.edu into {md.code(_shown(archive.parent))}; later runs reuse it. Offline, or "
                f"have your own copy? {HOW_TO_SET[0].upper()}{HOW_TO_SET[1:]}.")
    trouble = problem(data)
    if trouble:
        return f"**Data**: {md.text(trouble)}. Start is refused until you {HOW_TO_SET}."
    kind = "folder" if Path(data).expanduser().is_dir() else "archive"
    return f"**Data**: the IMDB {kind} {md.code(_shown(Path(data)))}, read from disk (no download)."


def failure_hint(error: str) -> str | None:
    """What to do after a run failed for want of data, or None for other failures."""
    if not error.startswith("DataError"):
        return None
    return f"The run could not read the IMDB data. To train offline or from your own copy, {HOW_TO_SET}."
