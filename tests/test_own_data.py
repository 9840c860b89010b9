"""The Train tab's data source: own files by upload or by name (never outside their folders), checked before a
run starts; multi-class models in the Classify and batch views."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pandas as pd
import pytest
from gradio.context import LocalContext

from demo.services import batch, classify, form, own_data
from demo.services.registry import ModelRegistry
from demo.services.worker import Run, TrainingWorker
from demo.tabs import classify_views
from demo.tabs import train as tt
from demo.tabs import train_views as views
from sentiment_core import Predictor, preset, train
from sentiment_core.evaluation import Metrics

MOODS = {"angry": "awful dreadful", "calm": "fine quiet", "happy": "great wonderful"}


def moods_csv(path: Path, n: int = 300) -> Path:
    names = list(MOODS)
    pd.DataFrame({"text": [f"A {MOODS[names[i % 3]].split()[i % 2]} day number {i}." for i in range(n)],
                  "mood": [names[i % 3] for i in range(n)]}).to_csv(path, index=False)
    return path


class Received:
    """Gradio's record of the files its upload route received: here, every file in the upload folder."""

    def __init__(self, folder: Path):
        self.folder = folder.resolve()

    def __contains__(self, path: str) -> bool:
        return Path(path).resolve().is_relative_to(self.folder)


@pytest.fixture
def uploads(tmp_path, monkeypatch) -> Path:
    """Gradio's upload folder for this test, inside a request whose app received every file in it."""
    folder = tmp_path / "gradio-uploads"
    folder.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    token = LocalContext.blocks.set(SimpleNamespace(upload_file_set=Received(folder)))
    yield folder
    LocalContext.blocks.reset(token)


class FakeWorker(TrainingWorker):
    """Records what a Start would run instead of running it."""

    def start(self, run, model_cfg, train_cfg, info):
        self.started = (run, model_cfg, train_cfg, info)
        return run


@pytest.fixture
def tab(tmp_path, tiny_checkpoint) -> tt.TrainTab:
    shipped, runs = tmp_path / "checkpoints", tmp_path / "runs"
    shipped.mkdir()
    shutil.copy(tiny_checkpoint, shipped / "default.safetensors")
    registry = ModelRegistry(shipped, runs, shipped / "default.safetensors")
    return tt.TrainTab(FakeWorker(threads=1), registry, runs, None, None, None)


def settings() -> list:
    values = form.preset_settings("quick")
    return [values[f] for f in form.FIELDS]


def test_an_uploaded_file_is_checked_copied_and_trained_on(tab, uploads):
    upload = moods_csv(uploads / "moods.csv")
    note = tab.start("quick", "moods", *settings(), "file", str(upload), "", "mood")
    assert note == "Started **moods** (moods.csv: 300 rows, 3 classes)."
    _, _, train_cfg, _ = tab.worker.started
    copy = Path(train_cfg.data)
    assert copy.parent == tab.runs_dir / "data" and copy.read_bytes() == upload.read_bytes()
    assert (train_cfg.text_column, train_cfg.label_column, train_cfg.imdb_labels) == ("text", "mood", "polarity")


@pytest.mark.imdb
def test_imdb_sources_set_the_labels_and_old_api_callers_keep_the_preset(tab):
    tab.start("quick", "r", *settings(), "ratings")
    assert tab.worker.started[2].imdb_labels == "rating-bins" and tab.worker.started[2].data == tab.data  # IMDB
    tab.start("ratings", "p", *settings())  # no data arguments: the preset decides, as before
    assert tab.worker.started[2].imdb_labels == "rating-bins"
    tab.start("ratings", "q", *settings(), "imdb")
    assert tab.worker.started[2].imdb_labels == "polarity"
    with pytest.raises(gr.Error, match="Unknown data source 'tweets'"):
        tab.start("quick", "x", *settings(), "tweets")


def test_files_outside_the_upload_folder_or_the_data_folder_are_refused(tab, uploads, tmp_path):
    outside = moods_csv(tmp_path / "secret.csv")
    with pytest.raises(gr.Error, match="not uploaded to this app"):
        tab.start("quick", "x", *settings(), "file", str(outside), "", "mood")
    with pytest.raises(gr.Error, match="Upload a labelled file"):
        tab.start("quick", "x", *settings(), "file", None, "", "mood")
    with pytest.raises(gr.Error, match="This server reads no files by name"):  # no training data folder here
        tab.start_run("quick", "x", dict(zip(form.FIELDS, settings())), None,
                      {"data_source": "file", "data_file": "/etc/passwd", "label_column": "mood"})
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    moods_csv(data_dir / "ok.csv")
    tab.data_dir = data_dir
    for name in ("../secret.csv", str(outside), "/etc/passwd", "missing.csv"):
        with pytest.raises(gr.Error, match=r"No file .* in this server's training data folder"):
            tab.start("quick", "x", *settings(), "file", None, name, "", "mood")
    assert tab.start("quick", "named", *settings(), "file", None, "ok.csv", "", "mood").startswith("Started")


def test_a_bad_file_is_refused_with_its_own_name_before_anything_runs(tab, uploads):
    bad = uploads / "reviews.csv"
    bad.write_text("text,label\nfine,pos\n,neg\n")
    with pytest.raises(gr.Error, match=r"reviews\.csv: column 'text' is empty \(no text\) in row 2 \(line 3\)"):
        tab.start("quick", "x", *settings(), "file", str(bad), "", "")
    assert not hasattr(tab.worker, "started")
    message = own_data.preview("file", str(bad), None, "", "", None, uploads)
    assert message.startswith("**Cannot train on this file:** reviews.csv: column 'text' is empty")
    assert str(uploads) not in message  # the server's path stays private


def test_the_preview_summarises_classes_and_warns_about_rare_ones(uploads):
    path = moods_csv(uploads / "moods.csv")
    with open(path, "a") as f:
        f.write("A rare one.,sleepy\n")
    text = own_data.preview("file", str(path), None, "", "mood", None, uploads)
    assert "**moods.csv**: 301 rows" in text and "4 classes: `angry` (100)" in text
    assert "⚠️ moods.csv: class 'sleepy' has only 1 example" in text
    assert own_data.preview("imdb", str(path), None, "", "", None) == ""


@pytest.fixture(scope="module")
def mood_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("moods")
    model_cfg, train_cfg = preset("quick", data=str(moods_csv(folder / "m.csv", 600)), label_column="mood",
                                  epochs=3, embed_dim=16, hidden_dim=16, output=str(folder / "m.safetensors"),
                                  cache_dir=str(folder / "cache"))
    events = list(train(model_cfg, train_cfg))
    assert events[-1].status == "finished", events[-1].error
    return Path(events[-1].path)


def test_the_classify_view_names_the_class_it_explains(mood_model):
    predictor = Predictor.from_checkpoint(mood_model)
    analysis = predictor.analyze("A great day, wonderful.")
    known = classify.known_words(predictor, analysis.tokens)
    line = classify_views.describe(analysis, 200, known)
    assert "**" in line and "happy" in line.split("·")[0] and "towards happy:" in line
    assert "follow **happy**: green towards it, red away from it" in line
    chart = classify_views.running_chart(analysis)
    assert '"title": "P(happy)"' in chart.plot and '"text": "not happy"' in chart.plot
    assert classify.explanation_json(analysis, known)["target"] == "happy"


def test_batch_mode_gives_each_class_its_probability(mood_model, tmp_path, uploads):
    registry = ModelRegistry(mood_model.parent, tmp_path / "runs", mood_model)
    upload = uploads / "batch.csv"
    pd.DataFrame({"text": ["A dreadful day.", "A quiet day.", "A wonderful day."]}).to_csv(upload, index=False)
    preview, csv_path, message = batch.classify_file(registry, registry.default_key(), str(upload),
                                                     out_dir=tmp_path / "out", allowed_root=uploads)
    assert preview["prediction"].tolist() == ["angry", "calm", "happy"]
    assert pd.read_csv(csv_path).columns.tolist() == ["text", "prediction", "p_angry", "p_calm", "p_happy",
                                                      "known_words"]
    assert message.endswith(": 1 angry, 1 calm, 1 happy.")


def test_results_of_a_multiclass_run_name_the_classes():
    run = Run("r", "r.safetensors", "quick", {})
    confusion = [[5, 1, 0], [2, 7, 1], [0, 0, 9]]
    metrics = Metrics.from_confusion(0.5, confusion).to_dict()
    run.events = [{"kind": "Started", "classes": ["a", "b", "c"]},
                  {"kind": "Finished", "status": "finished", "val": metrics, "test": metrics}]
    text = views.results_markdown(run)
    assert "| | predicted a | predicted b | predicted c |" in text and "Per class (test)" in text
