"""The Classify endpoints served on a local port and called with ``gradio_client`` as an outsider would."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from pathlib import Path

import gradio as gr
import httpx
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI
from gradio_client import Client, handle_file

from demo import build_demo
from demo.services.uploads import REFUSED_MESSAGE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=["launch", "mount"])
def url(request, tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path):
    """The app started by ``launch()`` (as app.py does), or mounted on a FastAPI app served by uvicorn."""
    root = tmp_path_factory.mktemp("app")
    shipped = root / "checkpoints"
    shipped.mkdir()
    shutil.copy(tiny_checkpoint, shipped / "default.safetensors")
    demo = build_demo(checkpoint_dir=shipped, runs_dir=root / "runs", default_model=None, allow_training=False,
                      max_train_samples=None)
    port = free_port()
    if request.param == "launch":
        _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
        yield url
        demo.close()
        return
    server = uvicorn.Server(uvicorn.Config(gr.mount_gradio_app(FastAPI(), demo, path="/"), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=30)


def call(url: str, api_name: str, body: str) -> tuple[str, object]:
    """POST a raw JSON body to an endpoint, as any HTTP client can: (event, data) of the outcome.

    ``gradio_client`` would upload a local file named in a FileData, and cannot send a lone
    surrogate; a caller elsewhere does neither.
    """
    posted = httpx.post(f"{url}gradio_api/call/{api_name}", content=body.encode("ascii"),
                        headers={"content-type": "application/json"}, timeout=60)
    posted.raise_for_status()
    event = data = None
    with httpx.stream("GET", f"{url}gradio_api/call/{api_name}/{posted.json()['event_id']}", timeout=60) as r:
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = json.loads(line.split(":", 1)[1])
                break
    return event, data


def server_file(path: str) -> dict:
    """A FileData naming a path on the server, sent instead of an upload."""
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def test_files_that_were_not_uploaded_are_refused_alike(request, url, tmp_path):
    """Launched, Gradio refuses these paths itself (with an empty error); mounted, it skips that check
    and copies any file named into its upload folder, and the handler must refuse."""
    secret = tmp_path / "secret.csv"
    secret.write_text("text\npassword hunter2\n")
    (tmp_path / "link.txt").symlink_to(secret)
    (tmp_path / "folder.csv").mkdir()
    paths = [str(secret), str(tmp_path / "link.txt"), str(tmp_path / "missing.csv"),
             f"{tmp_path}/../{tmp_path.name}/secret.csv", "/etc/passwd"]
    mounted = request.node.callspec.params["url"] == "mount"
    if not mounted:  # mounted, Gradio's copy step fails on a folder first ("Is a directory")
        paths.append(str(tmp_path / "folder.csv"))
    answers = [call(url, "classify_file", json.dumps({"data": [server_file(p), "shipped/default"]})) for p in paths]
    assert "hunter2" not in json.dumps(answers) and "root:" not in json.dumps(answers)
    assert answers[0][0] == "error" and all(answer == answers[0] for answer in answers), answers
    if mounted:
        assert answers[0][1]["error"] == REFUSED_MESSAGE


def test_an_uploaded_file_is_classified(url, tmp_path):
    reviews = tmp_path / "reviews.csv"
    pd.DataFrame({"id": [1, 2], "review": ["Loved it.", "Terrible film."]}).to_csv(reviews, index=False)
    client = Client(url, verbose=False)
    result = client.predict(handle_file(str(reviews)), api_name="/classify_file")
    assert [row["review"] for row in result["predictions"]] == ["Loved it.", "Terrible film."]
    assert list(result["predictions"][0]) == ["id", "review", "prediction", "p_positive", "known_words"]
    assert "Classified 2 reviews" in result["message"]


def test_text_with_a_lone_surrogate_is_classified(url):
    event, data = call(url, "explain", '{"data": ["great \\ud800 film", "shipped/default"]}')
    assert event == "complete", data
    (result,) = data
    assert result["label"] in ("negative", "positive") and result["characters_replaced"]
    # The tiny model's training reviews all end in ".": the text is read with a full stop, and says so.
    assert result["tokens"] == ["great", "\ufffd", "film", "."] and result["full_stop_added"]
    event, data = call(url, "classify", '{"data": ["great \\ud800 film", null]}')
    assert event == "complete" and data[0]["label"] == result["label"], data
