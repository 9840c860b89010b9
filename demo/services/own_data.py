"""The Train tab's data source: IMDB polarity, IMDB star ratings, or your own labelled file.

A file comes as an upload (.csv, .tsv, .jsonl, .json, .parquet), or, on a server started with
``--train-data-dir``, as the name of a file in that folder. Both are treated as hostile: an
upload is read only if the server received it (``uploads.uploaded_file``), a name
only if it resolves inside the folder; the file is checked row by row (``inspect_table``)
before a run starts, and copied into the runs folder under its content hash, so the run and
the checkpoint that records it never depend on Gradio's temporary files. A file is at most
``MAX_UPLOAD_BYTES``, checked once per version of it (path, size, mtime) and column choice, and
copied while it is hashed; copies that no checkpoint of the runs folder records are pruned
(``prune_copies``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sentiment_core import CheckpointError
from sentiment_core import markdown as md
from sentiment_core.checkpoint import read_metadata
from sentiment_core.config import MAX_COLUMN_NAME
from sentiment_core.data import DataError, LabelledTable
from sentiment_core.data.table import FORMATS
from sentiment_core.tempfiles import atomic_file

from .data_check import CHECKER
from .quota import disk_full_message, is_disk_full
from .uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_MB, Received, uploaded_file
from .user_input import UserInputError

SOURCES = (("IMDB: negative / positive", "imdb"), ("IMDB: star ratings in 4 classes (1-2, 3-4, 7-8, 9-10)", "ratings"),
           ("Your own labelled file", "file"))
SOURCE_OF_PRESET = {"ratings": "ratings"}  # a preset that implies its data; the others leave the choice alone
FILE_TYPES = sorted(FORMATS)
SHOWN_CLASSES = 12
CHECKED_FILES = 16  # checked files remembered (a preview per column edit, then Start, read each once)
# A copy made or reused this recently may be about to be read by a run that is starting: never pruned.
COPY_GRACE_S = 600.0
COPY_BLOCK = 1 << 20

log = logging.getLogger(__name__)
_checked: OrderedDict[tuple, LabelledTable] = OrderedDict()
_checked_lock = threading.Lock()


class DataSourceError(UserInputError):
    """A data source the Train tab cannot use; the message is for the page."""


def _own_path(upload: str | None, name: str | None, data_dir: Path | None, allowed_root: str | os.PathLike | None,
              received: Received | None) -> Path:
    """The file an upload (inside ``allowed_root``, vouched for by ``received``) or a name in ``data_dir``
    points at; anything else is refused."""
    if upload:
        try:
            return _capped(uploaded_file(upload, allowed_root, received), Path(upload).name)
        except UserInputError as exc:
            raise DataSourceError(str(exc)) from None
    if name and name.strip():
        if "\0" in name:
            raise DataSourceError("A file name cannot hold a NUL character.")
        if data_dir is None:
            raise DataSourceError("This server reads no files by name: upload the file.")
        root = os.path.realpath(data_dir)
        real = os.path.realpath(os.path.join(root, name.strip()))
        if os.path.commonpath([root, real]) != root or not os.path.isfile(real):
            raise DataSourceError(f"No file {name.strip()!r} in this server's training data folder.")
        return _capped(Path(real), name.strip())
    raise DataSourceError("Upload a labelled file (.csv, .tsv, .jsonl or .parquet), or pick an IMDB source.")


def _capped(path: Path, shown: str) -> Path:
    """``path`` if it is at most ``MAX_UPLOAD_BYTES``; else a ``DataSourceError`` naming it as ``shown``."""
    size = path.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise DataSourceError(f"{shown} is {size / 2**20:,.1f} MB; the limit is {MAX_UPLOAD_MB} MB per training file.")
    return path


def _inspect(path: Path, text: str, label: str) -> LabelledTable:
    """``inspect_table``, once per version of the file (path, size, mtime) and choice of columns."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, text, label)
    with _checked_lock:
        if key in _checked:
            _checked.move_to_end(key)
            return _checked[key]
    table = CHECKER.check(path, text, label)  # in a child process, bounded (data_check.py)
    with _checked_lock:
        _checked[key] = table
        while len(_checked) > CHECKED_FILES:
            _checked.popitem(last=False)
    return table


def _columns(text_column: str | None, label_column: str | None) -> tuple[str, str]:
    names = ((text_column or "").strip(), (label_column or "").strip())
    for name in names:
        if len(name) > MAX_COLUMN_NAME or not name.isprintable():
            raise DataSourceError(f"A column name has at most {MAX_COLUMN_NAME} printable characters.")
    return names


def check_file(upload: str | None, name: str | None, text_column: str | None, label_column: str | None,
               data_dir: Path | None, allowed_root: str | os.PathLike | None = None,
               received: Received | None = None) -> tuple[Path, LabelledTable]:
    """The file and what checking every row of it found; a problem is a ``DataSourceError``.

    ``allowed_root`` and ``received`` say which uploads may be read (``uploads.uploaded_file``)."""
    path = _own_path(upload, name, data_dir, allowed_root, received)
    text, label = _columns(text_column, label_column)
    try:
        return path, _inspect(path, text, label)
    except DataError as exc:
        # Messages name the server path of an upload; the visitor knows it by its own name.
        raise DataSourceError(str(exc).replace(str(path), Path(upload or name or path).name)) from None


def summary(table: LabelledTable, shown_name: str) -> str:
    """What the file holds, in a few lines of Markdown."""
    counts = [table.labels.count(c) for c in range(len(table.classes))]
    classes = ", ".join(f"{md.code(name)} ({n:,})" for name, n in list(zip(table.classes, counts))[:SHOWN_CLASSES])
    more = f" and {len(table.classes) - SHOWN_CLASSES} more" if len(table.classes) > SHOWN_CLASSES else ""
    split = (f"split by column {md.code(table.split_column)}" if table.split_column
             else "no split column: a stratified, seeded split")
    lines = [f"**{md.text(shown_name)}**: {len(table):,} rows, texts from {md.code(table.text_column)}, labels "
             f"from {md.code(table.label_column)}, {split}.", f"{len(table.classes)} classes: {classes}{more}."]
    lines += [f"⚠️ {md.text(warning.replace(str(table.path), shown_name))}" for warning in table.warnings]
    return "  \n".join(lines)


def preview(source: str, upload: str | None, name: str | None, text_column: str | None, label_column: str | None,
            data_dir: Path | None, allowed_root: str | os.PathLike | None = None,
            received: Received | None = None) -> str:
    """The summary shown under the data controls: the file's classes, or what is wrong with it."""
    if source != "file":
        return ""
    if not upload and not (name or "").strip():
        return "Upload a file with a text column and a label column (strings or integers, two classes or more)."
    try:
        _, table = check_file(upload, name, text_column, label_column, data_dir, allowed_root, received)
    except DataSourceError as exc:
        return f"**Cannot train on this file:** {exc}"
    return summary(table, Path(upload or name or "").name)


def overrides(source: str | None, upload: str | None, name: str | None, text_column: str | None,
              label_column: str | None, runs_dir: Path, data_dir: Path | None,
              allowed_root: str | os.PathLike | None = None,
              received: Received | None = None) -> tuple[dict[str, Any], str]:
    """The ``TrainConfig`` settings a data choice makes, and a note for the page.

    Without a source (an API caller of an older form), the preset decides, as before.
    """
    if not source:
        return {}, ""
    if source not in dict((v, k) for k, v in SOURCES):
        raise DataSourceError(f"Unknown data source {source!r}; choose one of {', '.join(v for _, v in SOURCES)}.")
    if source == "imdb":
        return {"imdb_labels": "polarity"}, ""
    if source == "ratings":
        return {"imdb_labels": "rating-bins"}, "IMDB star ratings in 4 classes"
    path, table = check_file(upload, name, text_column, label_column, data_dir, allowed_root, received)
    copy = _copy(path, table.fingerprint, runs_dir)
    settings = {"data": str(copy), "imdb_labels": "polarity", "text_column": table.text_column,
                "label_column": table.label_column, "split_column": table.split_column}
    return settings, f"{Path(upload or name or '').name}: {len(table):,} rows, {len(table.classes)} classes"


def _copy(path: Path, digest: str, runs_dir: Path) -> Path:
    """The copy of ``path`` (whose sha256 is ``digest``) in the runs folder's ``data/``, made if it is not
    there: written through a hidden temp file, hashed as it is written, and removed if anything fails."""
    copy = runs_dir / "data" / f"{digest[:16]}{path.suffix.lower()}"
    if copy.exists():
        os.utime(copy)  # in use again: a fresh mtime keeps it from pruning until the run records it
        return copy
    hashed = hashlib.sha256()
    try:
        with atomic_file(copy, "wb", hidden=True) as out, open(path, "rb") as src:
            while block := src.read(COPY_BLOCK):
                hashed.update(block)
                out.write(block)
            if hashed.hexdigest() != digest:
                raise DataSourceError("The file changed while it was being read; upload it again.")
    except OSError as exc:
        if is_disk_full(exc):
            raise DataSourceError(disk_full_message("the copy of the file a run trains on")) from None
        raise DataSourceError(f"The file could not be copied for training: {exc.strerror or exc}.") from None
    return copy


def recorded_copies(runs_dir: Path) -> set[str]:
    """The names of the ``data/`` copies that the checkpoints in the runs folder were trained on."""
    names = set()
    for checkpoint in runs_dir.glob("*.safetensors"):
        try:
            data = (read_metadata(checkpoint).get("train_config") or {}).get("data") or ""
        except CheckpointError:  # unusable, or a pretrained reader: it records no data copy
            continue
        if data:
            names.add(Path(data).name)
    return names


def prune_copies(runs_dir: Path, keep: Iterable[str | os.PathLike] = (), grace_s: float = COPY_GRACE_S) -> list[Path]:
    """Delete the data copies in ``runs_dir/data`` that no checkpoint of the runs folder records, except
    those named in ``keep`` (a run's data in use) and those made or reused in the last ``grace_s``
    seconds (a run starting); returns what was deleted. Problems are logged, never raised."""
    folder = runs_dir / "data"
    if not folder.is_dir():
        return []
    kept = recorded_copies(runs_dir) | {Path(k).name for k in keep if k}
    now, gone = time.time(), []
    for path in folder.iterdir():
        try:
            if path.name.startswith(".") or path.name in kept or not path.is_file() or \
                    now - path.stat().st_mtime < grace_s:
                continue
            path.unlink()
            gone.append(path)
        except OSError as exc:
            log.warning("could not prune the data copy %s: %s", path, exc)
    return gone
