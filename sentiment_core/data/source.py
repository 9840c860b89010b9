"""Where the IMDB reviews come from: the official archive (downloaded once, checksum-verified),
an unpacked ``aclImdb/`` folder, and a ``Source`` that reads one run's raw texts.

A ``Source`` lives for one run: it computes the data's content key once (the token
cache is keyed on it) and reads each split's raw texts at most once, in one pass over the
archive. Nothing is kept at module level, so a long-lived app holds no text between runs.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tarfile
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import default_cache_dir
from ..tempfiles import atomic_file

log = logging.getLogger(__name__)

IMDB_URL = "http://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SIZE = 84_125_825
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
LABELS = ("negative", "positive")
SPLITS = ("train", "test")

# progress(stage, done, total): a hook for progress bars in the CLI and status lines in the app.
# Stages: "download" and "read" count bytes of the archive, "tokenize" counts reviews. The hook is
# called at least every ~0.25 s of work, so a hook that raises stops a run within a second.
Progress = Callable[[str, int, int], None]

# Members of the archive (or files of a folder) read between two calls of the progress hook.
_READ_PROGRESS_EVERY = 1000


def no_progress(stage: str, done: int, total: int) -> None:
    """The ``Progress`` of a caller that wants no reports."""


class DataError(RuntimeError):
    """The IMDB data could not be found, downloaded, read or cached."""


@dataclass
class Reviews:
    """One split's reviews: parallel lists of ids ("pos/123_9"), labels (class indices: 0/1 for
    negative/positive) and raw texts or tokens (a ``TokenLists`` once tokenized)."""

    ids: list[str]
    labels: list[int]
    items: Sequence  # raw texts, or token lists

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, indices: Sequence[int]) -> Reviews:
        take = getattr(self.items, "take", None)
        items = take(indices) if take else [self.items[i] for i in indices]
        return Reviews([self.ids[i] for i in indices], [self.labels[i] for i in indices], items)


# ---------------------------------------------------------------------------------------------
# Finding and downloading the data


def download_imdb(
    cache_dir: str | os.PathLike,
    url: str = IMDB_URL,
    sha256: str = IMDB_SHA256,
    progress: Progress = no_progress,
) -> Path:
    """Download the official archive into ``cache_dir`` once, verifying its checksum."""
    target = Path(cache_dir) / "aclImdb_v1.tar.gz"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s", url)
    digest = hashlib.sha256()
    try:
        with atomic_file(target, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or IMDB_SIZE)
            done = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                progress("download", done, total)
            if digest.hexdigest() != sha256:
                raise DataError(
                    f"checksum mismatch for {url}: got sha256 {digest.hexdigest()}, expected {sha256}; "
                    "the download is corrupt or not the IMDB archive, and was discarded"
                )
    except OSError as exc:
        raise DataError(f"could not download {url}: {exc}") from exc
    return target


def resolve_source(data: str = "", cache_dir: str = "", progress: Progress = no_progress) -> Path:
    """The archive or ``aclImdb/`` folder to read, downloading it if asked or needed."""
    spec = data or os.environ.get("SENTIMENT_DATA", "")
    cache = Path(cache_dir or default_cache_dir())
    if spec in ("", "download"):
        cached = cache / "aclImdb_v1.tar.gz"
        if spec == "" and not cached.exists():
            log.info("no data given and none cached: downloading the official archive")
        return download_imdb(cache, progress=progress)
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(f"IMDB data not found at {path} (expected aclImdb_v1.tar.gz or an aclImdb/ folder)")
    if path.is_dir():
        for candidate in (path, path / "aclImdb"):
            if (candidate / "train").is_dir() and (candidate / "test").is_dir():
                return candidate
        raise DataError(f"{path} is a folder without train/ and test/: not an unpacked aclImdb/ folder")
    if not tarfile.is_tarfile(path):
        raise DataError(f"{path} is not a tar archive (expected aclImdb_v1.tar.gz)")
    return path


# ---------------------------------------------------------------------------------------------
# Reading the raw texts


# Folders of each split inside aclImdb/; "unsup" holds the 50,000 unlabeled reviews (label -1).
_FOLDERS = {"train": ("train/neg", "train/pos"), "test": ("test/neg", "test/pos"), "unsup": ("train/unsup",)}


def _parse_member(name: str) -> tuple[str, str, int] | None:
    """('train', 'pos/123_9', 1) for a review path, ('unsup', 'unsup/7_0', -1) for an unlabeled one."""
    parts = name.replace("\\", "/").split("/")
    if len(parts) < 3 or not parts[-1].endswith(".txt"):
        return None
    folder = f"{parts[-3]}/{parts[-2]}"
    for split, folders in _FOLDERS.items():
        if folder in folders:
            label = {"pos": 1, "neg": 0}.get(parts[-2], -1)
            return split, f"{parts[-2]}/{parts[-1][:-4]}", label
    return None


def read_raw(source: Path, splits: Sequence[str] = SPLITS, progress: Progress = no_progress) -> dict[str, Reviews]:
    """Raw review texts of ``splits``, sorted by id so every read gives the same order.

    One pass over the archive or folder; ``progress("read", bytes, total bytes)`` is called every
    1,000 members. Nothing is remembered: a run that reads twice should hold a ``Source``.
    """
    rows: dict[str, list[tuple[str, int, str]]] = {s: [] for s in splits}

    def add(name: str, read: Callable[[], bytes]) -> None:
        parsed = _parse_member(name)
        if parsed and parsed[0] in rows:
            rows[parsed[0]].append((parsed[1], parsed[2], read().decode("utf-8", errors="replace")))

    try:
        if source.is_dir():
            paths = [path for split in splits for folder in _FOLDERS[split] for path in (source / folder).glob("*.txt")]
            sizes = [path.stat().st_size for path in paths]
            total, done = sum(sizes), 0
            for n, (path, size) in enumerate(zip(paths, sizes), 1):
                add(f"{path.parent.parent.name}/{path.parent.name}/{path.name}", path.read_bytes)
                done += size
                if n % _READ_PROGRESS_EVERY == 0:
                    progress("read", done, total)
        else:
            with open(source, "rb") as raw, tarfile.open(fileobj=raw, mode="r:*") as archive:
                total = os.fstat(raw.fileno()).st_size
                for n, member in enumerate(archive, 1):
                    if member.isfile():
                        add(member.name, lambda m=member: archive.extractfile(m).read())
                    if n % _READ_PROGRESS_EVERY == 0:
                        progress("read", min(raw.tell(), total), total)
        progress("read", total, total)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise DataError(f"could not read IMDB data from {source}: {exc}") from exc
    out = {}
    for split, items in rows.items():
        if not items:
            raise DataError(f"{source} holds no {split} reviews (expected {' and '.join(_FOLDERS[split])})")
        items.sort(key=lambda r: r[0])
        out[split] = Reviews([r[0] for r in items], [r[1] for r in items], [r[2] for r in items])
    return out


def imdb_content_key(path: Path) -> str:
    """Content key of the data: the archive's sha256, or the folder's file names, sizes and times."""
    digest = hashlib.sha256()
    try:
        if path.is_dir():
            for file in sorted(path.glob("*/*/*.txt")):
                stat = file.stat()
                digest.update(f"{file.relative_to(path)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
        else:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 22):
                    digest.update(chunk)
    except OSError as exc:
        raise DataError(f"could not read IMDB data from {path}: {exc}") from exc
    return digest.hexdigest()


class Source:
    """The IMDB data of one run: its path, its content key (computed once), its raw texts (read once).

    Drop the object when the run has its tokens: the raw texts (about 140 MB for all three
    splits) go with it.
    """

    def __init__(self, path: Path, progress: Progress = no_progress):
        self.path = Path(path)
        self.progress = progress
        self._raw: dict[str, Reviews] = {}

    def __repr__(self) -> str:
        return f"Source({str(self.path)!r})"

    @functools.cached_property
    def content_key(self) -> str:
        """``imdb_content_key`` of the data, computed once."""
        return imdb_content_key(self.path)

    def read(self, splits: Sequence[str]) -> dict[str, Reviews]:
        """Raw texts of ``splits``; the ones not read yet are read together, in one pass."""
        missing = [s for s in splits if s not in self._raw]
        if missing:
            self._raw.update(read_raw(self.path, missing, self.progress))
        return {s: self._raw[s] for s in splits}


def as_source(source: Path | Source) -> Source:
    """A ``Source`` for a path (public functions take either)."""
    return source if isinstance(source, Source) else Source(Path(source))
