"""The Train tab's data source: IMDB polarity, IMDB star ratings, or your own labelled file.

A file comes as an upload (.csv, .tsv, .jsonl, .json, .parquet), or, on a server started with
``--train-data-dir``, as the name of a file in that folder. Both are treated as hostile: an
upload is read only if Gradio's upload route received it (``batch.uploaded_file``), a name
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

import gradio as gr

from sentiment_core.config import MAX_COLUMN_NAME
from sentiment_core.data import DataError, LabelledTable, inspect_table
from sentiment_core.data.table import FORMATS

from .batch import uploaded_file

SOURCES = (("IMDB: negative / positive", "imdb"), ("IMDB: star ratings in 4 classes (1-2, 3-4, 7-8, 9-10)", "ratings"),
           ("Your own labelled file", "file"))
SOURCE_OF_PRESET = {"ratings": "ratings"}  # a preset that implies its data; the others leave the choice alone
FILE_TYPES = sorted(FORMATS)
SHOWN_CLASSES = 12


class DataSourceError(ValueError):
    """A data source the Train tab cannot use; the message is for the page."""


def _own_path(upload: str | None, name: str | None, data_dir: Path | None) -> Path:
    """The file an upload or a name in ``data_dir`` points at; anything else is refused."""
    if upload:
        try:
            return uploaded_file(upload)
        except gr.Error as exc:
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
               data_dir: Path | None) -> tuple[Path, LabelledTable]:
    """The file and what checking every row of it found; a problem is a ``DataSourceError``."""
    path = _own_path(upload, name, data_dir)
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
            data_dir: Path | None) -> str:
    """The summary shown under the data controls: the file's classes, or what is wrong with it."""
    if source != "file":
        return ""
    if not upload and not (name or "").strip():
        return "Upload a file with a text column and a label column (strings or integers, two classes or more)."
    try:
        _, table = check_file(upload, name, text_column, label_column, data_dir)
    except DataSourceError as exc:
        return f"**Cannot train on this file:** {exc}"
    return summary(table, Path(upload or name or "").name)


def overrides(source: str | None, upload: str | None, name: str | None, text_column: str | None,
              label_column: str | None, runs_dir: Path, data_dir: Path | None) -> tuple[dict[str, Any], str]:
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
    path, table = check_file(upload, name, text_column, label_column, data_dir)
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


def build_data_source(data_dir: Path | None) -> dict[str, Any]:
    """Lay out the data controls (inside an open layout block); returns them by name."""
    c: dict[str, Any] = {}
    with gr.Accordion("Data", open=True):
        c["source"] = gr.Radio([(label, value) for label, value in SOURCES], value="imdb", label="Train on",
                               info="IMDB comes with the app; your own file needs a text and a label column")
        with gr.Group(visible=False) as c["file_group"]:
            c["upload"] = gr.File(label="Labelled file", file_types=FILE_TYPES, type="filepath")
            if data_dir is not None:
                c["name"] = gr.Textbox(label=f"…or a file in {data_dir.name}/ on this server",
                                       placeholder="reviews.csv")
            with gr.Row():
                c["text_column"] = gr.Textbox(label="Text column", placeholder="found by name: text, review, …",
                                              max_length=MAX_COLUMN_NAME)
                c["label_column"] = gr.Textbox(label="Label column", placeholder="found by name: label, class, …",
                                               max_length=MAX_COLUMN_NAME)
            c["summary"] = gr.Markdown(elem_id="data-summary")
    return c


def wire_data_source(c: dict[str, Any], preset: gr.components.Component, data_dir: Path | None) -> list[Any]:
    """Show the file controls for 'your own file', check a file as soon as it is given, follow a
    preset that implies its data; returns the inputs a Start needs, in ``overrides``' order."""
    name = c.get("name")
    inputs = [c["source"], c["upload"], *([name] if name is not None else []), c["text_column"], c["label_column"]]

    def check(source, upload, *rest):
        named, (text, label) = (rest[0], rest[1:]) if name is not None else (None, rest)
        return preview(source, upload, named, text, label, data_dir)

    c["source"].change(lambda source: gr.Group(visible=source == "file"), [c["source"]], [c["file_group"]],
                       api_visibility="private")
    for component in inputs:
        component.change(check, inputs, [c["summary"]], api_visibility="private", show_progress="minimal")
    preset.input(lambda p: gr.Radio(value=SOURCE_OF_PRESET[p]) if p in SOURCE_OF_PRESET else gr.skip(), [preset],
                  [c["source"]], api_visibility="private")
    return inputs
