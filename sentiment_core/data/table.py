"""Your own labelled texts: a CSV, TSV, JSON Lines or Parquet file with a text and a label column.

    text,label                                   {"review": "Loved it", "stars": 5}
    "Loved it, every minute.",pos                {"review": "Meh", "stars": 3, "split": "test"}

Columns are found by name (``TEXT_NAMES``, ``LABEL_NAMES``, ``SPLIT_NAMES``, any case) unless
named in ``TrainConfig``. Labels may be strings or integers, two classes or more; an optional
split column (train / validation / test) is honoured. The file is read in three streaming passes,
so its raw texts are never all in memory at once:

1. ``formats.sha256_and_line_breaks``: its sha256 (the cache key), checking on the way that a text file is UTF-8;
2. ``inspect_table``: every row checked (a text, a label, a known split), labels counted;
3. ``table_texts``: the texts alone, straight into the tokenizer; the tokens are cached on disk
   like IMDB's, keyed on the file's content and the text column.

Anything wrong is a ``DataError`` naming the file and the row, line or column, as precisely as
the format allows; a class with few examples is a warning (``LabelledTable.warnings``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..config import MAX_CLASSES
from .formats import open_table, sha256_and_line_breaks
from .labels import MAX_LABEL_CHARS, NUMBER_RE, check_spellings, label_text, sorted_classes
from .limits import MAX_CLASSES_DEFAULT
from .source import DataError, Progress, no_progress

log = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
           ".parquet": "parquet"}
# Column names looked for, in order of preference, compared without case.
TEXT_NAMES = ("text", "review", "sentence", "content", "body", "comment", "document", "tweet", "message",
              "utterance", "review_text", "texts")
LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target", "polarity", "rating", "stars",
               "intent", "y")
SPLIT_NAMES = ("split",)
SPLIT_VALUES = {"train": "train", "training": "train", "validation": "val", "valid": "val", "val": "val",
                "dev": "val", "test": "test", "testing": "test"}
MIN_CLASS_EXAMPLES = 10  # fewer in a class is warned about: its metrics rest on a handful of rows
SHOWN = 5  # rows named in one error message


def table_format(data: str | Path) -> str | None:
    """'csv', 'tsv', 'jsonl' or 'parquet' for a path with one of those suffixes, else None."""
    return FORMATS.get(Path(str(data)).suffix.lower())


def is_table(data: str | Path) -> bool:
    """Whether ``data`` names a labelled file rather than IMDB data."""
    return bool(data) and table_format(data) is not None


@dataclass
class LabelledTable:
    """A checked labelled file: its columns, classes, per-row labels and splits."""

    path: Path
    format: str
    fingerprint: str  # sha256 of the file's bytes
    text_column: str
    label_column: str
    split_column: str  # "" when the file has none
    classes: list[str]  # class names, sorted (numerically when all are integers)
    labels: list[int]  # per row, an index into ``classes``
    splits: list[str] | None  # per row, "train", "val" or "test"; None without a split column
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def ids(self) -> list[str]:
        """Row numbers, 1-based, header not counted: what error messages and the errors table name."""
        return [str(i) for i in range(1, len(self.labels) + 1)]


# ---------------------------------------------------------------------------------------------
# Pass 2: checking every row


def _find_column(path: Path, columns: list[str], asked: str, names: Sequence[str], what: str,
                 option: str, required: bool = True) -> str:
    """The column ``asked`` for, else the first of ``names`` present (any case); a ``DataError``
    naming the columns there are if there is none (when ``required``)."""
    shown = ", ".join(repr(c) for c in columns[:20]) + (f" and {len(columns) - 20} more" if len(columns) > 20 else "")
    if asked:
        if asked not in columns:
            raise DataError(f"{path} has no column {asked!r} (given as {option}); its columns are {shown}")
        if columns.count(asked) > 1:
            raise DataError(f"{path} has {columns.count(asked)} columns named {asked!r}; rename them apart")
        return asked
    lower = {}
    for column in columns:
        lower.setdefault(column.lower(), []).append(column)
    for name in names:
        found = lower.get(name)
        if found:
            if len(found) > 1:
                raise DataError(f"{path} has several columns that could be the {what} column ({found}); "
                                f"choose one with {option}")
            return found[0]
    if required:
        raise DataError(f"{path} has no {what} column: none of its columns ({shown}) is named "
                        f"{', '.join(names[:6])}, ...; name it with {option}")
    return ""


def _rows_named(rows: list[str], total: int) -> str:
    return ", ".join(rows) + (f" and {total - len(rows):,} more" if total > len(rows) else "")


class _Problems:
    """Rows with one kind of problem: the first few by name, and how many."""

    def __init__(self) -> None:
        self.rows: list[str] = []
        self.count = 0

    def add(self, where: str) -> None:
        self.count += 1
        if len(self.rows) < SHOWN:
            self.rows.append(where)

    def __bool__(self) -> bool:
        return self.count > 0

    def named(self) -> str:
        return _rows_named(self.rows, self.count)


def inspect_table(path: str | Path, text_column: str = "", label_column: str = "", split_column: str = "",
                  progress: Progress = no_progress, max_classes: int = MAX_CLASSES_DEFAULT.value) -> LabelledTable:
    """Check every row of a labelled file and collect its labels and splits (see the module docstring);
    more than ``max_classes`` distinct labels are refused."""
    if "\0" in str(path):
        raise DataError(f"{str(path)[:200]!r}: a file name cannot hold a NUL character")
    path = Path(path).expanduser()
    fmt = table_format(path)
    if fmt is None:
        raise DataError(f"{path}: not a labelled file this reads (.csv, .tsv, .jsonl or .parquet)")
    if not path.is_file():
        raise DataError(f"{path}: no such file" if not path.exists() else f"{path} is not a regular file")
    digest, line_breaks = sha256_and_line_breaks(path, fmt, progress)
    reader = open_table(path, fmt)
    # Rows expected, for progress: a text file's lines less the header (rows may span lines: an upper bound).
    expected = reader.size if reader.size is not None else max(1, line_breaks - (fmt != "jsonl"))
    text = _find_column(path, reader.columns, text_column, TEXT_NAMES, "text", "--text-column")
    label = _find_column(path, reader.columns, label_column, LABEL_NAMES, "label", "--label-column")
    split = _find_column(path, reader.columns, split_column, SPLIT_NAMES, "split", "--split-column", required=False)
    if text == label:
        raise DataError(f"{path}: the text and the label can't both be column {text!r}")
    wanted = [text, label, *([split] if split and split not in (text, label) else [])]
    empty, numbers, no_label, bad_label, bad_split, no_split = (_Problems() for _ in range(6))
    text_numbers = 0  # CSV/TSV texts that are numbers: only all of them make the column suspect
    names: dict[str, int] = {}  # label -> first-seen index
    first_row: dict[str, str] = {}  # label -> where it was first seen
    raw_labels: list[int] = []
    raw_splits: list[str] = []
    rows = 0
    for rows, where, cells in reader.rows(wanted):
        value = cells[0]
        if isinstance(value, str):
            if not value.strip():
                empty.add(where)
            elif NUMBER_RE.fullmatch(value):
                text_numbers += 1
        elif value is None:
            empty.add(where)
        else:
            numbers.add(where)
        try:
            name = label_text(cells[1])
        except TypeError as exc:
            bad_label.add(f"{where} (a {exc})")
            name = None
        if name is None:
            no_label.add(where)
            raw_labels.append(-1)
        else:
            if len(name) > MAX_LABEL_CHARS:
                raise DataError(f"{path}, {where}: the label in column {label!r} is {len(name):,} characters "
                                f"long; is {label!r} a text column? Name the label column with --label-column")
            raw_labels.append(names.setdefault(name, len(names)))
            first_row.setdefault(name, where)
            if len(names) > max_classes:
                raise DataError(f"{path}, column {label!r}: more than {max_classes:,} distinct labels by {where}; "
                                "is it a text or score column? Name the label column with --label-column"
                                + (f", or allow more with --max-classes (up to {MAX_CLASSES:,})"
                                   if max_classes < MAX_CLASSES else ""))
        if split:
            tag = cells[wanted.index(split)]
            tag = tag.strip().lower() if isinstance(tag, str) else tag
            if tag in (None, ""):
                no_split.add(where)
            elif tag not in SPLIT_VALUES:
                bad_split.add(f"{where} ({str(tag)[:20]!r})")
            else:
                raw_splits.append(SPLIT_VALUES[tag])
        if rows % 10_000 == 0:
            progress("check", rows, max(rows, expected))
    progress("check", rows, rows)
    if not rows:
        raise DataError(f"{path} has a header but no rows")
    problems = [
        (numbers, f"column {text!r} holds numbers, not texts, in"),
        (empty, f"column {text!r} is empty (no text) in"),
        (bad_label, f"column {label!r} holds a list or object, not a label, in"),
        (no_label, f"column {label!r} has no label in"),
        (no_split, f"column {split!r} names no split in"),
        (bad_split, f"column {split!r} is not train, validation or test in"),
    ]
    for found, message in problems:
        if found:
            raise DataError(f"{path}: {message} {found.named()}"
                            + (f" of {rows:,} rows" if found.count > 1 else ""))
    if text_numbers == rows:
        raise DataError(f"{path}: column {text!r} holds only numbers, not texts; is the text in another column "
                        f"({', '.join(repr(c) for c in reader.columns if c != text)})? Name it with --text-column")
    check_spellings(path, label, first_row)
    if len(names) < 2:
        raise DataError(f"{path}: column {label!r} holds one class only ({next(iter(names))!r}); "
                        "training needs two classes or more")
    classes = sorted_classes(list(names))
    position = {name: classes.index(name) for name in names}
    first_seen = list(names)
    labels = [position[first_seen[i]] for i in raw_labels]
    counts = Counter(labels)
    warnings = [f"{path}: class {classes[c]!r} has only {n} example{'s' if n > 1 else ''} (fewer than "
                f"{MIN_CLASS_EXAMPLES}): too few to learn it or to measure it" for c, n in sorted(counts.items())
                if n < MIN_CLASS_EXAMPLES]
    return LabelledTable(path, fmt, digest, text, label, split, classes, labels, raw_splits if split else None,
                         warnings)


def table_texts(table: LabelledTable, rows: Collection[int] | None = None) -> Iterator[str]:
    """The texts of a checked table, in row order, read again from the file (pass 3); only those of
    ``rows`` (0-based row indices) when given."""
    for row, _, cells in open_table(table.path, table.format).rows([table.text_column]):
        if rows is None or row - 1 in rows:
            yield cells[0]
