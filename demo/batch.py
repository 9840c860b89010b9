"""Batch mode: classify a .txt or .csv file of reviews uploaded to the app, with a CSV to download.

Everything here treats the upload as hostile: only files the app received through Gradio's upload
route are read, sizes, rows and columns are bounded before parsing, and result files expire.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

import gradio as gr
import pandas as pd
from gradio.context import LocalContext
from gradio.utils import get_upload_folder

from sentiment_core import CheckpointError, EmptyTextError
from sentiment_core.tokenizer import has_words

from .classify import release_memory
from .models import ModelRegistry

MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_BATCH_ROWS = 5_000
RESULT_TTL_S = 3600  # a batch result stays downloadable this long
# A CSV's columns are checked on its header line before pandas parses it: half a million of them
# held a batch slot for two minutes.
MAX_BATCH_COLUMNS = 200
# The same words for every path that is not a file uploaded to this app, whether it exists or not,
# so the endpoint cannot be used to read or probe the server's files.
REFUSED_MESSAGE = "That file was not uploaded to this app: upload a .txt or .csv file and try again."
TEXT_COLUMNS = ("text", "review", "content")



def _received_by_gradio(path: str) -> bool:
    """Whether the Gradio app serving this request received ``path`` through its upload route.

    A mounted app (``gr.mount_gradio_app``) never counts as launched, and Gradio 6.31 then skips its
    own check: it copies any server file a caller names into the upload folder before the handler
    runs. Only the upload route's record (``Blocks.upload_file_set``) tells such a copy from an
    upload. Called outside a Gradio request (tests, scripts) there is no record to consult.
    """
    uploads = getattr(LocalContext.blocks.get(None), "upload_file_set", None)
    return uploads is None or path in uploads


def uploaded_file(path: str | os.PathLike, allowed_root: str | os.PathLike | None = None) -> Path:
    """The real path of ``path`` if it is an uploaded regular file inside ``allowed_root``, else ``REFUSED_MESSAGE``.

    ``allowed_root`` defaults to Gradio's upload folder (``GRADIO_TEMP_DIR`` when set). Through the
    API a caller can name any server path as an "uploaded" file; symlinks and ``..`` are resolved
    before the check, and a missing file, a folder and a file outside all get the same answer.
    """
    try:
        root = os.path.realpath(get_upload_folder() if allowed_root is None else allowed_root)
        real = os.path.realpath(path)
        inside = os.path.commonpath([root, real]) == root and real != root
        if inside and stat.S_ISREG(os.stat(real).st_mode) and _received_by_gradio(os.fspath(path)):
            return Path(real)
    except (OSError, ValueError):  # a missing file, an embedded NUL, a path too long
        pass
    raise gr.Error(REFUSED_MESSAGE)


def _decode(path: Path, name: str) -> str:
    with open(path, "rb") as f:
        data = f.read(MAX_BATCH_BYTES + 1)  # never more than the limit, whatever the file's size
        size = max(len(data), os.fstat(f.fileno()).st_size)
    if len(data) > MAX_BATCH_BYTES:
        raise gr.Error(f"{name} is {size / 1e6:.1f} MB; the limit is {MAX_BATCH_BYTES // 2**20} MB per file.")
    if b"\x00" in data[:65536]:
        raise gr.Error(f"{name} looks like a binary file, not text. Upload a .txt or .csv file.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise gr.Error(f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start:,}); "
                       "save it as UTF-8 and upload it again.") from None


def _read_csv(text: str, name: str) -> pd.DataFrame:
    """Parse a CSV after checking its header's width; at most ``MAX_BATCH_ROWS + 1`` rows are read."""
    header_line = text.split("\n", 1)[0]
    if header_line.count(",") >= MAX_BATCH_COLUMNS:  # cheap upper bound first; quotes may hide commas
        try:
            columns = len(next(csv.reader([header_line]), []))
        except csv.Error:  # a header cell over csv's field size limit
            columns = header_line.count(",") + 1
        if columns > MAX_BATCH_COLUMNS:
            raise gr.Error(f"{name} has {columns:,} columns; the limit is {MAX_BATCH_COLUMNS:,}. "
                           "Keep the text column and a few others.")
    try:
        table = pd.read_csv(io.StringIO(text), dtype=object, keep_default_na=False, nrows=MAX_BATCH_ROWS + 1)
    except pd.errors.EmptyDataError:
        raise gr.Error(f"{name} is empty.") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise gr.Error(f"{name} is not a well-formed CSV file: {str(exc).strip()}") from None
    if len(table.columns) > MAX_BATCH_COLUMNS:  # rows wider than the header make an index of the extra
        raise gr.Error(f"{name} has more than {MAX_BATCH_COLUMNS:,} columns; the limit is {MAX_BATCH_COLUMNS:,}.")
    if len(table) > MAX_BATCH_ROWS:
        raise gr.Error(f"{name} has more than {MAX_BATCH_ROWS:,} rows; the limit is {MAX_BATCH_ROWS:,} reviews "
                       "per file.")
    return table


def _text_column(table: pd.DataFrame) -> str:
    """The column named text/review/content (any case), else the first one that isn't all numbers."""
    by_name = {str(c).strip().lower(): c for c in table.columns}
    for name in TEXT_COLUMNS:
        if name in by_name:
            return by_name[name]
    for column in table.columns:
        values = table[column][table[column].str.strip() != ""]
        if len(values) and pd.to_numeric(values, errors="coerce").isna().any():
            return column
    raise gr.Error(f"No text column found: name one {', '.join(TEXT_COLUMNS)}, or give at least one column of text.")


def read_reviews(path: str | os.PathLike, allowed_root: str | os.PathLike | None = None) -> tuple[pd.DataFrame, str]:
    """The uploaded table and its text column; any problem is a ``gr.Error`` with a clear message.

    Only a file inside ``allowed_root`` (default: Gradio's upload folder) is read (see
    ``uploaded_file``). A .txt file holds one review per line; a .csv file has a header row, and
    its text column is the one named text/review/content, else the first column of strings. Lines
    and cells without words (blank, or only ``<br />`` tags) are skipped, as the predictor would
    refuse them.
    """
    real = uploaded_file(path, allowed_root)
    name = Path(path).name
    suffix = real.suffix.lower()
    if suffix not in (".txt", ".csv"):
        raise gr.Error(f"{name}: upload a .txt (one review per line) or a .csv file, not {suffix or 'this'}.")
    text = _decode(real, name)
    if suffix == ".txt":
        lines = [line for line in text.splitlines() if has_words(line)]
        if len(lines) > MAX_BATCH_ROWS:
            raise gr.Error(f"{name} has {len(lines):,} reviews; the limit is {MAX_BATCH_ROWS:,} per file.")
        table, column = pd.DataFrame({"text": lines}), "text"
    else:
        table = _read_csv(text, name)
        column = _text_column(table)
        table = table[table[column].map(lambda v: isinstance(v, str) and has_words(v))].reset_index(drop=True)
    if table.empty:
        raise gr.Error(f"{name} holds no reviews (every line or text cell is empty).")
    return table, column


def prune_results(out_dir: Path, age: float = RESULT_TTL_S) -> None:
    """Remove earlier requests' result folders older than ``age`` seconds: a public server's disk stays bounded."""
    now = time.time()
    for folder in out_dir.glob("batch-*"):
        with contextlib.suppress(OSError):
            if now - folder.stat().st_mtime > age:
                shutil.rmtree(folder)


def classify_file(registry: ModelRegistry, model_key: str | None, path: str | None,
                  out_dir: str | Path | None = None,
                  allowed_root: str | os.PathLike | None = None) -> tuple[pd.DataFrame | None, str | None, str]:
    """Predictions for every review in an uploaded file: a preview table, a CSV to download, a summary.

    ``allowed_root`` is where uploads may be read from (default: Gradio's upload folder).
    """
    if not path:
        return None, None, "Upload a .txt file (one review per line) or a .csv file with a text column."
    if not model_key:
        raise gr.Error("No model is available yet: train one in the Train tab.")
    table, column = read_reviews(path, allowed_root)
    try:
        predictor = registry.predictor(model_key)
    except (KeyError, CheckpointError) as exc:
        raise gr.Error(f"The model {model_key} cannot be used: {exc}") from None
    try:
        results = predictor.predict_batch(table[column].tolist())
    except EmptyTextError as exc:  # words only in a middle that the character limit leaves out
        raise gr.Error(f"{Path(path).name}: {exc}.") from None
    finally:
        release_memory()
    if len(predictor.labels) > 2:
        return _multiclass_results(table, column, results, predictor.labels, model_key, path, out_dir)
    positive = [r[predictor.labels[1]] for r in results]
    predicted = [predictor.labels[int(p >= 0.5)] for p in positive]
    full = table.assign(prediction=predicted, p_positive=[round(p, 4) for p in positive])
    # A folder per request: two visitors uploading "reviews.csv" at once must not share a file.
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        prune_results(Path(out_dir))
    csv_path = Path(tempfile.mkdtemp(prefix="batch-", dir=out_dir)) / f"{Path(path).stem}-predictions.csv"
    full.to_csv(csv_path, index=False)
    preview = pd.DataFrame({
        "review": [t if len(t) <= 160 else t[:157] + "..." for t in table[column]],
        "prediction": predicted,
        "P(positive)": [round(p, 3) for p in positive],
    })
    n_pos = predicted.count(predictor.labels[1])
    message = (f"Classified {len(table):,} reviews from column `{column}` with `{model_key}`: "
               f"{n_pos:,} positive, {len(table) - n_pos:,} negative.")
    return preview, str(csv_path), message


def _result_csv(path: str, out_dir: str | os.PathLike | None) -> Path:
    """A fresh file for one request's predictions: two visitors' "reviews.csv" must not share one."""
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        prune_results(Path(out_dir))
    return Path(tempfile.mkdtemp(prefix="batch-", dir=out_dir)) / f"{Path(path).stem}-predictions.csv"


def _multiclass_results(table: pd.DataFrame, column: str, results: list[dict[str, float]], labels: list[str],
                        model_key: str, path: str, out_dir: str | os.PathLike | None):
    """Batch results of a model of more than two classes: the most probable class, and P of each class."""
    predicted = [max(r, key=r.get) for r in results]
    probs = {f"p_{label}": [round(r[label], 4) for r in results] for label in labels}
    csv_path = _result_csv(path, out_dir)
    table.assign(prediction=predicted, **probs).to_csv(csv_path, index=False)
    preview = pd.DataFrame({"review": [t if len(t) <= 160 else t[:157] + "..." for t in table[column]],
                            "prediction": predicted,
                            "P(prediction)": [round(r[p], 3) for r, p in zip(results, predicted)]})
    counts = ", ".join(f"{predicted.count(label):,} {label}" for label in labels)
    message = f"Classified {len(table):,} reviews from column `{column}` with `{model_key}`: {counts}."
    return preview, str(csv_path), message
