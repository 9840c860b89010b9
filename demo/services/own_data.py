"""The Train tab's data source: IMDB polarity, IMDB star ratings, or your own labelled file.

A file comes as an upload (.csv, .tsv, .jsonl, .json, .parquet), or, on a server started with
``--train-data-dir``, as the name of a file in that folder. Both are treated as hostile: an
upload is read only if the server received it (``uploads.uploaded_file``), a name
only if it resolves inside the folder; the file is checked row by row (``inspect_table``)
before a run starts, and copied into the runs folder under its content hash, so the run and
the checkpoint that records it never depend on Gradio's temporary files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from sentiment_core.config import MAX_COLUMN_NAME
from sentiment_core.data import DataError, LabelledTable, inspect_table
from sentiment_core.data.table import FORMATS

from .uploads import Received, uploaded_file
from .user_input import UserInputError

SOURCES = (("IMDB: negative / positive", "imdb"), ("IMDB: star ratings in 4 classes (1-2, 3-4, 7-8, 9-10)", "ratings"),
           ("Your own labelled file", "file"))
SOURCE_OF_PRESET = {"ratings": "ratings"}  # a preset that implies its data; the others leave the choice alone
FILE_TYPES = sorted(FORMATS)
SHOWN_CLASSES = 12


class DataSourceError(UserInputError):
    """A data source the Train tab cannot use; the message is for the page."""


def _own_path(upload: str | None, name: str | None, data_dir: Path | None, allowed_root: str | os.PathLike | None,
              received: Received | None) -> Path:
    """The file an upload (inside ``allowed_root``, vouched for by ``received``) or a name in ``data_dir``
    points at; anything else is refused."""
    if upload:
        try:
            return uploaded_file(upload, allowed_root, received)
        except UserInputError as exc:
            raise DataSourceError(str(exc)) from None
    if name and name.strip():
        if data_dir is None:
            raise DataSourceError("This server reads no files by name: upload the file.")
        root = os.path.realpath(data_dir)
        real = os.path.realpath(os.path.join(root, name.strip()))
        if os.path.commonpath([root, real]) != root or not os.path.isfile(real):
            raise DataSourceError(f"No file {name.strip()!r} in this server's training data folder.")
        return Path(real)
    raise DataSourceError("Upload a labelled file (.csv, .tsv, .jsonl or .parquet), or pick an IMDB source.")


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
        return path, inspect_table(path, text, label)
    except DataError as exc:
        # Messages name the server path of an upload; the visitor knows it by its own name.
        raise DataSourceError(str(exc).replace(str(path), Path(upload or name or path).name)) from None


def summary(table: LabelledTable, shown_name: str) -> str:
    """What the file holds, in a few lines of Markdown."""
    counts = [table.labels.count(c) for c in range(len(table.classes))]
    classes = ", ".join(f"`{name}` ({n:,})" for name, n in list(zip(table.classes, counts))[:SHOWN_CLASSES])
    more = f" and {len(table.classes) - SHOWN_CLASSES} more" if len(table.classes) > SHOWN_CLASSES else ""
    split = (f"split by column `{table.split_column}`" if table.split_column
             else "no split column: a stratified, seeded split")
    lines = [f"**{shown_name}**: {len(table):,} rows, texts from `{table.text_column}`, labels from "
             f"`{table.label_column}`, {split}.", f"{len(table.classes)} classes: {classes}{more}."]
    lines += [f"⚠️ {warning.replace(str(table.path), shown_name)}" for warning in table.warnings]
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
    digest = table.fingerprint
    copy = runs_dir / "data" / f"{digest[:16]}{path.suffix.lower()}"
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        tmp = copy.with_name(f".{copy.name}.{os.getpid()}.tmp")
        shutil.copyfile(path, tmp)
        if hashlib.sha256(tmp.read_bytes()).hexdigest() != digest:  # changed while being copied
            tmp.unlink()
            raise DataSourceError("The file changed while it was being read; upload it again.")
        os.replace(tmp, copy)
    settings = {"data": str(copy), "imdb_labels": "polarity", "text_column": table.text_column,
                "label_column": table.label_column, "split_column": table.split_column}
    return settings, f"{Path(upload or name or '').name}: {len(table):,} rows, {len(table.classes)} classes"
