"""Per-client rate limits: password guesses, error scorings and data checks; the queue has a bound."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest
from gradio.context import LocalContext

from demo import build_demo
from demo.services import limits
from demo.services.worker import TrainingWorker
from demo.tabs.train import TrainTab


def as_client(host: str, forwarded: str | None = None):
    """Handle the next calls as if a request came from ``host``."""
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    return LocalContext.request.set(SimpleNamespace(client=SimpleNamespace(host=host), headers=headers))


def test_a_limit_makes_a_client_wait_once_it_reaches_its_count():
    limit = limits.RateLimit("tries", count=3, window_s=60, wait_s=30)
    for t in (0, 1, 2):
        limit.check("a", now=t)
        limit.record("a", now=t)
    with pytest.raises(limits.RateLimited, match=r"try again in 28 s"):
        limit.check("a", now=4)
    limit.check("b", now=4)  # other clients go on
    limit.check("a", now=33)  # the wait is over
    limit.hit("a", now=34)
    limit.forget()  # a restart: nobody waits, nothing counts
    for t in (35, 36):
        limit.hit("a", now=t)
    old = limits.RateLimit("tries", count=3, window_s=10, wait_s=30)
    for t in (0, 20, 40):  # spread out: never three in a window
        old.hit("a", now=t)


def test_the_client_is_the_peer_unless_a_local_proxy_names_it():
    assert limits.client_key("8.8.8.8", "1.2.3.4") == "8.8.8.8"  # a public peer cannot claim another address
    assert limits.client_key("10.0.0.2", "198.51.100.7, 10.0.0.1") == "198.51.100.7"  # behind a Space's proxy
    assert limits.client_key("127.0.0.1", "garbage") == "127.0.0.1"
    assert limits.client_key(None) == "unknown"


def test_password_guesses_are_limited_per_client_and_a_right_one_waits_too(tmp_path):
    tab = TrainTab(TrainingWorker(), None, tmp_path / "runs", None, "secret", None)
    token = as_client("198.51.100.20")
    try:
        for _ in range(limits.PASSWORD.count):
            with pytest.raises(gr.Error, match="Wrong or missing training password"):
                tab.stop_run("guess")
        with pytest.raises(gr.Error, match="Too many wrong password attempts"):
            tab.stop_run("secret")  # even the right password waits a minute
        as_client("198.51.100.21")
        assert tab.stop_run("secret") == (False, "No training run is in progress.")  # another client goes on
    finally:
        LocalContext.request.reset(token)


def test_error_scorings_are_limited_per_client(tmp_path):
    demo = build_demo(checkpoint_dir="/nonexistent", runs_dir=tmp_path / "runs", allow_training=False)
    errors = next(f.fn for f in demo.fns.values() if f.api_name == "errors")
    token = as_client("198.51.100.30")
    try:
        for _ in range(limits.ERRORS.count):
            with pytest.raises(gr.Error) as info:
                errors(model="runs/none")
            assert "Too many" not in str(info.value)
        with pytest.raises(gr.Error, match="Too many error scorings"):
            errors(model="runs/none")
    finally:
        LocalContext.request.reset(token)
    assert demo._queue.max_size == 200  # the queue has a bound
