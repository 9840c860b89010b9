"""The Classify tab's look inside the models: every model on one review with its gradient flow, and the error
explorer; handlers called directly, the endpoints through gradio_client."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio_client import Client

from demo import build_demo
from demo.services import insight as ins
from demo.services.classify import ClassifyProblem
from demo.services.registry import ModelRegistry
from demo.tabs import insight as insight_tab
from demo.tabs.charts import GRADIENT_FLOOR
from sentiment_core import Predictor
from sentiment_core.mistakes import error_table

ROOT = Path(__file__).resolve().parent.parent
REVIEW = "A wonderful film. The cast is great, the story moving, and I loved the ending."


@pytest.fixture
def three(tmp_path: Path, tiny_checkpoint: Path) -> ModelRegistry:
    """The tiny model as the default, with the shipped vanilla RNN and LSTM beside it."""
    shipped = tmp_path / "checkpoints"
    shipped.mkdir()
    shutil.copy(tiny_checkpoint, shipped / "default.safetensors")
    for name in ("tutorial-rnn", "lstm"):
        shutil.copy(ROOT / "checkpoints" / f"{name}.safetensors", shipped / f"{name}.safetensors")
    return ModelRegistry(shipped, tmp_path / "runs", shipped / "default.safetensors")


def components() -> dict:
    """Stand-ins for the components the views key their outputs by."""
    names = ["compare_table", "gradient", "gradient_caption", "err_summary", "err_table", "err_shown"]
    return SimpleNamespace(**{name: name for name in names})


def test_every_model_reads_the_review_selected_first_with_its_gradient_flow(three):
    readings, notes = ins.compare(three, REVIEW, "shipped/lstm")
    assert [r.entry.key for r in readings] == ["shipped/lstm", "shipped/default", "shipped/tutorial-rnn"] and not notes
    for r in readings:
        predictor = three.predictor(r.entry.key)
        assert r.flow.probabilities == pytest.approx(predictor.predict(REVIEW), abs=1e-5)
        assert r.flow.distances == list(range(len(r.flow.tokens) - 1, -1, -1))
    frame = ins.compare_frame(readings, "shipped/lstm")
    assert list(frame["model"]) == ["lstm (selected)", "default", "tutorial-rnn"]
    assert list(frame["test accuracy"])[::2] == ["88.2%", "59.8%"]  # from each checkpoint's header
    assert set(frame["prediction"]) <= {"negative", "positive"}
    spec = json.loads(insight_tab.compare_chart(readings, "shipped/lstm").plot)
    rows = spec["data"]["values"]
    assert {row["series"] for row in rows} == set(frame["model"])  # one line per model
    assert all(row["gradient norm"] >= GRADIENT_FLOOR for row in rows)
    lines = [layer for layer in spec["layer"] if layer["mark"]["type"] == "line"]
    assert len(lines) == 3 and {layer["encoding"]["y"]["scale"]["type"] for layer in lines} == {"log"}
    assert [layer["mark"]["strokeWidth"] for layer in lines] == [3.0, 1.5, 1.5]  # the selected one stands out


def test_the_vanilla_rnns_vanished_gradient_sits_on_the_floor(three):
    long_review = " ".join([REVIEW] * 12)  # about 200 tokens
    readings, _ = ins.compare(three, long_review, "shipped/tutorial-rnn")
    rnn = readings[0].flow
    assert 0.0 in rnn.norms  # underflowed far from the end: a log plot needs the floor
    rows = json.loads(insight_tab.compare_chart(readings, "shipped/tutorial-rnn").plot)["data"]["values"]
    far = [row["gradient norm"] for row in rows if row["series"] == "tutorial-rnn (selected)"
           and row["distance from the end"] >= 100]
    assert GRADIENT_FLOOR in far and max(far) < 1e-9 < 1e-3 < rnn.norms[-1]  # vanished, drawn on the floor
    lstm = next(r.flow for r in readings if r.entry.key == "shipped/lstm")
    assert min(lstm.norms) > GRADIENT_FLOOR  # the LSTM's gates carry it back through the review


def test_comparison_refuses_empty_text_and_unknown_models_and_bounds_huge_text(three):
    for text in ("", "   ", None):
        with pytest.raises(ClassifyProblem, match="Type or paste"):
            ins.compare(three, text, "shipped/default")
    with pytest.raises(ClassifyProblem, match="Nothing to classify"):
        ins.compare(three, "<br /><br />", "shipped/default")
    for bad in ("shipped/nope", "../checkpoints/lstm", "/etc/passwd"):
        with pytest.raises(ClassifyProblem, match="gone or unknown"):
            ins.compare(three, REVIEW, bad)
    huge = "great film " * 200_000  # 2.2 MB
    readings, _ = ins.compare(three, huge, "shipped/default")
    for r in readings:
        assert r.flow.truncated and len(r.flow.tokens) <= three.predictor(r.entry.key).max_tokens
    assert "read only its beginning and end" in insight_tab.compare_caption(readings, [])


def test_at_most_six_models_are_compared(three):
    runs = three.folders["runs"]
    runs.mkdir()
    for i in range(6):
        shutil.copy(three.folders["shipped"] / "default.safetensors", runs / f"run-{i}.safetensors")
    keys, left_out, _ = ins.compared_keys(three, "runs/run-5")
    assert len(keys) == ins.MAX_COMPARED and keys[0] == "runs/run-5" and left_out == 3
    _, notes = ins.compare(three, "Fine.", "runs/run-5")
    assert notes == ["3 more models not compared (at most 6)."]


def test_the_comparison_is_computed_only_while_its_section_is_open(three):
    c = components()
    closed = insight_tab.compare_view(three, c, False, "shipped/default", REVIEW)
    assert all(isinstance(v, type(gr.skip())) and v == gr.skip() for v in closed.values())
    opened = insight_tab.compare_view(three, c, True, "shipped/default", REVIEW)
    assert opened["gradient"] is not None and "vanishing gradient" in opened["gradient_caption"]
    assert opened["compare_table"].data["model"].iloc[0] == "default (selected)"
    empty = insight_tab.compare_view(three, c, True, "shipped/default", "")
    assert empty["compare_table"] is None and empty["gradient"] is None
    assert "Type or paste" in empty["gradient_caption"]


class Stop(Exception):
    pass


def test_the_error_explorer_scores_once_then_reads_its_caches(three, tiny_checkpoint):
    shutil.rmtree(Path(os.environ["SENTIMENT_CACHE_DIR"]) / "errors", ignore_errors=True)  # (the session's cache)
    explorer = ins.ErrorExplorer(three)
    seen = []
    table = explorer.table("shipped/default", "val", lambda stage, done, total: seen.append((stage, done, total)))
    reference = error_table(tiny_checkpoint, "val")
    assert [row.id for row in table.rows] == [row.id for row in reference.rows] and table.rows
    scored = [s for s in seen if s[0] == "classify"]
    assert scored[0][1] == 0 and scored[-1][1] == scored[-1][2] == table.metrics.count

    def refuse(stage, done, total):
        raise Stop(stage)

    assert explorer.table("shipped/default", "val", refuse) is table  # in memory
    assert len(ins.ErrorExplorer(three).table("shipped/default", "val", refuse).rows) == len(table.rows)  # on disk
    for bad in ("shipped/nope", "../../etc/passwd", str(tiny_checkpoint)):
        with pytest.raises(ClassifyProblem, match="gone or unknown"):
            explorer.table(bad, "val")
    with pytest.raises(ClassifyProblem, match="split must be one of"):
        ins.split_of("train")


def test_the_explorer_filters_orders_and_loads_a_clicked_review(three):
    explorer, c = ins.ErrorExplorer(three), components()
    nothing = insight_tab.find_view(explorer, c, "shipped/default", "validation", "any", 0, 0, ins.ORDERS[0], {},
                                    only_if_shown=True)
    assert all(v == gr.skip() for v in nothing.values())  # a filter changed before any table: no scoring
    found = insight_tab.find_view(explorer, c, "shipped/default", "validation", "any", 0, 0, ins.ORDERS[0], {},
                                  progress=lambda *a, **k: None)
    table = explorer.table("shipped/default", "val")
    frame = found["err_table"].data
    assert list(frame["id"]) == [row.id for row in table.rows][:ins.MAX_ROWS]
    assert list(frame["confidence"]) == sorted(frame["confidence"], reverse=True)
    assert f"gets **{len(table.rows):,} of the" in found["err_summary"] and "Click a row" in found["err_summary"]
    least = insight_tab.find_view(explorer, c, "shipped/default", "validation", "positive", 20, 80, ins.ORDERS[1],
                                  found["err_shown"], only_if_shown=True, progress=lambda *a, **k: None)
    rows = least["err_table"].data
    assert set(rows["true label"]) <= {"positive"} and all(20 <= n <= 80 for n in rows["tokens"])
    assert list(rows["confidence"]) == sorted(rows["confidence"])
    bad = insight_tab.find_view(explorer, c, "shipped/default", "validation", "any", 90, 10, ins.ORDERS[0], {},
                                progress=lambda *a, **k: None)
    assert "above the longest" in bad["err_summary"] and bad["err_table"] is None
    bad = insight_tab.find_view(explorer, c, "shipped/default", "validation", "maybe", 0, 0, ins.ORDERS[0], {},
                                progress=lambda *a, **k: None)
    assert "label must be one of" in bad["err_summary"]
    # A click gives the row's full review (found by its id, so sorting the table in the page changes nothing).
    row = table.rows[1]
    clicked = SimpleNamespace(row_value=[row.id, row.label, row.predicted, 0.9, row.tokens, "snippet"])
    assert insight_tab.pick_view(found["err_shown"], clicked) == row.text
    assert insight_tab.pick_view(found["err_shown"], SimpleNamespace(row_value=["neg/0_0"])) == gr.skip()
    assert insight_tab.pick_view({}, clicked) == gr.skip()


def test_the_endpoints_answer_plain_json_and_refuse_bad_input(three, tmp_path):
    demo = build_demo(checkpoint_dir=three.folders["shipped"], runs_dir=tmp_path / "runs", allow_training=False)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = Client(url, verbose=False)
        result = client.predict(REVIEW, "shipped/tutorial-rnn", api_name="/compare_models")
        assert [m["model"] for m in result["models"]] == ["shipped/tutorial-rnn", "shipped/default", "shipped/lstm"]
        first = result["models"][0]
        assert first["selected"] and first["test_accuracy"] == pytest.approx(0.598, abs=1e-3)
        assert len(first["gradient"]["norms"]) == len(first["gradient"]["tokens"])
        assert first["probabilities"] == pytest.approx(
            Predictor.from_checkpoint(three.entry("shipped/tutorial-rnn").path).predict(REVIEW), abs=1e-5)
        errors = client.predict(model="shipped/default", split="validation", label="negative", top=3,
                                api_name="/errors")
        assert errors["split"] == "validation" and len(errors["rows"]) == min(3, errors["false_positives"])
        assert all(row["label"] == "negative" and row["predicted"] == "positive" and row["text"]
                   for row in errors["rows"])
        for kwargs, message in [({"model": "/etc/passwd"}, "gone or unknown"), ({"split": "train"}, "split must"),
                                ({"top": 5000}, "top must"), ({"min_tokens": -1}, "min_tokens must"),
                                ({"least_confident": "yes"}, "least_confident")]:
            with pytest.raises(Exception, match=message):
                client.predict(**kwargs, api_name="/errors")
        for args, message in [(("", None), "Type or paste"), ((REVIEW, "shipped/nope"), "gone or unknown")]:
            with pytest.raises(Exception, match=message):
                client.predict(*args, api_name="/compare_models")
    finally:
        demo.close()
