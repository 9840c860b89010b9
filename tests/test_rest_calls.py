"""Sessions and plain REST calls skip Gradio's copy of every component's config (demo/rest_calls.py),
and nothing else changes."""

from __future__ import annotations

import importlib.util
import socket
import sys

import gradio as gr
import httpx
import pytest
from gradio import route_utils, state_holder

from demo import rest_calls


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served():
    rest_calls.install()
    with gr.Blocks() as demo:
        boxes = [gr.Textbox(f"box {i}") for i in range(50)]
        count = gr.State(0)
        shown = gr.Number()

        def bump(n: int) -> tuple[int, int]:
            return n + 1, n + 1

        gr.Button().click(bump, count, [count, shown], api_name="bump", queue=False)

        def shout(text: str) -> dict:
            return {"text": text.upper()}

        gr.api(shout, api_name="shout", queue=False)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    yield demo, url, boxes
    demo.close()


def test_the_light_state_has_every_attribute_of_gradios_own(served):
    demo = served[0]
    light, gradios = rest_calls.LightSessionState(demo), rest_calls.GradioSessionState(demo)
    assert set(vars(light)) == set(vars(gradios))
    assert light.config_values == {} and len(gradios.config_values) > 50
    assert state_holder.SessionState is route_utils.SessionState is rest_calls.LightSessionState


def test_calls_build_no_config_copy_and_answer_as_before(served, monkeypatch):
    demo, url, boxes = served
    built = []
    config_class = type(demo.default_config)
    real = config_class.config_for_block
    monkeypatch.setattr(config_class, "config_for_block", staticmethod(
        lambda key, *a, **k: built.append(key) or real(key, *a, **k)))
    answer = httpx.post(f"{url}gradio_api/run/shout", json={"data": ["hello"]}, timeout=30)
    assert answer.status_code == 200 and answer.json()["data"] == [{"text": "HELLO"}]
    # A UI event called without a session starts from the State's initial value, every time.
    for _ in range(2):
        bumped = httpx.post(f"{url}gradio_api/run/bump", json={"data": [None]}, timeout=30).json()
        assert bumped["data"][-1] == 1
    # With a session, the State is kept between calls, and each session has its own.
    for session, expected in (("visitor-1", 1), ("visitor-1", 2), ("visitor-2", 1), ("visitor-1", 3)):
        body = {"data": [None], "session_hash": session}
        assert httpx.post(f"{url}gradio_api/run/bump", json=body, timeout=30).json()["data"][-1] == expected
    # Gradio's own state would have copied the config of all 50 boxes for each session and each call.
    assert not set(built) & {b._id for b in boxes}


def test_a_missing_matplotlib_is_not_searched_for_again(served):
    if importlib.util.find_spec("matplotlib") is not None and sys.modules.get("matplotlib") is not None:
        pytest.skip("matplotlib is installed here")
    assert sys.modules["matplotlib"] is None
    with pytest.raises(ImportError):
        import matplotlib  # noqa: F401
