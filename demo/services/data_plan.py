"""What a run will do with a labelled file, shown before Start: the preset the Train tab opens on for it
(``sentiment_core.fit``), the form's values fitted to the file, and a few lines of plan.

No Gradio here: the tab turns the ``Plan`` into component updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sentiment_core import markdown as md
from sentiment_core.data import LabelledTable
from sentiment_core.data.table import table_texts
from sentiment_core.data.workers import tokenize_stream
from sentiment_core.fit import SMALL_EXAMPLES, DataStats, fitted_preset, plan_lines, preset_for
from sentiment_core.vocab import Vocab

from . import form

COUNTED_FORMATS = ("csv", "tsv", "jsonl", "json")  # text files re-read here to count words; parquet is not


@dataclass(frozen=True)
class Plan:
    """The preset a file opens on, the form values fitted to it, and the plan in Markdown."""

    preset: str
    settings: dict[str, Any]
    markdown: str


def file_stats(table: LabelledTable, vocab_size: int, min_freq: int, lowercase: bool) -> DataStats:
    """Rows per class of a checked file, and, for a small text file, the words a vocabulary would keep."""
    counts = [0] * len(table.classes)
    for label in table.labels:
        counts[label] += 1
    words = None
    if len(table) <= SMALL_EXAMPLES and table.format in COUNTED_FORMATS:
        tokens = tokenize_stream(table_texts(table), len(table))
        words = len(Vocab.build(tokens, vocab_size, min_freq, lowercase)) - 2  # less <pad> and <unk>
    return DataStats(dict(zip(table.classes, counts)), words)


def plan(table: LabelledTable, cap: int | None = None) -> Plan:
    """The preset for ``table`` (``fit.preset_for``), fitted to it, as the form's values and a plan."""
    rows = DataStats({"all": len(table)})
    name = preset_for(rows)
    base = fitted_preset(name, rows)[1]
    stats = file_stats(table, base.vocab_size, base.min_freq, base.lowercase)
    model_cfg, train_cfg, _ = fitted_preset(name, stats)
    settings = {f.name: getattr(train_cfg if hasattr(train_cfg, f.name) else model_cfg, f.name) for f in form.FORM}
    if cap:
        for f in form.FORM:
            if f.capped:
                settings[f.name] = min(settings[f.name] or cap, cap)
    lines = [f"**Plan for this file** (preset `{name}`, fitted to it):"]
    lines += [("⚠️ " if line.startswith("Too few") else "") + md.text(line)
              for line in plan_lines(name, stats, model_cfg, train_cfg)]
    return Plan(name, settings, "  \n".join(lines))
