"""The command line end to end on a slice, as a user would run it."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from sentiment_core import load_checkpoint
from sentiment_core.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args, input=None):
    return subprocess.run([sys.executable, "-m", "sentiment_core", *args], cwd=ROOT, capture_output=True, text=True,
                          input=input, timeout=600)


COMMANDS = ["train", "evaluate", "errors", "predict", "card", "behaviour", "pretrain", "lm-encoder"]


def test_the_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(command in out for command in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage:" in out
    options = {
        "train": ("--cell", "--bidirectional", "--hidden-dim", "--max-train-samples", "--device", "--preset",
                  "--pretrained-lm", "--lr-decay", "--unfreeze-steps", "--passages", "--counterfactual"),
        "behaviour": ("--checkpoint", "--half", "--failures", "--json"),
        "pretrain": ("--cutoffs", "--bptt", "--weight-dropout", "--restart", "--output"),
        "lm-encoder": ("source", "target", "--overwrite"),
    }
    for option in options.get(command, ()):
        assert option in out


@pytest.mark.imdb
def test_train_evaluate_predict_end_to_end(tmp_path):
    ckpt = tmp_path / "cli.safetensors"
    result = run_cli("train", "--preset", "quick", "--max-train-samples", "600", "--max-eval-samples", "200",
                     "--epochs", "2", "--embed-dim", "32", "--hidden-dim", "32", "--output", str(ckpt),
                     "--name", "cli-test")
    assert result.returncode == 0, result.stderr
    assert "validation" in result.stdout and "test confusion matrix" in result.stdout
    assert ckpt.exists() and ckpt.with_suffix(".md").exists()
    card = ckpt.with_suffix(".md").read_text()
    assert "# Model card: cli-test" in card and "Maas" in card and "bidirectional GRU" in card

    result = run_cli("evaluate", "--checkpoint", str(ckpt), "--max-samples", "200", "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["count"] == 200 and 0.5 < metrics["accuracy"] <= 1.0
    assert sum(map(sum, metrics["confusion"])) == 200

    result = run_cli("predict", "--checkpoint", str(ckpt), "--json", "A masterpiece, I loved it.", "Dull and awful.")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["A masterpiece, I loved it.", "Dull and awful."]
    assert all(r["label"] in ("negative", "positive") and abs(r["negative"] + r["positive"] - 1) < 1e-6 for r in rows)

    result = run_cli("predict", "--checkpoint", str(ckpt), "--file", "-", input="great film\n\nterrible film\n")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 2


def test_cli_errors_are_one_clear_line(tmp_path, capsys):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint at all")
    assert main(["predict", "--checkpoint", str(broken), "hello"]) == 1
    assert f"error: {broken}:" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", str(tmp_path / "missing.safetensors")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--output", str(tmp_path / "x.safetensors")]) == 1
    assert "IMDB data not found" in capsys.readouterr().err


def test_predict_with_nothing_to_classify(tiny_checkpoint, capsys):
    assert main(["predict", "--checkpoint", str(tiny_checkpoint)]) == 2
    assert "nothing to classify" in capsys.readouterr().err


def test_ctrl_c_during_training_stops_cleanly_and_keeps_a_checkpoint(tmp_path, synthetic_data):
    ckpt = tmp_path / "interrupted.safetensors"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sentiment_core", "train", "--preset", "quick", "--data", str(synthetic_data),
         "--max-eval-samples", "200", "--epochs", "30", "--output", str(ckpt)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines = []
    for line in proc.stdout:  # wait until the training loop runs
        lines.append(line)
        if line.startswith("device "):
            break
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    out = "".join(lines) + proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out
    assert "stopping at the next batch" in out and "\nstopped in " in out
    assert load_checkpoint(ckpt).metrics["val"]["count"] == 200
