"""A model entry knows its classes and its data: the error explorer and ``/errors`` score a model trained on its
own file on that file's split (never on IMDB), for any number of classes; the comparison keeps to one label set;
own-data intake caps, checks once, cleans up and prunes its copies."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from gradio_client import Client

from demo import build_demo
from demo.services import insight as ins
from demo.services import own_data
from demo.services.classify import ClassifyProblem
from demo.services.registry import ModelEntry, ModelRegistry
from demo.tabs import insight as insight_tab
from sentiment_core import preset, train

MOODS = {"angry": "awful dreadful hate", "calm": "fine quiet plain", "happy": "great wonderful love"}
NO_IMDB = "/nowhere/aclImdb"  # the app's IMDB setting in these tests: any read of IMDB fails loudly


def moods_csv(path: Path, n: int = 300) -> Path:
    names = list(MOODS)
    texts = [f"A {MOODS[names[i % 3]].split()[i % 2]} day, {MOODS[names[i % 3]].split()[2]} it {i}."
             for i in range(n)]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"text": texts, "mood": [names[i % 3] for i in range(n)]}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def moved_runs(tmp_path_factory) -> Path:
    """A runs folder holding a 3-class model trained (``quick``) on its copy under ``data/``, as the app keeps
    it; then moved elsewhere, so the path the checkpoint records is gone and only the copy beside it is left."""
    first = tmp_path_factory.mktemp("first") / "runs"
    data = moods_csv(first / "data" / "0123456789abcdef.csv")
    model_cfg, train_cfg = preset("quick", data=str(data), label_column="mood", epochs=3, max_tokens=50, embed_dim=16,
                                  hidden_dim=16, output=str(first / "mood.safetensors"),
                                  cache_dir=str(first.parent / "cache"))
    events = list(train(model_cfg, train_cfg))
    assert events[-1].status == "finished", events[-1].error
    moved = tmp_path_factory.mktemp("moved") / "runs"
    shutil.copytree(first, moved)
    shutil.rmtree(first)
    return moved


@pytest.fixture
def registry(tmp_path, tiny_checkpoint, moved_runs) -> ModelRegistry:
    """The tiny model (negative/positive, trained on a CSV) shipped, the 3-class model among the runs."""
    shipped = tmp_path / "checkpoints"
    shipped.mkdir()
    shutil.copy(tiny_checkpoint, shipped / "default.safetensors")
    return ModelRegistry(shipped, moved_runs, shipped / "default.safetensors")


def test_an_entry_knows_its_classes_positive_class_and_data(registry, synthetic_data):
    tiny, mood = registry.entry("shipped/default"), registry.entry("runs/mood")
    assert tiny.labels == ["negative", "positive"] and tiny.positive_class == "positive"
    assert tiny.training_data.kind == "file" and tiny.data_file() == synthetic_data
    assert mood.labels == ["angry", "calm", "happy"] and mood.positive_class is None and mood.examples == "rows"
    assert mood.training_data.label_column == "mood" and not Path(mood.training_data.path).exists()
    assert mood.data_file() == mood.path.parent / "data" / "0123456789abcdef.csv"  # the copy beside it
    assert mood.test_figures["count"] > 0 and "3 classes (angry, calm, happy)" in mood.summary()
    meta = {"labels": ["bad", "good"], "metrics": {}, "info": {}, "model_config": {},
            "train_config": {"data": "reviews.csv", "text_column": "t", "label_column": "l"}}
    good = ModelEntry("runs/x", Path("x.safetensors"), meta, ("x", 0, 0))
    assert good.positive_class == "good" and good.training_data.kind == "file" and good.data_file() is None
    assert ModelEntry("runs/y", Path("y"), {**meta, "train_config": {"data": "", "imdb_labels": "rating-bins"}},
                      ("y", 0, 0)).training_data.kind == "ratings"


def test_the_explorer_scores_a_three_class_own_data_model_on_its_own_split(registry):
    explorer = ins.ErrorExplorer(registry, NO_IMDB)
    table = explorer.table("runs/mood", "val")
    assert table.labels == ["angry", "calm", "happy"] and len(table.metrics.confusion) == 3
    rows_of_file = registry.entry("runs/mood").meta["metrics"]["val"]["count"]
    assert table.metrics.count == rows_of_file < 50  # the file's validation rows, as in training: not IMDB's
    rows = ins.select(table, "calm", 0, 0, False, 0)
    assert all(row.label == "calm" for row in rows)
    with pytest.raises(ClassifyProblem, match="label must be one of any, angry, calm, happy"):
        ins.select(table, "positive", 0, 0, False, 0)
    c = insight_tab.InsightComponents(*[f"c{i}" for i in range(14)])
    found = insight_tab.find_view(explorer, c, "runs/mood", "validation", "any", 0, 0, ins.ORDERS[0], {},
                                  progress=lambda *a, **k: None)
    assert f"of the {rows_of_file} validation rows** wrong" in found[c.err_summary]
    assert [choice[0] for choice in insight_tab.clear_view(registry, c, "runs/mood")[c.err_label].choices] == [
        "any", "angry", "calm", "happy"]
    answer = ins.error_json(table, "runs/mood", table.rows, len(table.rows))
    assert answer["labels"] == table.labels and answer["reviews"] == rows_of_file and "false_positives" not in answer


def test_the_summary_names_each_kind_of_mistake_of_k_classes(registry):
    table = ins.ErrorExplorer(registry, NO_IMDB).table("runs/mood", "val")
    table.metrics.confusion = [[8, 2, 0], [1, 9, 0], [0, 3, 7]]
    table.metrics.count = 30
    text = insight_tab.summary(table, "runs/mood", 0, 0, "rows")
    assert "**6 of the 30 validation rows** wrong" in text
    assert "3 <span class=\"sentiment-happy\">happy</span> rows called calm" in text


def test_a_negative_positive_own_data_model_is_scored_on_its_file_not_on_imdb(registry):
    table = ins.ErrorExplorer(registry, NO_IMDB).table("shipped/default", "val")
    assert table.labels == ["negative", "positive"] and table.metrics.count == 200  # the CSV's validation rows
    assert table.rows and all(row.id.isdigit() for row in table.rows)  # row numbers of the file, not IMDB ids


def test_a_model_whose_file_is_gone_says_so(registry, tmp_path):
    runs = tmp_path / "elsewhere"
    runs.mkdir()
    shutil.copy(registry.entry("runs/mood").path, runs / "orphan.safetensors")  # without its data/ folder
    orphans = ModelRegistry(tmp_path / "none", runs)
    with pytest.raises(ClassifyProblem, match=r"0123456789abcdef\.csv, which is no longer on this server"):
        ins.ErrorExplorer(orphans, NO_IMDB).table("runs/orphan", "val")


def test_the_comparison_keeps_to_the_selected_models_classes(registry):
    keys, left_out, other = ins.compared_keys(registry, "runs/mood")
    assert keys == ["runs/mood"] and not left_out and other == 1
    readings, notes = ins.compare(registry, "A wonderful day.", "runs/mood")
    frame = ins.compare_frame(readings, "runs/mood")
    assert list(frame.columns)[3:6] == ["P(angry)", "P(calm)", "P(happy)"]
    assert notes == ["1 model with other classes not compared."]
    readings, _ = ins.compare(registry, "A wonderful film.", "shipped/default")
    assert [r.entry.key for r in readings] == ["shipped/default"]
    assert "P(positive)" in ins.compare_frame(readings, "shipped/default").columns


def test_errors_endpoint_scores_own_data_models_on_their_own_split(registry, tmp_path):
    demo = build_demo(checkpoint_dir=registry.folders["shipped"], runs_dir=registry.folders["runs"],
                      allow_training=False, data=NO_IMDB)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = Client(url, verbose=False)
        mood = client.predict(model="runs/mood", split="validation", label="happy", api_name="/errors")
        assert mood["labels"] == ["angry", "calm", "happy"]
        assert mood["reviews"] == registry.entry("runs/mood").meta["metrics"]["val"]["count"]
        assert len(mood["confusion"]) == 3 and all(row["label"] == "happy" for row in mood["rows"])
        tiny = client.predict(model="shipped/default", split="test", api_name="/errors")
        assert tiny["labels"] == ["negative", "positive"] and tiny["reviews"] == 200
        assert tiny["errors"] == tiny["false_positives"] + tiny["false_negatives"] > 0
    finally:
        demo.close()


# ---------------------------------------------------------------------------------------------
# Own-data intake


def test_a_named_file_over_the_upload_limit_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "named"
    moods_csv(folder / "big.csv")
    monkeypatch.setattr(own_data, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(own_data.DataSourceError, match=r"big\.csv is .* MB; the limit is"):
        own_data.check_file(None, "big.csv", "", "mood", folder)


def test_a_file_is_checked_once_per_version(tmp_path, monkeypatch):
    folder = tmp_path / "named"
    path = moods_csv(folder / "once.csv")
    calls = []
    real = own_data.CHECKER.check
    monkeypatch.setattr(own_data.CHECKER, "check", lambda *a, **k: calls.append(a) or real(*a, **k))
    for _ in range(3):
        own_data.preview("file", None, "once.csv", "", "mood", folder)
    own_data.overrides("file", None, "once.csv", "", "mood", tmp_path / "runs", folder)
    assert len(calls) == 1
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new version is checked again
    own_data.preview("file", None, "once.csv", "", "mood", folder)
    assert len(calls) == 2


def test_a_failed_copy_leaves_no_temp_file(tmp_path, monkeypatch):
    folder = tmp_path / "named"
    moods_csv(folder / "copy.csv")

    def refuse(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(own_data.DataSourceError, match="disk is full"):
        own_data.overrides("file", None, "copy.csv", "", "mood", tmp_path / "runs", folder)
    monkeypatch.undo()
    assert not [p for p in (tmp_path / "runs" / "data").iterdir()]


def test_copies_no_run_records_are_pruned(tmp_path, moved_runs):
    runs = tmp_path / "runs"
    shutil.copytree(moved_runs, runs)
    old = time.time() - 2 * own_data.COPY_GRACE_S
    stale, in_use, _ = (moods_csv(runs / "data" / f"{name}.csv", 30) for name in ("stale", "in-use", "fresh"))
    for path in (stale, in_use, runs / "data" / "0123456789abcdef.csv"):
        os.utime(path, (old, old))
    gone = own_data.prune_copies(runs, keep=[str(in_use)])
    assert gone == [stale]
    assert sorted(p.name for p in (runs / "data").iterdir()) == ["0123456789abcdef.csv", "fresh.csv", "in-use.csv"]
