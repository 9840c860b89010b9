"""Reading a labelled file's bytes and rows, whatever its format (CSV, TSV, JSON Lines, Parquet).

``sha256_and_line_breaks`` is the first pass over a file (its content key, and a check that a
text file is UTF-8); ``open_table`` gives its column names and a row iterator for the later passes
(``table.inspect_table``, ``table.table_texts``). ``wide_csv_fields`` lets the csv module read a
long review, and puts its process-wide limit back after.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .limits import (
    MAX_CELL_BYTES,
    MAX_LINE_BYTES,
    PARQUET_BATCH_BYTES,
    CellBudget,
    amount,
    check_parquet_metadata,
    check_parquet_sizes,
    dictionary_bytes,
)
from .source import DataError, Progress, no_progress

MAX_FIELD_CHARS = MAX_CELL_BYTES.value  # one CSV field; Python's csv module stops at 128 KB by default
_BLOCK = 1 << 20


@contextlib.contextmanager
def wide_csv_fields(limit: int = MAX_FIELD_CHARS) -> Iterator[None]:
    """csv's field size limit raised to at least ``limit`` for a block and restored after it: a
    review may be longer than csv's default 128 KB, and the limit is process-wide, so it must not
    stay raised."""
    saved = csv.field_size_limit(max(csv.field_size_limit(), limit))
    try:
        yield
    finally:
        csv.field_size_limit(saved)


# ---------------------------------------------------------------------------------------------
# Pass 1: sha256 and encoding


def sha256_and_line_breaks(path: Path, fmt: str, progress: Progress = no_progress) -> tuple[str, int]:
    """The file's sha256 and its number of line breaks; a text format is also checked to be UTF-8,
    as it is read. ``progress("read", bytes, total bytes)`` after every megabyte."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")() if fmt != "parquet" else None
    offset, lines = 0, 1
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            while block := f.read(_BLOCK):
                progress("read", offset, size)
                digest.update(block)
                if decoder is not None:
                    try:
                        decoder.decode(block)
                    except UnicodeDecodeError as exc:
                        raise _not_utf8(path, block, exc, offset, lines) from None
                    lines += block.count(b"\n")
                offset += len(block)
            if decoder is not None:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    raise DataError(f"{path} is not UTF-8 text: it ends in the middle of a character; "
                                    "save it as UTF-8") from None
    except OSError as exc:
        raise DataError(f"could not read {path}: {exc.strerror or exc}") from None
    progress("read", offset, offset)
    return digest.hexdigest(), lines - 1


def _not_utf8(path: Path, block: bytes, exc: UnicodeDecodeError, offset: int, lines: int) -> DataError:
    # The decoder may hold up to 3 bytes of an unfinished character from the previous block, so
    # the bad byte is at most that far before the block; searching this block is close enough.
    at = max(0, exc.start)
    bad = block[at : at + 1] or block[:1]
    line = lines + block.count(b"\n", 0, at)
    return DataError(f"{path} is not UTF-8 text: byte 0x{bad.hex()} at line {line:,} (byte {offset + at:,}) is not "
                     "valid UTF-8; save the file as UTF-8 (Excel: 'CSV UTF-8'; pandas: encoding='utf-8')")


# ---------------------------------------------------------------------------------------------
# Reading rows


@dataclass
class Reader:
    """Column names and a row iterator of one file: rows of the asked columns' values, with where
    each row is (for messages); a missing value is None."""

    columns: list[str]
    rows: Callable[[list[str]], Iterator[tuple[int, str, list[Any]]]]  # (row number, where, values)
    size: int | None = None  # rows, when the format says (Parquet)


def open_table(path: Path, fmt: str) -> Reader:
    """The ``Reader`` of a file in format ``fmt`` (csv, tsv, jsonl or parquet), its rows counted
    against the caps of ``limits`` (rows, bytes a cell, bytes in all) as they are read."""
    if fmt in ("csv", "tsv"):
        reader = _csv_reader(path, "," if fmt == "csv" else "\t")
    elif fmt == "jsonl":
        reader = _jsonl_reader(path)
    else:
        reader = _parquet_reader(path)
    for i, name in enumerate(reader.columns, 1):
        if "\0" in name:
            raise DataError(f"{path}: the name of column {i} ({name[:40]!r}) holds a NUL character; rename it")
    inner = reader.rows

    def rows(wanted: list[str]) -> Iterator[tuple[int, str, list[Any]]]:
        budget = CellBudget(path)
        for row, where, values in inner(wanted):
            budget.row(row, where)
            for name, value in zip(wanted, values):
                budget.add(value, where, name)
            yield row, where, values

    return Reader(reader.columns, rows, reader.size)


def _csv_reader(path: Path, delimiter: str) -> Reader:
    def open_rows():
        f = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed by the caller's with
        return f, csv.reader(f, delimiter=delimiter)  # utf-8-sig: a byte-order mark is not part of a name

    f, reader = open_rows()
    with f, wide_csv_fields():
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise DataError(f"{path}, line {reader.line_num}: {_csv_problem(exc)}") from None
    if not header or not any(name.strip() for name in header):
        raise DataError(f"{path} is empty: expected a header row naming its columns")
    header = [name.strip() for name in header]

    def rows(wanted: list[str]) -> Iterator[tuple[int, str, list[Any]]]:
        where_col = [header.index(name) for name in wanted]
        f, reader = open_rows()
        with f, wide_csv_fields():
            next(reader)
            row = 0
            try:
                for values in reader:
                    if not values:
                        continue  # a blank line
                    row += 1
                    if len(values) != len(header):
                        raise DataError(f"{path}, row {row:,} (line {reader.line_num:,}): {len(values)} fields, "
                                        f"the header has {len(header)}; is a text with a "
                                        f"{'comma' if delimiter == ',' else 'tab'} or quote not quoted?")
                    yield row, f"row {row:,} (line {reader.line_num:,})", [values[i] for i in where_col]
            except csv.Error as exc:
                raise DataError(f"{path}, line {reader.line_num:,}: {_csv_problem(exc)}") from None

    return Reader(header, rows)


def _csv_problem(exc: csv.Error) -> str:
    if "field limit" in str(exc):
        return f"a field longer than {amount(MAX_CELL_BYTES)}; at most that a cell"
    return str(exc)


def _jsonl_reader(path: Path) -> Reader:
    def records() -> Iterator[tuple[int, int, dict]]:
        limit = MAX_LINE_BYTES.value
        with open(path, encoding="utf-8-sig") as f:
            row, line_no = 0, 0
            while line := f.readline(limit + 1):
                line_no += 1
                if len(line) > limit:
                    raise DataError(f"{path}, line {line_no:,}: longer than {amount(MAX_LINE_BYTES)}; at most that "
                                    "a line")
                if not line.strip():
                    continue
                if row == 0 and line.lstrip().startswith("["):
                    raise DataError(f"{path} holds a JSON array; save it as JSON Lines, one object per line "
                                    "(pandas: to_json(path, orient='records', lines=True))")
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}, line {line_no:,}: not valid JSON ({exc.msg} at column "
                                    f"{exc.colno:,})") from None
                except RecursionError:
                    raise DataError(f"{path}, line {line_no:,}: lists or objects nested too deep to read "
                                    "(thousands of levels); a row is one flat object") from None
                except ValueError as exc:
                    raise DataError(f"{path}, line {line_no:,}: not valid JSON ({exc})") from None
                if not isinstance(record, dict):
                    raise DataError(f"{path}, line {line_no:,}: a JSON {type(record).__name__}, not an object "
                                    "with the text and label as fields")
                row += 1
                yield row, line_no, record

    first = next(records(), None)
    if first is None:
        raise DataError(f"{path} is empty: expected one JSON object per line")
    columns = list(first[2])

    def rows(wanted: list[str]) -> Iterator[tuple[int, str, list[Any]]]:
        for row, line_no, record in records():
            yield row, f"row {row:,} (line {line_no:,})", [record.get(name) for name in wanted]

    return Reader(columns, rows)


def _parquet_reader(path: Path) -> Reader:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is in requirements.txt
        raise DataError(f"reading {path} needs pyarrow: pip install pyarrow") from None
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid / OSError subclasses
        raise DataError(f"{path} is not a readable Parquet file ({exc})") from None
    schema = parquet.schema_arrow
    columns = list(schema.names)

    def rows(wanted: list[str]) -> Iterator[tuple[int, str, list[Any]]]:
        import pyarrow as pa

        for name in wanted:
            kind = schema.field(name).type
            if pa.types.is_dictionary(kind):
                kind = kind.value_type
            if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)
                    or pa.types.is_floating(kind) or pa.types.is_boolean(kind) or pa.types.is_null(kind)):
                raise DataError(f"{path}, column {name!r}: values of type {kind}, not texts, numbers or labels")
        check_parquet_metadata(path, parquet, wanted)
        # Texts are read as dictionaries, so a text repeated on every row is measured (limits.dictionary_bytes)
        # before any row of it is copied out; values become Python strings a few MiB at a time.
        texts = [name for name in wanted if not _is_number(schema.field(name).type)]
        budget, row = CellBudget(path), 0
        try:
            check_parquet_sizes(path, pq.ParquetFile(path, read_dictionary=texts), wanted)
            for batch in pq.ParquetFile(path, read_dictionary=texts).iter_batches(batch_size=8192, columns=wanted):
                sizes = [dictionary_bytes(batch.column(i)).to_pylist() for i in range(len(wanted))]
                start, pending = 0, 0
                for k, cells in enumerate(zip(*sizes)):
                    for name, size in zip(wanted, cells):
                        budget.count(size, f"row {row + k + 1:,}", name)
                    pending += sum(cells)
                    if pending < PARQUET_BATCH_BYTES and k + 1 < batch.num_rows:
                        continue
                    piece = batch.slice(start, k + 1 - start)
                    for values in zip(*(piece.column(i).to_pylist() for i in range(len(wanted)))):
                        row += 1
                        yield row, f"row {row:,}", list(values)
                    start, pending = k + 1, 0
        except (UnicodeDecodeError, OSError, ValueError) as exc:
            raise DataError(f"{path}, after row {row:,}: could not read the values ({exc})") from None

    return Reader(columns, rows, parquet.metadata.num_rows)


def _is_number(kind: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
