"""Uploaded files of reviews, read as hostile: only files the server received are read, and sizes, rows
and columns are bounded before parsing.

Which files the server received is the web framework's record, so the caller hands in the check
(``received``) with the folder uploads live in; a caller that names neither gets nothing read.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from sentiment_core.tokenizer import has_words

from .user_input import UserInputError

Received = Callable[[str], bool]  # whether the server received this path through its upload route

MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_MB = 20  # any file the app takes (the server's upload limit) or reads by name for training
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
MAX_BATCH_ROWS = 5_000
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



def uploaded_file(path: str | os.PathLike, allowed_root: str | os.PathLike | None,
                  received: Received | None = None) -> Path:
    """The real path of ``path`` if it is a regular file inside ``allowed_root`` that ``received``
    vouches for, else a ``UserInputError`` of ``REFUSED_MESSAGE``.

    Through the API a caller can name any server path as an "uploaded" file; symlinks and ``..``
    are resolved before the check, and a missing file, a folder and a file outside all get the same
    answer. Without ``allowed_root`` nothing is read. ``received`` is the server's record of its
    uploads (a script or a test that names its own folder leaves it out).
    """
    try:
        if allowed_root is not None:
            root = os.path.realpath(allowed_root)
            real = os.path.realpath(path)
            inside = os.path.commonpath([root, real]) == root and real != root
            if (inside and stat.S_ISREG(os.stat(real).st_mode)
                    and (received is None or received(os.fspath(path)))):
                return Path(real)
    except (OSError, ValueError):  # a missing file, an embedded NUL, a path too long
        pass
    raise UserInputError(REFUSED_MESSAGE)


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
        raise UserInputError(f"{name} is {size / 1e6:.1f} MB; the limit is {MAX_BATCH_BYTES // 2**20} MB per file.")
    encoding = _encoding(data)
    if encoding is None:
        raise UserInputError(f"{name} looks like a binary file, not text. Upload a .txt or .csv file.")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        shown = "UTF-8" if encoding == "utf-8" else encoding.upper().removesuffix("-SIG")
        raise UserInputError(f"{name} is not {shown} text (byte 0x{data[exc.start]:02x} at position "
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
            raise UserInputError(f"{name} has {columns:,} columns; the limit is {MAX_BATCH_COLUMNS:,}. "
                                 "Keep the text column and a few others.")
    try:
        table = pd.read_csv(io.StringIO(text), dtype=object, keep_default_na=False, nrows=MAX_BATCH_ROWS + 1)
    except pd.errors.EmptyDataError:
        raise UserInputError(f"{name} is empty.") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise UserInputError(f"{name} is not a well-formed CSV file: {str(exc).strip()}") from None
    if len(table.columns) > MAX_BATCH_COLUMNS:  # rows wider than the header make an index of the extra
        raise UserInputError(f"{name} has more than {MAX_BATCH_COLUMNS:,} columns; the limit is {MAX_BATCH_COLUMNS:,}.")
    if len(table) > MAX_BATCH_ROWS:
        raise UserInputError(f"{name} has more than {MAX_BATCH_ROWS:,} rows; the limit is {MAX_BATCH_ROWS:,} reviews "
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
    raise UserInputError(f"No text column found: name one {', '.join(TEXT_COLUMNS)}, or give at least one column "
                         "of text.")


def read_reviews(path: str | os.PathLike, allowed_root: str | os.PathLike | None = None,
                 received: Received | None = None) -> tuple[pd.DataFrame, str]:
    """The uploaded table and its text column; any problem is a ``UserInputError`` with a clear message.

    Only a file inside ``allowed_root`` that ``received`` vouches for is read (see ``uploaded_file``).
    A .txt file holds one review per line; a .csv file has a header row, and its text column is the
    one named text/review/content, else the first column of strings. Lines and cells without words
    (blank, or only ``<br />`` tags) are skipped, as the predictor would refuse them.
    """
    real = uploaded_file(path, allowed_root, received)
    name = Path(path).name
    suffix = real.suffix.lower()
    if suffix not in (".txt", ".csv"):
        raise UserInputError(f"{name}: upload a .txt (one review per line) or a .csv file, not {suffix or 'this'}.")
    text = _decode(real, name)
    if suffix == ".txt":
        lines = [line for line in text.splitlines() if has_words(line)]
        if len(lines) > MAX_BATCH_ROWS:
            raise UserInputError(f"{name} has {len(lines):,} reviews; the limit is {MAX_BATCH_ROWS:,} per file.")
        table, column = pd.DataFrame({"text": lines}), "text"
    else:
        table = _read_csv(text, name)
        column = _text_column(table)
        table = table[table[column].map(lambda v: isinstance(v, str) and has_words(v))].reset_index(drop=True)
    if table.empty:
        raise UserInputError(f"{name} holds no reviews (every line or text cell is empty).")
    return table, column
