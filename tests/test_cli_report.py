"""The one renderer of metrics and confusion tables, in the layouts the CLI, the card and the app use."""

import pytest

from sentiment_core.errors import ErrorRow
from sentiment_core.evaluation import Metrics
from sentiment_core.report import confusion_table, errors_table, history_table, metrics_table

VAL = Metrics.from_counts(0.2409, 1130, 120, 80, 1170).to_dict()
TEST = Metrics.from_counts(0.2423, 11_373, 1_127, 1_018, 11_482).to_dict()


def test_markdown_metrics_rows_are_splits():
    assert metrics_table({"validation": VAL, "test": TEST}).splitlines() == [
        "| split | reviews | accuracy | precision | recall | F1 | loss |",
        "|---|---:|---:|---:|---:|---:|---:|",
        "| validation | 2,500 | 92.00% | 90.70% | 93.60% | 0.9213 | 0.2409 |",
        "| test | 25,000 | 91.42% | 91.06% | 91.86% | 0.9146 | 0.2423 |",
    ]


def test_transposed_markdown_has_a_column_per_split_and_leaves_out_empty_ones():
    lines = metrics_table({"validation": VAL, "test": {}}, transpose=True).splitlines()
    assert lines[:3] == ["| | validation |", "|---|---:|", "| reviews | 2,500 |"]
    assert "| accuracy | 92.00% |" in lines and len(lines) == 8


def test_text_tables_line_up():
    lines = metrics_table({"test": TEST}, style="text").splitlines()
    assert lines[0].split() == ["split", "reviews", "accuracy", "precision", "recall", "F1", "loss"]
    assert set(lines[1]) == {"-", " "} and len({len(line) for line in lines}) == 1
    assert lines[2].split() == ["test", "25,000", "91.42%", "91.06%", "91.86%", "0.9146", "0.2423"]
    assert confusion_table(TEST["confusion"], style="text").splitlines() == [
        "truth \\ predicted  negative  positive",
        "-----------------  --------  --------",
        "negative             11,373     1,127",
        "positive              1,018    11,482",
    ]


def test_markdown_confusion_and_history():
    assert confusion_table(TEST["confusion"]).splitlines() == [
        "| | predicted negative | predicted positive |", "|---|---:|---:|",
        "| negative | 11,373 | 1,127 |", "| positive | 1,018 | 11,482 |",
    ]
    history = [{"epoch": 1, "step": 9, "train_loss": 0.48, "val_loss": 0.27, "val_accuracy": 0.888}]
    assert history_table(history).splitlines() == [
        "| epoch | train loss | val loss | val accuracy |", "|---:|---:|---:|---:|", "| 1 | 0.4800 | 0.2700 | 88.80% |",
    ]


def test_unknown_style_is_an_error():
    with pytest.raises(ValueError, match="style"):
        metrics_table({"test": TEST}, style="html")


ROWS = [
    ErrorRow("neg/7_1", "negative", "positive", 0.995, 0.995, 1_234, "Loved | hated it.<br /><br />Mixed   feelings."),
    ErrorRow("pos/9_8", "positive", "negative", 0.3, 0.7, 12, "Fine."),
]


def test_errors_table_puts_each_review_on_one_line_and_escapes_markdown():
    assert errors_table(ROWS, snippet=20).splitlines() == [
        "| # | id | truth | predicted | confidence | tokens | text |", "|---:|---|---|---|---:|---:|---|",
        "| 1 | neg/7_1 | negative | positive | 99.5% | 1,234 | Loved \\| hated it.... |",
        "| 2 | pos/9_8 | positive | negative | 70.0% | 12 | Fine. |",
    ]
    lines = errors_table(ROWS, style="text").splitlines()
    assert lines[2].split()[-6:] == ["Loved", "|", "hated", "it.", "Mixed", "feelings."]
    assert len({len(line) for line in lines[:2]}) == 1  # header and rule line up
