"""Batch mode: classify a .txt or .csv file of reviews uploaded to the app, with a CSV to download.

Everything here treats the upload as hostile: only files the app received through Gradio's upload
route are read, sizes, rows and columns are bounded before parsing, and result files expire.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from gradio.context import LocalContext
from gradio.utils import get_upload_folder

from sentiment_core import CheckpointError, EmptyTextError
from sentiment_core import markdown as md
from sentiment_core.tokenizer import has_words

from .classify import release_memory
from .errors import user_error
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
# Byte-order marks and their encodings; UTF-32's come first, as UTF-16's little-endian mark begins them.
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))



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
    raise user_error(REFUSED_MESSAGE)


def _encoding(data: bytes) -> str | None:
    """The encoding of an upload: from its byte-order mark, UTF-16 told by its zero bytes, else UTF-8;
    None for what looks like a binary file."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return encoding
    head = data[:65536]
    if b"\x00" not in head:
        return "utf-8"
    # UTF-16 without a mark: Latin-script text has a zero in every other byte, on one side only;
    # binary files have zeros on both.
    even, odd = head[0::2].count(0) / (len(head) // 2 or 1), head[1::2].count(0) / (len(head) // 2 or 1)
    if len(head) % 2 == 0 and max(even, odd) > 0.3 and min(even, odd) < 0.05:
        return "utf-16-le" if odd > even else "utf-16-be"
    return None


def _decode(path: Path, name: str) -> str:
    """The text of an upload in UTF-8 (with or without a byte-order mark), UTF-16 or UTF-32."""
    with open(path, "rb") as f:
        data = f.read(MAX_BATCH_BYTES + 1)  # never more than the limit, whatever the file's size
        size = max(len(data), os.fstat(f.fileno()).st_size)
    if len(data) > MAX_BATCH_BYTES:
        raise user_error(f"{name} is {size / 1e6:.1f} MB; the limit is {MAX_BATCH_BYTES // 2**20} MB per file.")
    encoding = _encoding(data)
    if encoding is None:
        raise user_error(f"{name} looks like a binary file, not text. Upload a .txt or .csv file.")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        shown = "UTF-8" if encoding == "utf-8" else encoding.upper().removesuffix("-SIG")
        raise user_error(f"{name} is not {shown} text (byte 0x{data[exc.start]:02x} at position "
                         f"{exc.start:,}); save it as UTF-8 and upload it again.") from None


def _read_csv(text: str, name: str) -> pd.DataFrame:
    """Parse a CSV after checking its header's width; at most ``MAX_BATCH_ROWS + 1`` rows are read."""
    header_line = text.split("\n", 1)[0]
    if header_line.count(",") >= MAX_BATCH_COLUMNS:  # cheap upper bound first; quotes may hide commas
        try:
            columns = len(next(csv.reader([header_line]), []))
        except csv.Error:  # a header cell over csv's field size limit
            columns = header_line.count(",") + 1
        if columns > MAX_BATCH_COLUMNS:
            raise user_error(f"{name} has {columns:,} columns; the limit is {MAX_BATCH_COLUMNS:,}. "
                           "Keep the text column and a few others.")
    try:
        table = pd.read_csv(io.StringIO(text), dtype=object, keep_default_na=False, nrows=MAX_BATCH_ROWS + 1)
    except pd.errors.EmptyDataError:
        raise user_error(f"{name} is empty.") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise user_error(f"{name} is not a well-formed CSV file: {str(exc).strip()}") from None
    if len(table.columns) > MAX_BATCH_COLUMNS:  # rows wider than the header make an index of the extra
        raise user_error(f"{name} has more than {MAX_BATCH_COLUMNS:,} columns; the limit is {MAX_BATCH_COLUMNS:,}.")
    if len(table) > MAX_BATCH_ROWS:
        raise user_error(f"{name} has more than {MAX_BATCH_ROWS:,} rows; the limit is {MAX_BATCH_ROWS:,} reviews "
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
    raise user_error(f"No text column found: name one {', '.join(TEXT_COLUMNS)}, or give at least one column of text.")


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
        raise user_error(f"{name}: upload a .txt (one review per line) or a .csv file, not {suffix or 'this'}.")
    text = _decode(real, name)
    if suffix == ".txt":
        lines = [line for line in text.splitlines() if has_words(line)]
        if len(lines) > MAX_BATCH_ROWS:
            raise user_error(f"{name} has {len(lines):,} reviews; the limit is {MAX_BATCH_ROWS:,} per file.")
        table, column = pd.DataFrame({"text": lines}), "text"
    else:
        table = _read_csv(text, name)
        column = _text_column(table)
        table = table[table[column].map(lambda v: isinstance(v, str) and has_words(v))].reset_index(drop=True)
    if table.empty:
        raise user_error(f"{name} holds no reviews (every line or text cell is empty).")
    return table, column


def prune_results(out_dir: Path, age: float = RESULT_TTL_S) -> None:
    """Remove earlier requests' result folders older than ``age`` seconds: a public server's disk stays bounded."""
    now = time.time()
    for folder in out_dir.glob("batch-*"):
        with contextlib.suppress(OSError):
            if now - folder.stat().st_mtime > age:
                shutil.rmtree(folder)


@dataclass
class BatchResult:
    """A classified file: its rows with a prediction each, and where the texts came from."""

    name: str  # the file's name, as uploaded
    column: str  # the column that held the texts
    model: str  # the model's key
    table: pd.DataFrame  # the file's rows (blank ones left out), then prediction and p_positive (p_<label> each
    # for a model of more than two classes)
    positive_label: str
    labels: tuple[str, ...] = ("negative", "positive")  # the model's classes

    @property
    def positive(self) -> int:
        return int((self.table["prediction"] == self.positive_label).sum())

    def counts(self) -> dict[str, int]:
        """Reviews predicted as each class."""
        return {label: int((self.table["prediction"] == label).sum()) for label in self.labels}

    def summary(self, markdown: bool = True) -> str:
        """'Classified 3 reviews from column text with shipped/default: 2 positive, 1 negative.'"""
        quote = md.code if markdown else repr
        count = len(self.table)
        if len(self.labels) > 2:
            found = ", ".join(f"{n:,} {md.text(label) if markdown else label}" for label, n in self.counts().items())
        else:
            found = f"{self.positive:,} positive, {count - self.positive:,} negative"
        return (f"Classified {count:,} review{'s' if count != 1 else ''} from column {quote(self.column)} with "
                f"{quote(self.model)}: {found}.")


def classify_reviews(registry: ModelRegistry, model_key: str | None, path: str, name: str | None = None,
                     allowed_root: str | os.PathLike | None = None) -> BatchResult:
    """Predictions for every review in an uploaded file; any problem is a ``gr.Error`` with a clear message.

    ``allowed_root`` is where uploads may be read from (default: Gradio's upload folder).
    """
    if not model_key:
        raise user_error("No model is available yet: train one in the Train tab.")
    table, column = read_reviews(path, allowed_root)
    name = name or Path(path).name
    try:
        predictor = registry.predictor(model_key)
    except KeyError:
        raise user_error(f"The model {model_key!r} is gone or unknown; pick another one.") from None
    except CheckpointError as exc:
        raise user_error(f"The model {model_key!r} cannot be used: {exc.problem}") from None
    try:
        results = predictor.predict_batch(table[column].tolist())
    except EmptyTextError as exc:  # words only in a middle that the character limit leaves out
        raise user_error(f"{name}: {exc}.") from None
    finally:
        release_memory()
    labels = tuple(predictor.labels)
    if len(labels) > 2:  # the most probable class, and every class's probability
        table = table.assign(prediction=[max(r, key=r.get) for r in results],
                             **{f"p_{label}": [round(r[label], 4) for r in results] for label in labels})
        return BatchResult(name, str(column), model_key, table, labels[1], labels)
    positive = [r[predictor.labels[1]] for r in results]
    table = table.assign(prediction=[predictor.labels[int(p >= 0.5)] for p in positive],
                         p_positive=[round(p, 4) for p in positive])
    return BatchResult(name, str(column), model_key, table, predictor.labels[1], labels)


def classify_file(registry: ModelRegistry, model_key: str | None, path: str | None,
                  out_dir: str | Path | None = None,
                  allowed_root: str | os.PathLike | None = None) -> tuple[pd.DataFrame | None, str | None, str]:
    """The page's batch view: a preview table, a CSV of every prediction to download, and a summary."""
    if not path:
        return None, None, "Upload a .txt file (one review per line) or a .csv file with a text column."
    result = classify_reviews(registry, model_key, path, allowed_root=allowed_root)
    # A folder per request: two visitors uploading "reviews.csv" at once must not share a file.
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        prune_results(Path(out_dir))
    csv_path = Path(tempfile.mkdtemp(prefix="batch-", dir=out_dir)) / f"{Path(path).stem}-predictions.csv"
    result.table.to_csv(csv_path, index=False)
    texts = result.table[result.column]
    if len(result.labels) > 2:
        chance = [round(row[f"p_{label}"], 3) for label, (_, row) in zip(result.table["prediction"],
                                                                            result.table.iterrows())]
        probability = ("P(prediction)", chance)
    else:
        probability = ("P(positive)", [round(p, 3) for p in result.table["p_positive"]])
    preview = pd.DataFrame({
        "review": [t if len(t) <= 160 else t[:157] + "..." for t in texts],
        "prediction": result.table["prediction"],
        probability[0]: probability[1],
    })
    return preview, str(csv_path), result.summary()


def classify_file_json(registry: ModelRegistry, model_key: str | None, file: Any,
                       allowed_root: str | os.PathLike | None = None) -> dict[str, Any]:
    """The API's batch answer: every row of the file with its prediction, and the counts, as plain values.

    ``file`` is what ``gradio_client.handle_file`` sends: a dict whose ``path`` the app's upload
    route returned. Anything else is refused like a file that was never uploaded.
    """
    path = file.get("path") if isinstance(file, dict) else None
    if not isinstance(path, str) or not path:
        raise user_error("file must be a file uploaded to this app: pass gradio_client.handle_file(path).")
    name = file.get("orig_name")
    result = classify_reviews(registry, model_key, path, name if isinstance(name, str) and name else None,
                              allowed_root)
    return {
        "model": result.model,
        "column": result.column,
        "reviews": len(result.table),
        **({"positive": result.positive, "negative": len(result.table) - result.positive}
           if len(result.labels) == 2 else {}),
        "counts": result.counts(),  # per class, for a model of any number of classes
        "predictions": result.table.to_dict(orient="records"),
        "message": result.summary(markdown=False),
    }
