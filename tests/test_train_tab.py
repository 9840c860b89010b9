"""The Train tab: the form table, settings checks, run names, the password, handlers and views."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import gradio as gr
import pytest

from demo import build_demo
from demo.services import datasource, form
from demo.services.registry import ModelRegistry
from demo.services.worker import Run, TrainingWorker
from demo.tabs import train as tt
from demo.tabs import train_form
from demo.tabs import train_views as views
from demo.tabs.charts import percent_scale
from sentiment_core import ModelConfig, preset


def tiny_settings(**overrides) -> dict:
    """Form values for a run of a few seconds: 300 reviews, one epoch, a 16-unit GRU."""
    values = form.preset_settings("quick")
    values.update(max_train_samples=300, max_eval_samples=100, embed_dim=16, hidden_dim=16, max_tokens=100,
                  epochs=1, batch_size=32, device="cpu")
    values.update(overrides)
    return values


@pytest.fixture
def tab(tmp_path: Path, tiny_checkpoint: Path) -> tt.TrainTab:
    """The tab's handlers over a fresh worker, a shipped tiny model and an empty runs folder."""
    shipped, runs = tmp_path / "checkpoints", tmp_path / "runs"
    shipped.mkdir()
    shutil.copy(tiny_checkpoint, shipped / "default.safetensors")
    registry = ModelRegistry(shipped, runs, shipped / "default.safetensors")
    return tt.TrainTab(TrainingWorker(threads=1), registry, runs, None, None, None)


def form_values(**overrides) -> list:
    values = tiny_settings(**overrides)
    return [values[f] for f in form.FIELDS]


# ---------------------------------------------------------------------------------------------
# The form table


def control_by_label(demo: gr.Blocks) -> dict[str, gr.components.Component]:
    labels = {f.label for f in form.FORM}
    return {b.label: b for b in demo.blocks.values() if getattr(b, "label", None) in labels}


def test_one_table_drives_the_form_and_its_help_comes_from_the_configs():
    assert len(set(form.FIELDS)) == len(form.FIELDS) and form.SECTIONS == ("Model", "Training")
    controls = control_by_label(build_demo(checkpoint_dir="/nonexistent", runs_dir="/nonexistent-runs"))
    assert set(controls) == {f.label for f in form.FORM}
    for f in form.FORM:
        assert controls[f.label].info == f.help, f.name
        assert f.help in (None, f.config_field.metadata["help"])
        if f.range:
            assert (controls[f.label].minimum, controls[f.label].maximum) == f.range[:2]
    assert controls["Recurrent cell"].choices == [("RNN", "rnn"), ("LSTM", "lstm"), ("GRU", "gru")]
    assert isinstance(controls["Bidirectional"], gr.Checkbox) and isinstance(controls["Learning rate"], gr.Number)


def test_a_cap_lowers_the_review_sliders():
    controls = control_by_label(build_demo(checkpoint_dir="/nonexistent", runs_dir="/x", max_train_samples=700))
    assert controls["Training reviews"].maximum == controls["Validation/test reviews"].maximum == 700
    assert controls["Embedding size"].maximum == form.BY_NAME["embed_dim"].range[1]


def test_presets_fill_the_form_and_respect_the_cap():
    tutorial = form.preset_settings("tutorial")
    assert (tutorial["cell"], tutorial["bidirectional"], tutorial["embed_dim"], tutorial["hidden_dim"]) == (
        "rnn", False, 100, 256)
    assert tutorial["max_train_samples"] == 0  # all reviews
    capped = form.preset_settings("tutorial", cap=1_000)
    assert capped["max_train_samples"] == capped["max_eval_samples"] == 1_000
    quick_train = preset("quick")[1].max_train_samples
    assert 0 < quick_train < 50_000 and form.preset_settings("quick", cap=50_000)["max_train_samples"] == quick_train


def test_gpu_is_offered_only_when_present(monkeypatch):
    def device_choices() -> list:
        return control_by_label(build_demo(checkpoint_dir="/nonexistent", runs_dir="/x"))["Device"].choices

    monkeypatch.setattr(train_form, "available_devices", lambda: ["auto", "cpu"])
    assert [value for _, value in device_choices()] == ["auto", "cpu"]
    monkeypatch.setattr(train_form, "available_devices", lambda: ["auto", "cpu", "cuda"])
    assert ("GPU (CUDA)", "cuda") in device_choices()


def test_training_disabled_says_so_and_offers_no_start():
    demo = build_demo(checkpoint_dir="/nonexistent", runs_dir="/nonexistent-runs", allow_training=False)
    api_names = {fn.api_name for fn in demo.fns.values()}
    assert "start_training" not in api_names and "classify" in api_names
    texts = [b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown)]
    assert any("Training is disabled" in (t or "") for t in texts)


# ---------------------------------------------------------------------------------------------
# Settings and names


@pytest.mark.parametrize(("changes", "message"), [
    ({"dropout": 1.5}, "Bad settings: dropout must be"),
    ({"lr": None}, "Learning rate is empty"),
    ({"epochs": 2.5}, "Epochs must be a whole number"),
    ({"batch_size": "64"}, "Batch size must be a whole number"),
    ({"cell": "transformer"}, "Bad settings: cell must be one of"),
])
def test_bad_settings_are_a_clear_error(changes, message):
    with pytest.raises(form.FormError, match=message):
        form.parse_settings("quick", tiny_settings(**changes))


def test_unknown_presets_and_fields_are_refused():
    with pytest.raises(form.FormError, match="Unknown preset"):
        form.parse_settings("huge", tiny_settings())
    with pytest.raises(form.FormError, match="Unknown settings: output"):
        form.parse_settings("quick", {**tiny_settings(), "output": "/etc/passwd"})


def test_a_server_cap_applies_to_all_and_to_larger_values():
    _, train_cfg, settings, notes = form.parse_settings("quick", tiny_settings(max_train_samples=0,
                                                                                 max_eval_samples=5_000), cap=600)
    assert (train_cfg.max_train_samples, train_cfg.max_eval_samples) == (600, 600)
    assert settings["max_train_samples"] == 600 and len(notes) == 2


@pytest.mark.parametrize(("raw", "clean"), [
    ("my first run", "my-first-run"),
    ("../../etc/passwd", "etc-passwd"),
    ("gru_bi-2", "gru_bi-2"),
    ("  ~~~  ", ""),
    ("émoji 🎬 run", "moji-run"),
    ("x" * 100, "x" * 64),
])
def test_run_names_are_sanitized(raw, clean):
    assert form.sanitize_name(raw) == clean


def test_run_paths_refuse_to_overwrite_and_generate_unique_names(tmp_path):
    cfg = ModelConfig(cell="lstm", bidirectional=True)
    (tmp_path / "taken.safetensors").write_bytes(b"x")
    with pytest.raises(form.FormError, match="already exists"):
        form.run_path(tmp_path, "taken", cfg)
    assert form.run_path(tmp_path, "fresh one", cfg) == ("fresh-one", tmp_path / "fresh-one.safetensors")
    name, path = form.run_path(tmp_path, "", cfg)
    assert name.startswith("lstm-bi-") and len(name) == len("lstm-bi-20261129-2031")
    path.write_bytes(b"x")
    assert form.run_path(tmp_path, None, cfg)[0] in (f"{name}-2", form.generated_name(cfg))


# ---------------------------------------------------------------------------------------------
# Handlers


@pytest.mark.imdb  # the tab checks its IMDB data before the settings
def test_bad_settings_start_nothing(tab):
    with pytest.raises(gr.Error, match="Bad settings"):
        tab.start("quick", "", *form_values(dropout=1.5))
    with pytest.raises(gr.Error, match=f"Expected {len(form.FIELDS)} settings"):
        tab.start("quick", "", *form_values()[:-1])
    assert tab.worker.snapshot() == (0, None)
    assert tab.stop() == "No training run is in progress."


@pytest.mark.slow
@pytest.mark.imdb
def test_a_run_started_from_the_tab_trains_saves_a_card_and_becomes_selectable(tab):
    assert tab.start("quick", "tiny run", *form_values()) == "Started **tiny-run**."
    with pytest.raises(gr.Error, match="in progress"):
        tab.start("quick", "second", *form_values())
    assert tab.worker.join(timeout=180)
    run = tab.worker.snapshot()[1]
    assert run.status == "finished", run.error
    assert "runs/tiny-run" in [key for _, key in tab.registry.choices()]
    card = tab.registry.card("runs/tiny-run")
    assert "python -m sentiment_core train --preset quick --name tiny-run" in card and "--embed-dim 16" in card
    status = tab.status()
    assert status["status"] == "finished" and status["epochs_done"] == 1
    assert status["checkpoint"].endswith("tiny-run.safetensors")
    results = views.results_markdown(run)
    assert "| | validation | test |" in results and "Confusion matrix (test" in results
    with pytest.raises(gr.Error, match="already exists"):
        tab.start("quick", "tiny-run", *form_values())
    chart = tab.compare("validation accuracy")
    assert {r["series"] for r in json.loads(chart.plot)["data"]["values"]} == {"tiny-run"}


def test_a_password_guards_start_and_stop(tab):
    tab.password = "s3cret"
    with pytest.raises(gr.Error, match="training password"):
        tab.start("quick", "", *form_values(), "wrong")
    with pytest.raises(gr.Error, match="training password"):
        tab.start("quick", "", *form_values(), None)
    with pytest.raises(gr.Error, match="training password"):
        tab.stop("")
    assert tab.stop("s3cret") == "No training run is in progress."
    assert tab.worker.snapshot() == (0, None)


def test_a_password_adds_a_field_and_an_api_parameter():
    demo = build_demo(checkpoint_dir="/nonexistent", runs_dir="/x", training_password="pw")
    boxes = [b for b in demo.blocks.values() if getattr(b, "label", None) == "Training password"]
    assert len(boxes) == 1 and boxes[0].type == "password"
    start = next(fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "start")  # the page's Start
    # preset, run name, the settings, the password, then the data source (demo.services.own_data)
    assert start.inputs[2 + len(form.FIELDS)] is boxes[0]
    assert [getattr(b, "label", None) for b in start.inputs[3 + len(form.FIELDS):]] == [
        "Train on", "Labelled file", "Text column", "Label column", "Start from", "Positive class (two classes)"]
    api = demo.get_api_info()["named_endpoints"]
    names = [p["parameter_name"] for p in api["/start_training"]["parameters"]]
    assert names[names.index("password"):][:4] == ["password", "upload", "data_source", "data_file"]
    assert [p["parameter_name"] for p in api["/stop_training"]["parameters"]] == ["password"]


def test_every_api_endpoint_has_named_parameters_and_plain_results():
    api = build_demo(checkpoint_dir="/nonexistent", runs_dir="/x").get_api_info()
    endpoints = api["named_endpoints"]
    assert set(endpoints) == {"/classify", "/explain", "/classify_file", "/model_card", "/models", "/start_training",
                              "/stop_training", "/training_status", "/compare_models", "/errors", "/download_model",
                              "/upload_model", "/behaviour_report", "/run_template", "/edit_to_flip"}
    assert not api["unnamed_endpoints"]  # the page's own events are private
    names = {name: [p["parameter_name"] for p in e["parameters"]] for name, e in endpoints.items()}
    assert names["/classify"] == names["/explain"] == ["text", "model"]
    assert names["/classify_file"] == ["file", "model"] and names["/model_card"] == ["model"]
    assert names["/compare_models"] == ["text", "model"]
    assert names["/errors"] == ["model", "split", "label", "min_tokens", "max_tokens", "least_confident", "top"]
    assert names["/start_training"] == [
        "preset", "run_name", *form.FIELDS, "password", "upload", "data_source", "data_file", "text_column",
        "label_column", "start_from", "positive_label"]
    start = {p["parameter_name"]: p for p in endpoints["/start_training"]["parameters"]}
    assert start["preset"]["parameter_default"] is None  # the preset the page opens on for the data
    assert all(start[f]["parameter_has_default"] and start[f]["parameter_default"] is None for f in form.FIELDS)
    assert start["epochs"]["python_type"]["type"] == "None | int"
    assert names["/download_model"] == ["model"] and names["/upload_model"] == ["file", "name"]
    assert [r["python_type"]["type"] for r in endpoints.pop("/download_model")["returns"]] == ["filepath"]
    for name, endpoint in endpoints.items():  # JSON objects and lists, no component payloads or Markdown
        assert [r["python_type"]["type"] for r in endpoint["returns"]] in (["dict(str, Any)"], ["list[Any]"]), name


class FakeWorker:
    """A worker whose latest run the test sets by hand."""

    def __init__(self, run: Run | None = None) -> None:
        self.run, self.version, self.stopped = run, 1, 0
        self.after_run = []

    def data_in_use(self) -> list[str]:
        return []

    def snapshot(self):
        return self.version, self.run

    def runs(self):
        return [self.run] if self.run else []

    def stop(self) -> bool:
        self.stopped += 1
        return self.run is not None and self.run.running


def fake_tab(tmp_path: Path, run: Run | None) -> tuple[gr.Blocks, tt.TrainTab]:
    registry = ModelRegistry(tmp_path / "none", tmp_path / "runs")
    with gr.Blocks() as blocks:
        tab = tt.build_train_tab(FakeWorker(run), registry, tmp_path / "runs", gr.State({}))
    return blocks, tab


def test_while_a_run_goes_the_form_shows_its_settings_read_only(tmp_path):
    settings = {**form.preset_settings("tutorial"), "epochs": 7, "device": "cpu"}
    run = Run("rnn-x", "x.safetensors", "tutorial", settings, status="training")
    _, tab = fake_tab(tmp_path, run)
    controls = tab.components.controls
    shown = tab.refresh("validation loss", {})  # a page opened (or reloaded) during the run
    for name, control in controls.items():
        assert shown[control] == {"__type__": "update", "value": settings[name], "interactive": False}, name
    assert shown[tab.components.preset]["value"] == "tutorial" and shown[tab.components.preset]["interactive"] is False
    assert shown[tab.components.run_name]["value"] == "rnn-x" and shown[tab.components.run_name]["interactive"] is False
    assert tab.landing().selected == "train"  # and it opens on the Train tab
    # Polls in between send nothing to the form, so nothing a visitor does is overwritten.
    tab.worker.version += 1
    polled = tab.refresh("validation loss", shown[tab.components.seen])
    assert all(isinstance(polled[c], type(gr.skip())) for c in [*controls.values(), tab.components.preset])
    run.status = "finished"
    tab.worker.version += 1
    after = tab.refresh("validation loss", polled[tab.components.seen])
    assert all(after[c] == {"__type__": "update", "interactive": True} for c in controls.values())
    # that name is taken
    assert after[tab.components.run_name] == {"__type__": "update", "value": "", "interactive": True}
    assert isinstance(tab.landing(), type(gr.skip()))


def test_the_preset_picker_fills_the_form_only_when_a_visitor_picks(tmp_path):
    """A preset shown because of a run (an update) must not refill the form with that preset's defaults."""
    blocks, tab = fake_tab(tmp_path, None)
    fills = [fn for fn in blocks.fns.values() if tab.components.controls["epochs"] in fn.outputs and
             any(target == tab.components.preset._id for target, _ in fn.targets)]
    preset = tab.components.preset._id
    assert [[event for target, event in fn.targets if target == preset] for fn in fills] == [["input"]]


def test_stop_promises_a_checkpoint_only_once_the_run_has_trained(tmp_path):
    run = Run("r", "r.safetensors", "quick", {}, status="training")
    tab = tt.TrainTab(FakeWorker(run), ModelRegistry(tmp_path, tmp_path / "runs"), tmp_path, None, None, None)
    assert tab.stop() == "Stopping: the run has not trained yet, so it ends without saving a checkpoint."
    run.events.append({"kind": "Step", "step": 1, "total_steps": 10, "epoch": 1, "loss": 0.7})
    assert tab.stop() == "Stopping at the next batch; the best checkpoint so far is kept."
    run.status = "stopped"
    assert tab.stop() == "No training run is in progress."


# ---------------------------------------------------------------------------------------------
# The data a run reads


def test_the_train_tab_says_which_data_a_run_reads(tmp_path, monkeypatch, imdb_archive):
    monkeypatch.setenv("SENTIMENT_CACHE_DIR", str(tmp_path / "cache"))
    first = datasource.describe("download")
    assert "The first run downloads it (84 MB, once)" in first and "--data path/to/aclImdb_v1.tar.gz" in first
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "aclImdb_v1.tar.gz").write_bytes(b"")
    assert "downloaded earlier" in datasource.describe("download")
    given = datasource.describe(str(imdb_archive))
    assert "the IMDB archive" in given and imdb_archive.name in given and "no download" in given
    missing = datasource.describe(str(tmp_path / "nope.tar.gz"))
    assert "IMDB data not found" in missing and "Start is refused" in missing
    (tmp_path / "empty").mkdir()
    assert "without train/ and test/" in datasource.describe(str(tmp_path / "empty"))


def test_the_data_setting_comes_from_the_app_or_the_environment(monkeypatch, imdb_archive):
    monkeypatch.delenv("SENTIMENT_DATA", raising=False)
    assert datasource.setting(None) == datasource.setting("  ") == "download"
    monkeypatch.setenv("SENTIMENT_DATA", str(imdb_archive))
    assert datasource.setting(None) == str(imdb_archive) and datasource.setting("download") == "download"
    demo = build_demo(checkpoint_dir="/nonexistent", runs_dir="/x", data="download")
    lines = [b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown) and "**Data**" in (b.value or "")]
    assert len(lines) == 1 and "archive" in lines[0]


def test_start_is_refused_when_the_data_cannot_be_read(tab, tmp_path):
    tab.data = str(tmp_path / "missing.tar.gz")
    with pytest.raises(gr.Error, match=r"Training cannot start: IMDB data not found .* start the app with `--data"):
        tab.start("quick", "", *form_values())
    assert tab.worker.snapshot() == (0, None)


def test_a_run_that_could_not_get_the_data_says_how_to_train_offline():
    run = Run("r", "r.safetensors", "quick", {}, status="failed",
              error="DataError: could not download http://ai.stanford.edu/x: Name or service not known")
    run.events.append({"kind": "Finished", "status": "failed", "path": "", "val": {}, "test": {}, "elapsed_s": 1.0,
                       "error": run.error})
    status = views.status_markdown(run)
    assert "could not download" in status and "start the app with `--data" in status
    assert "Adjust the settings" not in status


# ---------------------------------------------------------------------------------------------
# Views


def test_ema_is_bias_corrected():
    assert views.ema([2.0]) == pytest.approx([2.0])
    assert views.ema([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])
    smooth = views.ema([1.0, 0.0])
    assert 0.0 < smooth[1] < 1.0


def test_slow_preparation_steps_and_a_stopped_preparation_show_in_the_status_line():
    run = Run(name="r", path="r.safetensors", preset="default", settings={}, stage="computing word vectors")
    assert "Preparing r" in views.status_markdown(run) and "computing word vectors" in views.status_markdown(run)
    run.status, run.stage = "stopped", "stopped before training began; no checkpoint was saved"
    run.events.append({"kind": "Finished", "status": "stopped", "path": "", "val": {}, "test": {}, "elapsed_s": 1.0,
                       "error": ""})
    assert "no checkpoint was saved" in views.status_markdown(run)
    run.stage = "building the vocabulary and model"  # the trainer saw the stop first: the last stage stays
    assert views.status_markdown(run).startswith("**r stopped** before training began; no checkpoint was saved.")
    assert views.training_view(run)["can_start"] and not views.training_view(run)["can_stop"]


def test_the_status_shows_where_the_time_goes_phase_by_phase():
    run = Run(name="r", path="r.safetensors", preset="fast", settings={"epochs": 2}, stage="tokenizing 500/50,000")
    run.started_at = 1000.0
    # While the data is tokenized: that stage is under way, with the time since Start.
    view = views.timings_markdown(run, now=1042.0)
    assert "| tokenizing 500/50,000 | 42\u00a0s | 100% | under way |" in view and "| total | 42\u00a0s |" in view
    # A stage line can name a user's classes: it is shown as typed, not as table or HTML markup.
    hostile = dataclasses.replace(run, stage="warning: class 'a|b<i>' has 1 training example")
    assert "class 'a\\|b&lt;i&gt;' has 1" in views.timings_markdown(hostile, now=1001.0)
    run.status = "training"
    run.events += [{"kind": "Timing", "phase": "tokenizing", "seconds": 40.0, "note": ""},
                   {"kind": "Timing", "phase": "word vectors", "seconds": 20.0, "note": "computed from 72,500 reviews"},
                   {"kind": "Step", "epoch": 1, "step": 1, "total_steps": 10},
                   {"kind": "Timing", "phase": "epoch 1", "seconds": 50.0, "note": ""},
                   {"kind": "Step", "epoch": 2, "step": 6, "total_steps": 10}]
    view = views.timings_markdown(run, now=1130.0)
    assert "| word vectors | 20\u00a0s | 15% | computed from 72,500 reviews |" in view
    assert "| epoch 2 | 20\u00a0s | 15% | under way |" in view and "| total | 2\u00a0min\u00a010\u00a0s |" in view
    run.events.append({"kind": "Timing", "phase": "epoch 2", "seconds": 45.0, "note": ""})
    assert "| testing |" in views.timings_markdown(run, now=1160.0)  # all epochs done: the test runs
    # Once ended, the time outside any phase (process start-up, saving) makes the total add up.
    run.status, run.ended_at = "finished", 1170.0
    run.events.append({"kind": "Timing", "phase": "testing", "seconds": 12.0, "note": "25,000 reviews"})
    view = views.timings_markdown(run)
    assert "| start-up and saving | 3.0\u00a0s |" in view and "| total | 2\u00a0min\u00a050\u00a0s |" in view
    assert "Where the time goes" in views.status_markdown(run)
    assert views.timings_markdown(None) == ""


def test_percentage_axes_never_repeat_a_tick_label():
    for values in ([0.771, 0.772, 0.774], [0.77], [0.5, 0.9], [0.9012, 0.9013], [0.0, 1.0]):
        domain, ticks, fmt = percent_scale(values)
        labels = [format(t, fmt) for t in ticks]
        assert len(labels) >= 4 and len(set(labels)) == len(labels), (values, labels)
        assert domain[0] <= min(values) and max(values) <= domain[1]
        assert all(domain[0] <= t <= domain[1] for t in ticks)
    run = Run("r", "r.safetensors", "quick", {}, status="training")
    run.events += [{"kind": "EpochEnd", "epoch": e, "step": e, "val": {"accuracy": a}} for e, a in
                   ((1, 0.771), (2, 0.772), (3, 0.774))]
    y = json.loads(views.accuracy_chart(run).plot)["layer"][0]["encoding"]["y"]
    assert y["axis"]["format"] == ".1%" and y["axis"]["values"] == [0.766, 0.768, 0.77, 0.772, 0.774, 0.776, 0.778]


def test_compare_chart_has_one_series_per_run():
    history = [{"epoch": 1, "train_loss": 0.7, "val_loss": 0.69, "val_accuracy": 0.55},
               {"epoch": 2, "train_loss": 0.6, "val_loss": 0.62, "val_accuracy": 0.7}]
    chart = views.compare_chart({"rnn-a": history, "gru-b": history[:1]}, [], "validation accuracy")
    rows = json.loads(chart.plot)["data"]["values"]
    assert [(r["series"], r["epoch"], r["val_accuracy"]) for r in rows] == [
        ("rnn-a", 1, 0.55), ("rnn-a", 2, 0.7), ("gru-b", 1, 0.55)]
    assert views.compare_chart({}, [], "validation loss") is None


def test_polls_that_find_nothing_new_skip_every_output(tmp_path):
    """Gradio needs a value per output: an unchanged run or model list answers with skips, not nothing."""
    from demo.tabs.classify import build_classify_tab

    registry = ModelRegistry(tmp_path, tmp_path / "runs")
    with gr.Blocks():
        seen = gr.State({})
        models = build_classify_tab(registry, seen, tmp_path)
        tab = tt.build_train_tab(TrainingWorker(threads=1), registry, tmp_path / "runs", seen)
    for view in (tab, models):
        outputs = view.refresh_event()["outputs"]
        first = view.refresh(*([None] if view is models else ["validation loss"]), {})
        assert set(first) == set(outputs)
        again = view.refresh(*([None] if view is models else ["validation loss"]), first[outputs[-1]])
        assert set(again) == set(outputs) and all(isinstance(v, type(gr.skip())) for v in again.values())


def test_the_train_tab_opens_on_the_fast_preset_over_every_training_review():
    assert form.PRESET_ORDER[:2] == ("fast", "quick")
    values = form.preset_settings("fast")
    assert values["max_train_samples"] == 0 and values["max_eval_samples"] == 0  # all 22,500; the full test set
    assert preset("fast")[1].pretrain_embeddings  # its word vectors are cached after the first run
    # A server's cap still applies to it.
    assert form.preset_settings("fast", cap=5_000)["max_train_samples"] == 5_000


def test_the_status_line_counts_a_files_rows_and_imdbs_reviews():
    started = {"kind": "Started", "num_parameters": 1000, "vocab_size": 50, "train_size": 80, "val_size": 10,
               "test_size": 10, "device": "cpu", "classes": ["a", "b"]}
    for examples in ("rows", "reviews"):
        run = Run("r", "r.safetensors", "small", {}, examples, status="training", stage="")
        run.events.append(started)
        assert f"80 train / 10 validation / 10 test {examples} · device `cpu`" in views.status_markdown(run)


def test_a_run_whose_preset_fitted_its_schedule_says_so_beside_the_form_it_overrode():
    run = Run(name="r", path="r.safetensors", preset="transfer", settings={"epochs": 2}, status="training")
    message = "fitted to 1,000 training reviews: batches of 32 and up to 11 epochs, stopping after 3 without gain"
    run.events += [{"kind": "Status", "message": message},
                   {"kind": "Started", "device": "cpu", "num_parameters": 10, "vocab_size": 5, "train_size": 1000,
                    "val_size": 10, "test_size": 10, "steps_per_epoch": 32, "total_steps": 352, "epochs": 11},
                   {"kind": "Step", "epoch": 1, "step": 3, "total_steps": 352, "tokens_per_s": 10.0, "eta_s": 5.0}]
    status = views.status_markdown(run)
    assert "epoch 1/11" in status and "Fitted to 1,000 training reviews: batches of 32" in status
