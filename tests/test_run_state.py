"""A run the server was killed during shows as interrupted after a restart, its best checkpoint carded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from demo.services import run_state
from demo.services.registry import ModelRegistry
from demo.services.worker import Run, TrainingWorker, _Job
from demo.tabs.train_views import status_markdown
from sentiment_core.card import card_path
from sentiment_core.checkpoint import save_checkpoint
from sentiment_core.config import ModelConfig, TrainConfig
from sentiment_core.evaluation import Metrics
from sentiment_core.model import SentimentRNN
from sentiment_core.vocab import Vocab


def checkpoint(path: Path) -> Path:
    vocab = Vocab.build([["good", "bad", "film"]])
    torch.manual_seed(0)
    model = SentimentRNN(ModelConfig(vocab_size=len(vocab), embed_dim=4, hidden_dim=4))
    val = Metrics.from_counts(0.3, 4, 1, 0, 5).to_dict()
    return save_checkpoint(path, model, vocab, TrainConfig(), {"val": val}, {"name": "run-1"})


def dead_pid() -> int:
    """The id of a process that has exited."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                           text=True, check=True)
    return int(child.stdout)


def going(tmp_path: Path, saved: bool) -> Run:
    """What a server killed during epoch 2 leaves: the state the worker wrote, and the epoch-1 checkpoint."""
    worker = TrainingWorker()
    run = Run("run-1", str(tmp_path / "run-1.safetensors"), "quick", {})
    job = _Job(run, process=None, conn=None, stop=None)
    worker._record(job, {"kind": "Started", "classes": ["negative", "positive"]})
    if saved:
        worker._record(job, {"kind": "CheckpointSaved", "path": str(checkpoint(Path(run.path)))})
    state = json.loads(run_state.state_path(run.path).read_text())
    assert state["status"] == "training" and state["saved"] == (run.path if saved else "")
    state["server"] = dead_pid()  # the server that wrote it is gone (kill -9)
    run_state.state_path(run.path).write_text(json.dumps(state))
    return run


def test_the_worker_writes_the_runs_state_beside_its_checkpoint(tmp_path):
    run = going(tmp_path, saved=True)
    assert run_state.state_path(run.path) == tmp_path / "run-1.run.json"


def test_after_a_restart_a_run_that_was_going_is_interrupted_with_its_best_checkpoint_carded(tmp_path):
    run = going(tmp_path, saved=True)
    assert not card_path(run.path).exists()
    worker = TrainingWorker()
    worker.restore(tmp_path)
    (restored,) = worker.runs()
    assert restored.status == "interrupted" and not restored.running
    assert card_path(run.path).is_file()  # the checkpoint is complete: listed with its card
    page = status_markdown(worker.snapshot()[1])
    assert "interrupted" in page and "run-1.safetensors" in page, page
    assert json.loads(run_state.state_path(run.path).read_text())["status"] == "interrupted"
    registry = ModelRegistry(tmp_path / "none", tmp_path, tmp_path / "none" / "x.safetensors")
    assert [e.key for e in registry.scan()[0]] == ["runs/run-1"]
    again = TrainingWorker()
    again.restore(tmp_path)  # a second restart finds nothing going
    assert again.runs() == []


def test_a_run_interrupted_before_its_first_checkpoint_says_so(tmp_path):
    going(tmp_path, saved=False)
    worker = TrainingWorker()
    worker.restore(tmp_path)
    (restored,) = worker.runs()
    assert restored.status == "interrupted" and "before a checkpoint was saved" in restored.stage


def test_a_run_going_in_another_live_server_is_left_alone(tmp_path):
    run = going(tmp_path, saved=True)
    state = json.loads(run_state.state_path(run.path).read_text())
    state["server"] = 1  # init: alive
    run_state.state_path(run.path).write_text(json.dumps(state))
    worker = TrainingWorker()
    worker.restore(tmp_path)
    assert worker.runs() == [] and not card_path(run.path).exists()
