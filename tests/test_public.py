"""Public mode: a public server without a password trains within caps, one run per visitor, stopped by its starter."""

from __future__ import annotations

import time
from types import SimpleNamespace

import gradio as gr
import pytest

from demo import build_demo
from demo.services import form, public
from demo.services.user_input import UserInputError
from demo.services.worker import Run
from demo.tabs.train import TrainTab
from sentiment_core import ModelConfig, TrainConfig

MINE, THEIRS = "m" * 24, "t" * 24


class FakeWorker:
    """A worker whose latest run is ``run``; Stop is recorded."""

    def __init__(self, running: bool = True) -> None:
        self.run = Run("run-1", "runs/run-1.safetensors", "quick", {}, status="training" if running else "finished")
        self.stops = 0

    def snapshot(self):
        return 1, self.run

    def stop(self) -> bool:
        self.stops += 1
        return self.run.running


def test_public_means_reachable_by_strangers():
    assert not public.is_public(None) and not public.is_public("127.0.0.1") and not public.is_public("localhost")
    assert public.is_public("0.0.0.0") and public.is_public("192.168.1.5") and public.is_public("example.org")
    assert public.is_public("127.0.0.1", share=True) and public.is_public(None, space=True)


def test_public_caps_are_a_column_of_the_bounds_table_and_lower_a_runs_settings():
    caps = public.caps()
    assert caps["epochs"] == 3 and caps["max_train_samples"] == 4000
    model_cfg, train_cfg, notes = public.cap_configs(ModelConfig(hidden_dim=512),
                                                     TrainConfig(epochs=10, max_train_samples=0))
    assert (model_cfg.hidden_dim, train_cfg.epochs, train_cfg.max_train_samples) == (128, 3, 4000)
    assert len(notes) == 4 and all("public mode" in n for n in notes)  # max_eval_samples 0 (all) too
    assert "epochs 3" in public.describe() and "5 minutes" in public.describe()


def test_one_run_per_visitor_then_a_cooldown_by_token_and_by_address():
    gate = public.PublicTraining(FakeWorker(), wall_s=3600, cooldown_s=600)
    with pytest.raises(UserInputError, match="run token"):
        gate.admit("short", "1.2.3.4", now=0)
    digest = gate.admit(MINE, "1.2.3.4", now=0)
    gate.started("run-1", digest, "1.2.3.4", now=0)
    with pytest.raises(UserInputError, match="one run every 10 minutes"):
        gate.admit(MINE, "5.6.7.8", now=60)  # same browser, another address
    with pytest.raises(UserInputError, match="one run every 10 minutes"):
        gate.admit(THEIRS, "1.2.3.4", now=60)  # a fresh token from the same address
    assert gate.admit(THEIRS, "5.6.7.8", now=60)  # someone else
    assert gate.admit(MINE, "1.2.3.4", now=601)  # the cooldown is over


def test_only_the_browser_that_started_a_run_can_stop_it(tmp_path):
    worker = FakeWorker()
    gate = public.PublicTraining(worker, wall_s=3600)
    gate.started("run-1", gate.admit(MINE, "1.2.3.4"), "1.2.3.4")
    tab = TrainTab(worker, None, tmp_path, None, None, None, public=gate)
    with pytest.raises(gr.Error, match="only the browser that started a run can stop it"):
        tab.stop_run(THEIRS)
    with pytest.raises(gr.Error):
        tab.stop_run(None)
    assert worker.stops == 0
    assert tab.stop_run(MINE)[0] and worker.stops == 1


def test_a_public_run_is_stopped_when_its_wall_time_is_up():
    worker = FakeWorker()
    gate = public.PublicTraining(worker, wall_s=0.2)
    gate.started("run-1", gate.admit(MINE, "1.2.3.4"), "1.2.3.4")
    deadline = time.monotonic() + 5
    while not worker.stops and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.stops == 1
    other = FakeWorker()
    late = public.PublicTraining(other, wall_s=0.1)
    late.started("an-earlier-run", "x", "1.2.3.4")  # the run going is another one: left alone
    time.sleep(0.4)
    assert other.stops == 0


def test_the_train_tab_says_it_is_in_public_mode_and_keeps_a_token_in_the_browser(tmp_path):
    def parts(demo):
        return [b for b in demo.blocks.values() if isinstance(b, (gr.Markdown, gr.BrowserState))]

    demo = build_demo(checkpoint_dir="/nonexistent", runs_dir=tmp_path / "runs", public=True)
    shown = parts(demo)
    assert any(isinstance(b, gr.Markdown) and "Public mode" in (b.value or "") for b in shown)
    assert any(isinstance(b, gr.BrowserState) for b in shown)
    guarded = build_demo(checkpoint_dir="/nonexistent", runs_dir=tmp_path / "runs", public=True,
                         training_password="pw")
    assert not any(isinstance(b, gr.Markdown) and "Public mode" in (b.value or "") for b in parts(guarded))
    local = build_demo(checkpoint_dir="/nonexistent", runs_dir=tmp_path / "runs")
    assert not any(isinstance(b, gr.BrowserState) for b in parts(local))


def test_the_page_start_passes_the_browser_token_to_the_gate(tmp_path):
    seen = {}
    tab = TrainTab(FakeWorker(running=False), None, tmp_path, None, None, None,
                   public=SimpleNamespace(admit=lambda given, client: seen.setdefault("token", given) and None))
    with pytest.raises(gr.Error):  # the fake gate admits, then the missing registry fails further on
        tab.start("quick", None, *([None] * len(form.FIELDS)), MINE)
    assert seen["token"] is not None
