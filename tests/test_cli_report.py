"""The one renderer of metrics and confusion tables, in the layouts the CLI, the card and the app use."""

import pytest

from sentiment_core.evaluation import Metrics
from sentiment_core.mistakes import ErrorRow
from sentiment_core.report import class_table, confusion_table, errors_table, history_table, metrics_table

VAL = Metrics.from_counts(0.2409, 1130, 120, 80, 1170).to_dict()
TEST = Metrics.from_counts(0.2423, 11_373, 1_127, 1_018, 11_482).to_dict()


def test_markdown_metrics_rows_are_splits():
    assert metrics_table({"validation": VAL, "test": TEST}).splitlines() == [
        "| split | reviews | accuracy | precision | recall | F1 | macro-F1 | loss |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        "| validation | 2,500 | 92.00% | 90.70% | 93.60% | 0.9213 | 0.9200 | 0.2409 |",
        "| test | 25,000 | 91.42% | 91.06% | 91.86% | 0.9146 | 0.9142 | 0.2423 |",
    ]


def test_transposed_markdown_has_a_column_per_split_and_leaves_out_empty_ones():
    lines = metrics_table({"validation": VAL, "test": {}}, transpose=True).splitlines()
    assert lines[:3] == ["| | validation |", "|---|---:|", "| reviews | 2,500 |"]
    assert "| accuracy | 92.00% |" in lines and len(lines) == 9


def test_text_tables_line_up():
    lines = metrics_table({"test": TEST}, style="text").splitlines()
    assert lines[0].split() == ["split", "reviews", "accuracy", "precision", "recall", "F1", "macro-F1", "loss"]
    assert set(lines[1]) == {"-", " "} and len({len(line) for line in lines}) == 1
    assert lines[2].split() == ["test", "25,000", "91.42%", "91.06%", "91.86%", "0.9146", "0.9142", "0.2423"]
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


# Three classes: rows are the truth, columns the prediction.
THREE = Metrics.from_confusion(0.5, [[5, 1, 0], [2, 7, 1], [0, 0, 9]]).to_dict()


def test_multiclass_metrics_are_macro_averages():
    assert THREE["accuracy"] == pytest.approx(21 / 25)
    assert THREE["class_precision"] == pytest.approx([5 / 7, 7 / 8, 9 / 10])
    assert THREE["class_recall"] == pytest.approx([5 / 6, 7 / 10, 1.0])
    assert THREE["macro_f1"] == pytest.approx(sum(THREE["class_f1"]) / 3) == THREE["f1"]
    assert THREE["precision"] == pytest.approx(sum(THREE["class_precision"]) / 3)
    assert metrics_table({"test": THREE}).splitlines()[:3] == [
        "| split | reviews | accuracy | macro precision | macro recall | macro-F1 | loss |",
        "|---|---:|---:|---:|---:|---:|---:|",
        "| test | 25 | 84.00% | 82.98% | 84.44% | 0.8315 | 0.5000 |",
    ]


def test_k_by_k_confusion_and_per_class_tables_name_the_labels():
    assert confusion_table(THREE["confusion"], labels=["1-2", "a|b", "9-10"]).splitlines() == [
        "| | predicted 1-2 | predicted a\\|b | predicted 9-10 |", "|---|---:|---:|---:|",
        "| 1-2 | 5 | 1 | 0 |", "| a\\|b | 2 | 7 | 1 |", "| 9-10 | 0 | 0 | 9 |",
    ]
    assert [line.split() for line in class_table(THREE, ["neg", "neu", "pos"], style="text").splitlines()] == [
        ["class", "precision", "recall", "F1", "reviews"], ["-----", "---------", "-------", "------", "-------"],
        ["neg", "71.43%", "83.33%", "0.7692", "6"], ["neu", "87.50%", "70.00%", "0.7778", "10"],
        ["pos", "90.00%", "100.00%", "0.9474", "9"],
    ]
    with pytest.raises(ValueError, match="2 labels for a 3 x 3"):
        confusion_table(THREE["confusion"], labels=["a", "b"])


def test_metrics_recorded_before_macro_f1_get_it_from_their_confusion():
    recorded = ("loss", "accuracy", "precision", "recall", "f1", "confusion", "count")
    old = {k: v for k, v in TEST.items() if k in recorded}
    assert metrics_table({"test": old}) == metrics_table({"test": TEST})
