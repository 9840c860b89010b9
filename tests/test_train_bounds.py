"""Training API parity (issue 19): one table of bounds for the page, the API and the CLI, a training
file sent through the API and checked like the page's upload, and a clear refusal of each hostile value."""

from __future__ import annotations

import argparse
import inspect
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest

from demo import build_demo
from demo.services import form
from demo.tabs.train import control
from sentiment_core.cli_options import field_of, option_type
from sentiment_core.config import MAX_EPOCHS, TrainConfig

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def start_training():
    demo = build_demo(checkpoint_dir="/nonexistent", runs_dir="/nonexistent-runs")
    fn = next(f.fn for f in demo.fns.values() if f.api_name == "start_training")

    def call(**kwargs):
        bound = inspect.signature(fn).bind(**kwargs)
        bound.apply_defaults()
        return fn(*bound.args)

    return call


def test_the_page_the_api_and_the_cli_share_one_table_of_bounds():
    for field in form.FORM:
        meta = field.config_field.metadata
        if field.range:
            slider = control(field, meta.get("min", 0), cap=None)
            assert (slider.minimum, slider.maximum) == field.bounds
            assert field.bounds[1] == meta.get("max", meta.get("below", 0) - field.step)
    assert form.BY_NAME["epochs"].bounds == (1, MAX_EPOCHS)
    assert "patience" in form.FIELDS  # early stopping, as the CLI's --patience
    epochs = option_type(field_of(TrainConfig, "epochs"))  # the CLI's --epochs
    assert epochs(str(MAX_EPOCHS)) == MAX_EPOCHS
    with pytest.raises(argparse.ArgumentTypeError, match=f"at most {MAX_EPOCHS}"):
        epochs(str(MAX_EPOCHS + 1))


@pytest.mark.imdb  # the tab checks its IMDB data before the settings
@pytest.mark.parametrize(("setting", "value", "message"), [
    ("epochs", 999, f"epochs must be at most {MAX_EPOCHS}"),
    ("epochs", -3, "epochs must be at least 1"),
    ("epochs", 2.5, "Epochs must be a whole number"),
    ("epochs", float("inf"), "Epochs must be a whole number"),
    ("epochs", float("nan"), "Epochs must be a whole number"),
    ("epochs", "3", "Epochs must be a whole number"),
    ("epochs", True, "Epochs must be a whole number"),
    ("batch_size", 10**30, "batch_size must be at most"),
    ("embed_dim", 0, "embed_dim must be at least 1"),
    ("patience", -1, "patience must be at least 0"),
    ("dropout", 1.0, "dropout must be below 1.0"),
    ("lr", -1e-3, "lr must be above 0.0"),
    ("lr", "fast", "lr must be a number"),
    ("lr", float("inf"), "lr must be a finite number"),
    ("cell", 3, "cell must be a string"),
    ("device", "tpu", "device must be one of"),
])
def test_the_api_refuses_each_hostile_setting_clearly(start_training, setting, value, message):
    with pytest.raises(gr.Error, match=message.replace("(", r"\(").replace(".", r"\.")):
        start_training(preset="quick", **{setting: value})


@pytest.mark.imdb  # the tab checks its IMDB data before the settings
@pytest.mark.parametrize(("arguments", "message"), [
    ({"upload": "/etc/passwd"}, "upload must be a file sent with gradio_client.handle_file"),
    ({"upload": {"path": 7}}, "upload must be a file sent with gradio_client.handle_file"),
    ({"upload": {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}}, "not uploaded to this app"),
    ({"data_source": "file", "data_file": "tickets.csv"}, "reads no files by name: upload the file"),
    ({"data_source": ["file"]}, "data_source must be a string"),
    ({"data_source": "s3"}, "Unknown data source"),
    ({"text_column": {"a": 1}}, "text_column must be a string"),
    ({"preset": 5}, "Unknown preset 5"),
])
def test_the_api_checks_a_training_file_like_the_page_does(start_training, arguments, message):
    with pytest.raises(gr.Error, match=message):
        start_training(**arguments)


def test_the_api_takes_a_file_and_lists_its_parameters():
    api = build_demo(checkpoint_dir="/nonexistent", runs_dir="/x").get_api_info()["named_endpoints"]
    params = {p["parameter_name"]: p for p in api["/start_training"]["parameters"]}
    assert {"upload", "data_source", "data_file", "text_column", "label_column", "patience"} <= set(params)
    assert params["preset"]["parameter_default"] is None  # None: the preset the page opens on for the data
    assert "filepath" in str(params["upload"]["python_type"]["type"]).lower() or "file" in str(params["upload"])


def test_the_cli_refuses_what_the_page_and_api_refuse():
    result = subprocess.run([sys.executable, "-m", "sentiment_core", "train", "--epochs", "999"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and f"epochs must be at most {MAX_EPOCHS}" in result.stderr
