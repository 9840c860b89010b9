"""Unit tests of the web app's handlers, called directly (no server, no browser)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import gradio as gr
import pandas as pd
import pytest

from demo import build_demo
from demo import classify as cl
from demo import training as tr
from demo.models import ModelRegistry
from demo.ui import FORM
from sentiment_core import ModelConfig, Predictor, preset

REVIEW = ("An absolute delight from start to finish. The cast is wonderful, the script is sharp and funny, "
          "and the ending is perfect. I loved every minute of it and would happily watch it again.")


@pytest.fixture
def dirs(tmp_path: Path, tiny_checkpoint: Path) -> tuple[Path, Path]:
    """A shipped folder holding the tiny model as default.safetensors, and an empty runs folder."""
    shipped, runs = tmp_path / "checkpoints", tmp_path / "runs"
    shipped.mkdir()
    runs.mkdir()
    shutil.copy(tiny_checkpoint, shipped / "default.safetensors")
    return shipped, runs


@pytest.fixture
def registry(dirs: tuple[Path, Path]) -> ModelRegistry:
    shipped, runs = dirs
    return ModelRegistry(shipped, runs, shipped / "default.safetensors")


def tiny_settings(**overrides) -> dict:
    """Form values for a run of a few seconds: 300 reviews, one epoch, a 16-unit GRU."""
    values = tr.preset_settings("quick")
    values.update(max_train_samples=300, max_eval_samples=100, embed_dim=16, hidden_dim=16, max_tokens=100,
                  epochs=1, batch_size=32, device="cpu")
    values.update(overrides)
    return values


def wait_for(predicate, timeout: float = 120.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the training worker")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Classify


def test_classify_gives_probabilities_explanation_and_running_prediction(registry):
    probs, words, running, info = cl.classify(registry, "shipped/default", REVIEW)
    assert set(probs) == {"negative", "positive"}
    assert probs["negative"] + probs["positive"] == pytest.approx(1.0)
    expected = Predictor.from_checkpoint(registry.entry("shipped/default").path).analyze(REVIEW)
    assert probs == pytest.approx(expected.probabilities)
    # One coloured entry per token, scaled so the strongest has magnitude 1, signs kept.
    assert [w for w, _ in words] == expected.tokens
    scores = [s for _, s in words]
    assert max(abs(s) for s in scores) == pytest.approx(1.0)
    top = max(range(len(scores)), key=lambda i: abs(expected.attributions[i]))
    assert scores[top] == pytest.approx(1.0 if expected.attributions[top] > 0 else -1.0)
    spec = json.loads(running.plot)
    assert [r["tokens read"] for r in spec["data"]["values"]] == expected.running_positions
    assert spec["data"]["values"][-1]["P(positive)"] == pytest.approx(probs["positive"], abs=1e-4)
    label = max(probs, key=probs.get)
    assert info.startswith(f"**{label}**") and f"{len(expected.tokens)} tokens" in info


@pytest.mark.parametrize("text", ["", "   \n\t ", None])
def test_empty_text_clears_outputs_with_a_message(registry, text):
    assert cl.classify(registry, "shipped/default", text) == (None, None, None, cl.EMPTY_MESSAGE)


def test_missing_or_vanished_model_gives_a_message_not_an_exception(registry):
    assert cl.classify(registry, None, REVIEW)[3] == cl.NO_MODEL_MESSAGE
    outputs = cl.classify(registry, "runs/never-trained", REVIEW)
    assert outputs[:3] == (None, None, None) and "gone" in outputs[3]


def test_megabyte_paste_answers_quickly_and_marks_the_cut(registry):
    text = "The plot drags but the actors are great. " * 26_000  # about 1 MB
    assert len(text) > 1_000_000
    registry.predictor("shipped/default")  # load outside the timing
    start = time.perf_counter()
    probs, words, _, info = cl.classify(registry, "shipped/default", text)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"a 1 MB paste took {elapsed:.1f} s"
    assert probs is not None and "Long text" in info
    max_tokens = registry.predictor("shipped/default").max_tokens
    assert len(words) == max_tokens + 1  # the kept tokens and one "…" where the middle was cut
    assert words[max_tokens - max_tokens // 2] == ("…", None)


def test_explanation_scales_by_the_strongest_word_and_marks_gaps():
    assert cl.explanation(["good", "bad", "film"], [2.0, -1.0, 0.0]) == [("good", 1.0), ("bad", -0.5), ("film", 0.0)]
    assert cl.explanation(["a", "b"], [0.0, 0.0]) == [("a", 0.0), ("b", 0.0)]
    assert cl.explanation(["a", "b"], [1.0, 1.0], gap_at=1) == [("a", 1.0), ("…", None), ("b", 1.0)]


def test_examples_cite_real_reviews_and_cover_both_labels(imdb_archive):
    examples = cl.load_examples()
    real = [e for e in examples if e["source"].startswith("aclImdb/test/")]
    assert len(real) >= 3 and len(examples) - len(real) >= 3
    assert {e["label"] for e in real} == {e["label"] for e in examples} == {"negative", "positive"}
    for e in real:
        assert ("/pos/" in e["source"]) == (e["label"] == "positive")
        assert 80 <= len(e["text"].split()) <= 200


# ---------------------------------------------------------------------------------------------
# Batch


def write(path: Path, data: str | bytes) -> str:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def test_batch_txt_one_review_per_line(registry, tmp_path):
    lines = ["A wonderful, moving film.", "", "Dreadful. I walked out.", "   ", "Great cast, weak plot."]
    path = write(tmp_path / "r.txt", "\n".join(lines))
    table, csv_path, message = cl.classify_file(registry, "shipped/default", path, tmp_path / "out")
    texts = [t for t in lines if t.strip()]
    assert table["review"].tolist() == texts
    predictor = registry.predictor("shipped/default")
    expected = [p["positive"] for p in predictor.predict_batch(texts)]
    assert table["P(positive)"].tolist() == pytest.approx(expected, abs=1e-3)
    saved = pd.read_csv(csv_path)
    assert saved.columns.tolist() == ["text", "prediction", "p_positive"]
    assert saved["prediction"].tolist() == ["positive" if p >= 0.5 else "negative" for p in expected]
    assert "Classified 3 reviews" in message


def test_batch_csv_prefers_a_named_text_column_and_keeps_the_others(registry, tmp_path):
    frame = pd.DataFrame({"id": [7, 8], "title": ["x", "y"], "Review": ["Loved it.", "Hated it."]})
    path = write(tmp_path / "r.csv", frame.to_csv(index=False))
    table, csv_path, _ = cl.classify_file(registry, "shipped/default", path, tmp_path / "out")
    assert table["review"].tolist() == ["Loved it.", "Hated it."]
    saved = pd.read_csv(csv_path)
    assert saved.columns.tolist() == ["id", "title", "Review", "prediction", "p_positive"]
    assert saved["id"].tolist() == [7, 8]


def test_batch_csv_falls_back_to_the_first_string_column(tmp_path):
    frame = pd.DataFrame({"stars": [1, 10], "score": [0.5, ""], "comment": ["Awful.", "Superb."], "note": ["a", "b"]})
    table, column = cl.read_reviews(write(tmp_path / "r.csv", frame.to_csv(index=False)))
    assert column == "comment" and table["comment"].tolist() == ["Awful.", "Superb."]


@pytest.mark.parametrize(("name", "data", "message"), [
    ("r.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ("r.txt", "Tr\u00e8s bon film, vraiment g\u00e9nial".encode("latin-1"), "not UTF-8"),
    ("r.txt", b"", "holds no reviews"),
    ("r.txt", b"\n  \n\n", "holds no reviews"),
    ("r.csv", b"", "empty"),
    ("r.csv", b"a,b\n1,2\n3,4\n", "No text column"),
    ("r.csv", b'text\n"unclosed quote\n', "not a well-formed CSV"),
    ("r.pdf", b"%PDF-1.4", "upload a .txt"),
])
def test_batch_rejects_malformed_files_with_a_clear_message(registry, tmp_path, name, data, message):
    with pytest.raises(gr.Error, match=message):
        cl.classify_file(registry, "shipped/default", write(tmp_path / name, data))


def test_batch_rejects_oversized_files(registry, tmp_path):
    with pytest.raises(gr.Error, match="the limit is 5 MB"):
        cl.classify_file(registry, "shipped/default", write(tmp_path / "big.txt", "Nice film.\n" * 500_000))
    with pytest.raises(gr.Error, match="5,001 reviews; the limit is 5,000"):
        cl.classify_file(registry, "shipped/default", write(tmp_path / "many.txt", "Nice film.\n" * 5_001))


def test_batch_without_a_file_asks_for_one(registry):
    assert cl.classify_file(registry, "shipped/default", None)[:2] == (None, None)


# ---------------------------------------------------------------------------------------------
# Models


def test_model_list_skips_corrupt_files_and_reports_them(registry, dirs):
    shipped, runs = dirs
    (shipped / "broken.safetensors").write_bytes(b"not a checkpoint at all")
    (runs / "empty.safetensors").write_bytes(b"")
    entries, problems = registry.scan()
    assert [e.key for e in entries] == ["shipped/default"]
    assert len(problems) == 2
    assert any("broken.safetensors" in p and "not a safetensors checkpoint" in p for p in problems)
    assert any("empty.safetensors" in p and "truncated or empty" in p for p in problems)
    assert registry.choices() == [(entries[0].label, "shipped/default")]
    assert registry.default_key() == "shipped/default"


def test_new_runs_appear_and_predictors_are_cached_per_file_version(registry, dirs, tiny_checkpoint):
    _, runs = dirs
    before = registry.signature()
    shutil.copy(tiny_checkpoint, runs / "mine.safetensors")
    assert registry.signature() != before
    assert "runs/mine" in [key for _, key in registry.choices()]
    first = registry.predictor("runs/mine")
    assert registry.predictor("runs/mine") is first  # switching back is immediate
    os.utime(runs / "mine.safetensors", ns=(time.time_ns(), time.time_ns() + 10**9))
    assert registry.predictor("runs/mine") is not first  # a re-saved checkpoint is reloaded


def test_model_summary_and_card_describe_the_checkpoint(registry):
    entry = registry.entry("shipped/default")
    summary = entry.summary()
    assert "bidirectional GRU" in summary and "parameters" in summary and "accuracy" in summary
    assert registry.card("shipped/default").startswith("# Model card: tiny")
    assert "(shipped; biGRU" in entry.label


# ---------------------------------------------------------------------------------------------
# Train tab: form, names


def test_form_is_built_from_the_config_fields():
    assert sorted(f for rows in FORM.values() for row in rows for f in row) == sorted(tr.FIELDS)
    demo = build_demo(checkpoint_dir="/nonexistent", runs_dir="/nonexistent-runs")
    controls = {b.label: b for b in demo.blocks.values() if getattr(b, "label", None) in tr.LABELS.values()}
    for name in tr.FIELDS:
        help_text = tr.field_info(name).metadata["help"]
        info = controls[tr.LABELS[name]].info
        assert info in (help_text, None), name
    embed = next(f for f in dataclasses.fields(ModelConfig) if f.name == "embed_dim")
    assert controls["Embedding size"].info == embed.metadata["help"]
    assert controls["Recurrent cell"].choices == [("RNN", "rnn"), ("LSTM", "lstm"), ("GRU", "gru")]


def test_presets_fill_the_form_and_respect_the_cap():
    tutorial = tr.preset_settings("tutorial")
    assert (tutorial["cell"], tutorial["bidirectional"], tutorial["embed_dim"], tutorial["hidden_dim"]) == (
        "rnn", False, 100, 256)
    assert tutorial["max_train_samples"] == 0  # all reviews
    capped = tr.preset_settings("tutorial", cap=1_000)
    assert capped["max_train_samples"] == capped["max_eval_samples"] == 1_000
    quick_train = preset("quick")[1].max_train_samples
    assert 0 < quick_train < 50_000 and tr.preset_settings("quick", cap=50_000)["max_train_samples"] == quick_train


def test_training_disabled_says_so_and_offers_no_start():
    demo = build_demo(checkpoint_dir="/nonexistent", runs_dir="/nonexistent-runs", allow_training=False)
    api_names = {fn.api_name for fn in demo.fns.values()}
    assert "start_training" not in api_names and "classify" in api_names
    texts = [b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown)]
    assert any("Training is disabled" in (t or "") for t in texts)


@pytest.mark.parametrize(("raw", "clean"), [
    ("my first run", "my-first-run"),
    ("../../etc/passwd", "etc-passwd"),
    ("gru_bi-2", "gru_bi-2"),
    ("  ~~~  ", ""),
    ("émoji 🎬 run", "moji-run"),
    ("x" * 100, "x" * 64),
])
def test_run_names_are_sanitized(raw, clean):
    assert tr.sanitize_name(raw) == clean


def test_run_paths_refuse_to_overwrite_and_generate_unique_names(tmp_path):
    cfg = ModelConfig(cell="lstm", bidirectional=True)
    (tmp_path / "taken.safetensors").write_bytes(b"x")
    with pytest.raises(gr.Error, match="already exists"):
        tr.run_path(tmp_path, "taken", cfg)
    assert tr.run_path(tmp_path, "fresh one", cfg) == ("fresh-one", tmp_path / "fresh-one.safetensors")
    name, path = tr.run_path(tmp_path, "", cfg)
    assert name.startswith("lstm-bi-") and len(name) == len("lstm-bi-20261129-2031")
    path.write_bytes(b"x")
    assert tr.run_path(tmp_path, None, cfg)[0] in (f"{name}-2", tr.generated_name(cfg))


def test_bad_settings_are_a_clear_error_and_start_nothing(tmp_path):
    worker = tr.TrainingWorker()
    with pytest.raises(gr.Error, match=r"Bad settings: dropout must be in \[0, 1\)"):
        tr.start_training(worker, tmp_path, "quick", "", tiny_settings(dropout=1.5))
    with pytest.raises(gr.Error, match="Learning rate is empty"):
        tr.start_training(worker, tmp_path, "quick", "", tiny_settings(lr=None))
    with pytest.raises(gr.Error, match="Unknown preset"):
        tr.start_training(worker, tmp_path, "huge", "", tiny_settings())
    assert worker.snapshot() == (0, None)


def test_ema_is_bias_corrected():
    assert tr.ema([2.0]) == pytest.approx([2.0])
    assert tr.ema([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])
    smooth = tr.ema([1.0, 0.0])
    assert 0.0 < smooth[1] < 1.0


# ---------------------------------------------------------------------------------------------
# Train tab: the worker


def test_a_run_trains_saves_a_card_and_becomes_selectable(registry, dirs):
    _, runs = dirs
    worker = tr.TrainingWorker()
    note = tr.start_training(worker, runs, "quick", "tiny run", tiny_settings())
    assert note == "Started **tiny-run**."
    assert worker.join(timeout=180)
    _, run = worker.snapshot()
    assert run.status == "finished", run.error
    kinds = [e["kind"] for e in run.events]
    assert kinds[0] == "Started" and kinds[-1] == "Finished" and "Step" in kinds and "EpochEnd" in kinds
    assert (runs / "tiny-run.safetensors").is_file() and (runs / "tiny-run.md").is_file()
    assert "runs/tiny-run" in [key for _, key in registry.choices()]
    card = registry.card("runs/tiny-run")
    assert "python -m sentiment_core train --preset quick --name tiny-run" in card
    assert "--embed-dim 16" in card
    status = tr.status_dict(run)
    assert status["status"] == "finished" and status["epochs_done"] == 1
    assert status["checkpoint"].endswith("tiny-run.safetensors")
    results = tr.results_markdown(run)
    assert results.splitlines()[2] == "| | validation | test |" and "Confusion matrix (test" in results
    assert "| accuracy | " in results
    with pytest.raises(gr.Error, match="already exists"):
        tr.start_training(worker, runs, "quick", "tiny-run", tiny_settings())


def test_slow_preparation_steps_show_in_the_status_line():
    worker = tr.TrainingWorker()
    run = tr.Run(name="r", path="r.safetensors", preset="default", settings={})
    worker._append(run, {"kind": "Status", "message": "computing word vectors from 72,500 reviews"})
    assert run.stage == "computing word vectors from 72,500 reviews" and run.status == "preparing"
    worker._append(run, {"kind": "Started"})
    assert run.stage == "" and run.status == "training"


def test_one_run_at_a_time_stop_keeps_a_checkpoint_and_history_survives_reopening(dirs):
    _, runs = dirs
    worker = tr.TrainingWorker()
    tr.start_training(worker, runs, "quick", "long", tiny_settings(epochs=30, max_train_samples=1_000), cap=600)
    _, run = worker.snapshot()
    assert run.settings["max_train_samples"] == 600  # capped for a public server
    with pytest.raises(gr.Error, match="in progress"):
        tr.start_training(worker, runs, "quick", "second", tiny_settings())
    wait_for(lambda: len(worker.snapshot()[1].of_kind("Step")) >= 3)
    assert tr.stop_training(worker).startswith("Stopping")
    assert worker.join(timeout=120)
    _, run = worker.snapshot()
    assert run.status == "stopped"
    assert run.last("Finished")["path"] == str(runs / "long.safetensors") and (runs / "long.safetensors").is_file()
    assert tr.stop_training(worker) == "No training run is in progress."
    # A page opened now (a fresh snapshot) draws the whole history, not just what came after it.
    status, loss, accuracy, results, can_start, can_stop = tr.training_view(worker.snapshot()[1])
    steps = run.of_kind("Step")
    rows = json.loads(loss.plot)["data"]["values"]
    assert [r["step"] for r in rows if r["series"] == "train (raw)"] == [s["step"] for s in steps]
    assert json.loads(accuracy.plot)["data"]["values"]  # the stop validated the weights once
    assert "long stopped" in status and can_start and not can_stop
    assert "| | validation |" in results and "test" not in results.splitlines()[2]


def test_a_failed_run_is_reported_and_start_works_again(dirs, monkeypatch, tmp_path):
    _, runs = dirs
    worker = tr.TrainingWorker()
    monkeypatch.setenv("SENTIMENT_DATA", str(tmp_path / "no-such-archive.tar.gz"))
    tr.start_training(worker, runs, "quick", "doomed", tiny_settings())
    assert worker.join(timeout=60)
    _, run = worker.snapshot()
    assert run.status == "failed" and "DataError" in run.error and "not found" in run.error
    status, *_, can_start, can_stop = tr.training_view(run)
    assert "doomed failed" in status and "DataError" in status and can_start and not can_stop
    monkeypatch.undo()
    tr.start_training(worker, runs, "quick", "recovered", tiny_settings())
    assert worker.join(timeout=180)
    assert worker.snapshot()[1].status == "finished"
    assert [r.name for r in worker.runs()] == ["doomed", "recovered"]


def test_compare_chart_has_one_series_per_run():
    history = [{"epoch": 1, "train_loss": 0.7, "val_loss": 0.69, "val_accuracy": 0.55},
               {"epoch": 2, "train_loss": 0.6, "val_loss": 0.62, "val_accuracy": 0.7}]
    chart = tr.compare_chart({"rnn-a": history, "gru-b": history[:1]}, [], "validation accuracy")
    rows = json.loads(chart.plot)["data"]["values"]
    assert [(r["series"], r["epoch"], r["val_accuracy"]) for r in rows] == [
        ("rnn-a", 1, 0.55), ("rnn-a", 2, 0.7), ("gru-b", 1, 0.55)]
    assert tr.compare_chart({}, [], "validation loss") is None


def test_gpu_is_offered_only_when_present(monkeypatch):
    import demo.ui

    def device_choices() -> list:
        built = build_demo(checkpoint_dir="/nonexistent", runs_dir="/nonexistent-runs")
        return next(b.choices for b in built.blocks.values() if getattr(b, "label", None) == "Device")

    monkeypatch.setattr(demo.ui, "available_devices", lambda: ["auto", "cpu"])
    assert [value for _, value in device_choices()] == ["auto", "cpu"]
    monkeypatch.setattr(demo.ui, "available_devices", lambda: ["auto", "cpu", "cuda"])
    assert ("GPU (CUDA)", "cuda") in device_choices()


# ---------------------------------------------------------------------------------------------
# app.py


def test_app_options_come_from_flags_or_environment(monkeypatch):
    import app

    assert "demo" not in vars(app)  # importing builds nothing
    monkeypatch.setenv("SENTIMENT_MAX_TRAIN_SAMPLES", "500")
    monkeypatch.setenv("SENTIMENT_DISABLE_TRAINING", "1")
    monkeypatch.setenv("SENTIMENT_RUNS_DIR", "/srv/runs")
    args = app.parse_args([])
    assert (args.max_train_samples, args.no_training, args.runs_dir, args.host, args.port) == (
        500, True, "/srv/runs", None, None)  # host/port None: Gradio reads GRADIO_SERVER_NAME/PORT
    monkeypatch.delenv("SENTIMENT_DISABLE_TRAINING")
    args = app.parse_args(["--host", "0.0.0.0", "--port", "8080", "--max-train-samples", "100", "--share"])
    assert (args.host, args.port, args.max_train_samples, args.share, args.no_training) == (
        "0.0.0.0", 8080, 100, True, False)
