"""The one renderer of each kind of table: metrics, confusion matrix, training history.

The CLI prints them as plain text; the model card and the app show them as Markdown::

    metrics_table({"validation": val, "test": test})                  # splits as rows (CLI, card)
    metrics_table({"validation": val, "test": test}, transpose=True)  # splits as columns (the app)
    confusion_table(test["confusion"], style="text", labels=labels)  # k x k, any number of classes
    class_table(test, labels)                                         # precision, recall, F1 per class
    timings_table([{"phase": "tokenizing", "seconds": 41.0, "note": ""}, ...])
    errors_table(table.select(top=50), style="text")                  # misclassified reviews
    reliability_table(metrics["calibration"]["val_reliability"])      # confidence bins vs accuracy
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import markdown
from .data.limits import SHOWN_CLASSES
from .tokenizer import clean_text

# (column title, metrics key, format) of a metrics table, in order: two classes (precision,
# recall and F1 of the positive class), then more (their macro averages).
METRICS = (
    ("reviews", "count", "{:,}"),
    ("accuracy", "accuracy", "{:.2%}"),
    ("precision", "precision", "{:.2%}"),
    ("recall", "recall", "{:.2%}"),
    ("F1", "f1", "{:.4f}"),
    ("macro-F1", "macro_f1", "{:.4f}"),
    ("loss", "loss", "{:.4f}"),
)
MULTICLASS_METRICS = (
    ("reviews", "count", "{:,}"),
    ("accuracy", "accuracy", "{:.2%}"),
    ("macro precision", "precision", "{:.2%}"),
    ("macro recall", "recall", "{:.2%}"),
    ("macro-F1", "macro_f1", "{:.4f}"),
    ("loss", "loss", "{:.4f}"),
)
CLASS_METRICS = (
    ("precision", "class_precision", "{:.2%}"),
    ("recall", "class_recall", "{:.2%}"),
    ("F1", "class_f1", "{:.4f}"),
)
HISTORY = (
    ("epoch", "epoch", "{}"),
    ("train loss", "train_loss", "{:.4f}"),
    ("val loss", "val_loss", "{:.4f}"),
    ("val accuracy", "val_accuracy", "{:.2%}"),
)
STYLES = ("markdown", "text")
BAR_WIDTH = 20  # characters of a reliability bar: one per 5 percentage points


def render(rows: Sequence[Sequence[str]], style: str = "markdown", align: str = "") -> str:
    """A table whose first row is the header; ``align`` has an 'l' or 'r' per column
    (default: the first column left, the others right)."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, not {style!r}")
    columns = len(rows[0])
    align = align or "l" + "r" * (columns - 1)
    if style == "markdown":
        def line(cells: Sequence[str]) -> str:
            return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"
        rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
        return "\n".join([line(rows[0]), rule, *map(line, rows[1:])])
    widths = [max(len(r[i]) for r in rows) for i in range(columns)]
    lines = ["  ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(r, widths, align)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def complete(metrics: dict[str, Any]) -> dict[str, Any]:
    """A metrics dict with macro-F1 and the per-class figures, computed from its confusion matrix
    when it lacks them (checkpoints written before they were recorded)."""
    if not metrics or "macro_f1" in metrics:
        return metrics
    from .evaluation import Metrics  # evaluation needs torch; the tables alone don't

    return {**Metrics.from_confusion(metrics["loss"], metrics["confusion"]).to_dict(), **metrics}


def metrics_table(metrics: dict[str, dict[str, Any]], style: str = "markdown", transpose: bool = False) -> str:
    """Named metric dicts (``{"validation": {...}, "test": {...}}``; empty ones are left out) as a
    table with a row per split, or with ``transpose`` a column per split. Two classes: precision,
    recall and F1 of the positive class, and macro-F1; more: macro averages."""
    splits = {name: complete(m) for name, m in metrics.items() if m}
    multiclass = any(len(m["confusion"]) > 2 for m in splits.values())
    columns = MULTICLASS_METRICS if multiclass else METRICS
    rows = [["split", *(title for title, _, _ in columns)]]
    rows += [[name, *(fmt.format(m[key]) for _, key, fmt in columns)] for name, m in splits.items()]
    if transpose:
        rows = [list(r) for r in zip(*rows)]
        rows[0][0] = ""
    return render(rows, style)


def confusion_table(confusion: Sequence[Sequence[int]], style: str = "markdown",
                    labels: Sequence[str] | None = None) -> str:
    """A k x k confusion matrix (two classes: ``[[tn, fp], [fn, tp]]``) with the truth as rows and
    the prediction as columns; ``labels`` default to negative, positive for two classes."""
    if not labels:
        labels = ["negative", "positive"] if len(confusion) == 2 else [str(c) for c in range(len(confusion))]
    if len(labels) != len(confusion):
        raise ValueError(f"{len(labels)} labels for a {len(confusion)} x {len(confusion)} confusion matrix")
    kept = _shown_classes([sum(row) for row in confusion])
    names = [_cell(labels[c], style) for c in kept]
    corner = "" if style == "markdown" else "truth \\ predicted"
    header = [corner, *(f"predicted {name}" if style == "markdown" else name for name in names)]
    body = ([name, *(f"{confusion[c][p]:,}" for p in kept)] for name, c in zip(names, kept))
    return render([header, *body], style) + _left_out(confusion, kept)


def class_table(metrics: dict[str, Any], labels: Sequence[str], style: str = "markdown") -> str:
    """Precision, recall, F1 and the number of reviews (support) of each class, from a metrics dict."""
    metrics = complete(metrics)
    support = [sum(row) for row in metrics["confusion"]]
    rows = [["class", *(title for title, _, _ in CLASS_METRICS), "reviews"]]
    kept = _shown_classes(support)
    for c in kept:
        rows.append([_cell(labels[c], style), *(fmt.format(metrics[key][c]) for _, key, fmt in CLASS_METRICS),
                     f"{support[c]:,}"])
    return render(rows, style) + _left_out(metrics["confusion"], kept)


def _shown_classes(support: Sequence[int]) -> list[int]:
    """The classes a table shows: all, or the ``SHOWN_CLASSES`` with the most reviews, in class order."""
    if len(support) <= SHOWN_CLASSES.value:
        return list(range(len(support)))
    return sorted(sorted(range(len(support)), key=lambda c: -support[c])[: SHOWN_CLASSES.value])


def _left_out(confusion: Sequence[Sequence[int]], kept: list[int]) -> str:
    """One line on the classes a table leaves out (none: nothing): how many, their reviews, how many right."""
    rest = sorted(set(range(len(confusion))) - set(kept))
    if not rest:
        return ""
    reviews, right = sum(sum(confusion[c]) for c in rest), sum(confusion[c][c] for c in rest)
    return (f"\n\n{len(rest):,} more classes with fewer reviews are left out of this table: {reviews:,} "
            f"reviews, {right:,} of them classified right.")


def _cell(text: str, style: str) -> str:
    """A label as a table cell: one line; in Markdown, shown as typed (``markdown.text``: no tag, link or
    emphasis it holds comes alive, and its pipes stay inside the cell)."""
    text = " ".join(str(text).split())
    return markdown.text(text) if style == "markdown" else text


def history_table(history: Sequence[dict[str, Any]], style: str = "markdown") -> str:
    """One row per epoch: train loss, validation loss and accuracy."""
    rows = [[title for title, _, _ in HISTORY]]
    rows += [[fmt.format(h[key]) for _, key, fmt in HISTORY] for h in history]
    return render(rows, style, align="r" * len(HISTORY))


def format_seconds(seconds: float) -> str:
    """``0.4 s``, ``41 s``, ``2 min 05 s``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def timings_table(timings: Sequence[dict[str, Any]], style: str = "markdown") -> str:
    """Where a run's time went: a row per phase (``Timing`` events as dicts), its share, then the total."""
    total = sum(t["seconds"] for t in timings)
    # On a narrow page a Markdown cell wraps at spaces: keep "1 min 05 s" on one line.
    glue = "\u00a0" if style == "markdown" else " "

    def seconds(value: float) -> str:
        return format_seconds(value).replace(" ", glue)

    rows = [["phase", "time", "share", ""]]
    for t in timings:
        share = f"{t['seconds'] / total:.0%}" if total > 0 else ""
        rows.append([t["phase"], seconds(t["seconds"]), share, t.get("note", "")])
    rows.append(["total", seconds(total), "", ""])
    return render(rows, style, align="lrrl")


def errors_table(rows: Sequence[Any], style: str = "markdown", snippet: int = 60) -> str:
    """Misclassified reviews (``mistakes.ErrorRow``), one per line, in the order given, each text
    shortened to its first ``snippet`` characters on one line."""
    table = [["#", "id", "truth", "predicted", "confidence", "tokens", "text"]]
    for rank, row in enumerate(rows, 1):
        text = clean_text(row.text)
        text = text if len(text) <= snippet else text[: snippet - 3] + "..."
        table.append([str(rank), *(_cell(value, style) for value in (row.id, row.label, row.predicted)),
                      f"{row.confidence:.1%}", f"{row.tokens:,}", _cell(text, style)])
    return render(table, style, align="rlllrrl")


def reliability_bar(accuracy: float, confidence: float, width: int = BAR_WIDTH) -> str:
    """Accuracy as a bar of ``width`` characters (█ right, ░ the rest) with ┃ at the mean confidence:
    in a calibrated bin the bar ends at the mark."""
    cells = ["█" if i < round(accuracy * width) else "░" for i in range(width)]
    cells[min(width - 1, int(confidence * width))] = "┃"
    return "".join(cells)


def reliability_table(bins: Sequence[dict[str, Any]], style: str = "markdown", unit: str = "texts") -> str:
    """A reliability diagram as a table: per confidence bin (``calibration.Bin`` dicts), how many
    ``unit`` fell in it, their mean confidence, their accuracy, and both as a bar."""
    rows = [["confidence", unit, "mean confidence", "accuracy", "accuracy ┃ confidence"]]
    for b in bins:
        bar = reliability_bar(b["accuracy"], b["confidence"])
        rows.append([f"{b['lower']:.0%}–{b['upper']:.0%}", f"{b['count']:,}", f"{b['confidence']:.1%}",
                     f"{b['accuracy']:.1%}", f"`{bar}`" if style == "markdown" else bar])
    return render(rows, style, align="lrrrl")
