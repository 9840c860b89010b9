"""Caps on what reading one labelled file may cost, in one table, shared by the CLI, training and the app.

A labelled file comes from outside (an upload to a public page, a file named on the command
line), so reading it is bounded before and while it happens::

    check_parquet_metadata(path, parquet, wanted)   # rows and sizes the footer claims, nothing decoded
    budget = CellBudget(path)
    budget.add(value, where, column)                # every cell read: its bytes, and the file's total

Parquet metadata is written by whoever wrote the file, and a dictionary page can stand for the same
long text on every row: the counts taken while reading (``CellBudget``, ``dictionary_bytes``) and,
in the app, the memory limit of the process that reads are the real bound; the footer check only
refuses the obvious early.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .source import DataError

MIB = 2**20


@dataclass(frozen=True)
class Cap:
    """One bound: its value, the unit it counts and what it bounds (the README's and the page's wording)."""

    value: int
    unit: str
    what: str


MAX_ROWS = Cap(1_000_000, "rows", "rows of one labelled file")
MAX_CELL_BYTES = Cap(1 * MIB, "bytes", "one cell (a text or a label), decoded")
MAX_LINE_BYTES = Cap(4 * MIB, "bytes", "one line of a JSON Lines file")
MAX_DECODED_BYTES = Cap(1024 * MIB, "bytes", "all cells read from one file, decoded (Parquet: also its footer's "
                        "uncompressed size of the columns read)")
MAX_CLASSES_DEFAULT = Cap(50, "classes", "distinct labels (--max-classes; at most 1,000)")
CHECK_MEMORY = Cap(1024 * MIB, "bytes", "heap of the app's data-check process (RLIMIT_DATA)")
CHECK_SECONDS = Cap(60, "seconds", "one data check in the app")
CHECKS_WAITING = Cap(4, "checks", "data checks waiting for the one running in the app; more are told to retry")
SHOWN_CLASSES = Cap(20, "rows", "classes shown in a confusion matrix or per-class table; the rest in one line")

CAPS = (MAX_ROWS, MAX_CELL_BYTES, MAX_LINE_BYTES, MAX_DECODED_BYTES, MAX_CLASSES_DEFAULT, CHECK_MEMORY,
        CHECK_SECONDS, CHECKS_WAITING, SHOWN_CLASSES)
PARQUET_BATCH_BYTES = 32 * MIB  # Parquet values are turned into Python strings this many bytes at a time


def amount(cap: Cap) -> str:
    """A cap's value for people: ``1 MiB``, ``1,000,000 rows``."""
    if cap.unit == "bytes":
        return f"{cap.value / MIB:,.0f} MiB" if cap.value < 1024 * MIB else f"{cap.value / 1024 / MIB:,.0f} GiB"
    return f"{cap.value:,} {cap.unit}"


def caps_markdown() -> str:
    """The caps as a Markdown table (the README's and the Train tab's)."""
    lines = ["| bound | at most |", "| --- | --- |"]
    lines += [f"| {cap.what} | {amount(cap)} |" for cap in CAPS]
    return "\n".join(lines)


def cell_bytes(value: Any) -> int:
    """Bytes a cell takes decoded: UTF-8 for a text, a few for a number."""
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, (list, dict)):
        return len(repr(value)[: MAX_CELL_BYTES.value + 1])
    return 8


class CellBudget:
    """Counts the bytes of every cell read from one file; a ``DataError`` naming the row and column
    when one cell, or all of them together, pass their cap, or when the file has too many rows."""

    def __init__(self, path: Path) -> None:
        self.path, self.total = path, 0

    def row(self, row: int, where: str) -> None:
        if row > MAX_ROWS.value:
            raise DataError(f"{self.path}, {where}: more than {amount(MAX_ROWS)}; use a sample of the file")

    def add(self, value: Any, where: str, column: str) -> None:
        self.count(cell_bytes(value), where, column)

    def count(self, size: int, where: str, column: str) -> None:
        if size > MAX_CELL_BYTES.value:
            raise DataError(f"{self.path}, {where}, column {column!r}: a cell of {size:,} bytes; at most "
                            f"{amount(MAX_CELL_BYTES)} a cell")
        self.total += size
        if self.total > MAX_DECODED_BYTES.value:
            raise DataError(f"{self.path}, {where}, column {column!r}: the cells read so far pass "
                            f"{amount(MAX_DECODED_BYTES)} decoded; use a smaller file")


def check_parquet_metadata(path: Path, parquet: Any, wanted: list[str]) -> None:
    """Refuse a Parquet file from its footer alone: too many rows, or columns whose uncompressed
    size passes the cap. Nothing is decompressed or decoded."""
    meta = parquet.metadata
    if meta.num_rows > MAX_ROWS.value:
        raise DataError(f"{path}: {meta.num_rows:,} rows by its metadata; at most {amount(MAX_ROWS)}")
    names = [meta.schema.column(i).path for i in range(meta.num_columns)]
    columns = [i for i, name in enumerate(names) if name in wanted]
    size = sum(meta.row_group(g).column(i).total_uncompressed_size
               for g in range(meta.num_row_groups) for i in columns)
    if size > MAX_DECODED_BYTES.value:
        raise DataError(f"{path}: columns {', '.join(map(repr, wanted))} hold {size:,} bytes uncompressed by its "
                        f"metadata; at most {amount(MAX_DECODED_BYTES)}")


def check_parquet_sizes(path: Path, parquet: Any, wanted: list[str]) -> None:
    """Refuse a Parquet file whose cells would pass their caps once decoded, measured on its
    dictionaries and indices (``parquet`` opened with ``read_dictionary`` for its text columns): a
    footer can understate, a dictionary page cannot hide how often a text is repeated."""
    total, row = 0, 0
    for batch in parquet.iter_batches(batch_size=65_536, columns=wanted):
        for i, name in enumerate(wanted):
            sizes = dictionary_bytes(batch.column(i)).to_numpy(zero_copy_only=False)
            if sizes.size and sizes.max() > MAX_CELL_BYTES.value:
                k = int(sizes.argmax())
                raise DataError(f"{path}, row {row + k + 1:,}, column {name!r}: a cell of {int(sizes[k]):,} bytes; "
                                f"at most {amount(MAX_CELL_BYTES)} a cell")
            total += int(sizes.sum())
        row += batch.num_rows
        if total > MAX_DECODED_BYTES.value:
            raise DataError(f"{path}: its first {row:,} rows hold {total:,} bytes in columns "
                            f"{', '.join(map(repr, wanted))} once decoded (by its dictionaries); at most "
                            f"{amount(MAX_DECODED_BYTES)}")


def dictionary_bytes(array: Any) -> Any:
    """Per-value byte lengths of an Arrow string column (an int64 array), counted on a dictionary's
    values and indices when it has one, so a repeated long text is never copied to be measured."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        if not (pa.types.is_string(array.type.value_type) or pa.types.is_large_string(array.type.value_type)):
            return pa.array([8] * len(array), pa.int64())
        lengths = pc.binary_length(array.dictionary).cast(pa.int64())
        return pc.fill_null(pc.take(lengths, array.indices), 0)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return pc.fill_null(pc.binary_length(array).cast(pa.int64()), 0)
    return pa.array([8] * len(array), pa.int64())
