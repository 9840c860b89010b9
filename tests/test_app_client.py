"""The app served on a local port and driven through its API with ``gradio_client``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from demo import build_demo
from demo.services import form

ROOT = Path(__file__).resolve().parent.parent
REVIEW = "A wonderful film: moving, funny and beautifully acted. I loved it."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path, synthetic_data: Path):
    """(url, runs folder) of the app on a free port, with the tiny model as the shipped default and the
    synthetic reviews in its training data folder (``OWN_DATA`` trains on them)."""
    root = tmp_path_factory.mktemp("app")
    shipped, runs = root / "checkpoints", root / "runs"
    shipped.mkdir()
    shutil.copy(tiny_checkpoint, shipped / "default.safetensors")
    demo = build_demo(checkpoint_dir=shipped, runs_dir=runs, train_data_dir=synthetic_data.parent)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    yield url, runs
    client = Client(url, verbose=False)
    client.predict(api_name="/stop_training")  # a failed test may leave a run going
    poll(client, lambda s: s["status"] not in ("preparing", "training"))
    demo.close()


@pytest.fixture(scope="module")
def client(served) -> Client:
    return Client(served[0], verbose=False)


# /start_training's data arguments, by name: the synthetic reviews of the training data folder.
OWN_DATA = {"data_source": "file", "data_file": "reviews.csv"}
OWN_DATA_NOTE = "reviews.csv: 1,000 rows, 2 classes"


def tiny_form(name: str, **overrides) -> list:
    """Positional inputs of /start_training: preset, run name, then the form in ``form.FIELDS`` order
    (then come the password and the data: ``OWN_DATA``)."""
    values = form.preset_settings("quick")
    values.update(max_train_samples=300, max_eval_samples=100, embed_dim=16, hidden_dim=16, max_tokens=100,
                  epochs=1, batch_size=32, device="cpu")
    values.update(overrides)
    return ["quick", name, *(values[f] for f in form.FIELDS)]


def alive(pid: int) -> bool:
    """Whether ``pid`` is running (a zombie awaiting its parent has exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def poll(client: Client, predicate, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = client.predict(api_name="/training_status")
        if predicate(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last status {status}")
        time.sleep(0.2)


def test_classify_takes_the_text_first_and_the_model_optionally(client):
    result = client.predict(REVIEW, api_name="/classify")
    assert result["model"] == "shipped/default" and result["label"] in ("negative", "positive")
    assert set(result["probabilities"]) == {"negative", "positive"}
    assert sum(result["probabilities"].values()) == pytest.approx(1.0)
    assert client.predict(REVIEW, "shipped/default", api_name="/classify") == result
    with pytest.raises(AppError, match="gone or unknown"):
        client.predict(REVIEW, "shipped/nope", api_name="/classify")


def test_explain_returns_the_explanation_as_json(client):
    result = client.predict(REVIEW, api_name="/explain")
    label = client.predict(REVIEW, api_name="/classify")
    assert result["label"] == label["label"]
    assert result["probabilities"] == pytest.approx(label["probabilities"])
    assert result["tokens"][:3] == ["A", "wonderful", "film"] and len(result["attributions"]) == len(result["tokens"])
    running = result["running"]
    assert running["tokens_read"][-1] == len(result["tokens"])
    assert running["p_positive"][-1] == pytest.approx(label["probabilities"]["positive"], abs=1e-4)


@pytest.mark.parametrize("api_name", ["/classify", "/explain"])
def test_empty_text_is_a_clear_error_through_the_api(client, api_name):
    with pytest.raises(AppError, match="Type or paste"):
        client.predict("   ", api_name=api_name)


def test_models_and_model_card(client):
    models = client.predict(api_name="/models")
    assert [m["model"] for m in models] == ["shipped/default"] and models[0]["default"] is True
    card = client.predict("shipped/default", api_name="/model_card")
    assert card == client.predict(api_name="/model_card")  # the default model
    assert card["model"] == "shipped/default" and card["name"] == "tiny"
    assert "bidirectional GRU" in card["summary"] and "**" not in card["summary"]  # plain text
    assert card["card"].startswith("# Model card")  # the card itself is a Markdown document
    with pytest.raises(AppError, match="gone or unknown"):
        client.predict("my-model", api_name="/model_card")


def test_only_listed_models_are_accepted(client):
    for model in ("my-model", "runs/../shipped/default", "../checkpoints/default"):
        with pytest.raises(AppError, match="gone or unknown"):
            client.predict(REVIEW, model, api_name="/classify")
    with pytest.raises(AppError, match="model must be a string"):
        client.predict(REVIEW, 3, api_name="/classify")
    with pytest.raises(AppError, match="text must be a string"):
        client.predict(["a", "list"], api_name="/explain")


def test_batch_file(client, tmp_path):
    reviews = tmp_path / "reviews.csv"
    pd.DataFrame({"id": [1, 2, 3], "review": ["Loved it.", "Terrible film.", "Fine."]}).to_csv(reviews, index=False)
    result = client.predict(handle_file(str(reviews)), api_name="/classify_file")
    assert result == client.predict(file=handle_file(str(reviews)), model="shipped/default", api_name="/classify_file")
    assert (result["model"], result["column"], result["reviews"]) == ("shipped/default", "review", 3)
    rows = result["predictions"]
    assert [(r["id"], r["review"]) for r in rows] == [("1", "Loved it."), ("2", "Terrible film."), ("3", "Fine.")]
    assert {r["prediction"] for r in rows} <= {"negative", "positive"} and all(0 <= r["p_positive"] <= 1 for r in rows)
    assert result["positive"] + result["negative"] == 3
    assert result["message"].startswith("Classified 3 reviews from column 'review' with 'shipped/default': ")


def test_malformed_batch_file_is_a_clear_error(client, tmp_path):
    binary = tmp_path / "reviews.txt"
    binary.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(AppError, match="binary file"):
        client.predict(handle_file(str(binary)), api_name="/classify_file")
    with pytest.raises(AppError, match="file must be a file uploaded to this app"):
        client.predict("/etc/passwd", api_name="/classify_file")


def test_training_progress_stop_and_reopen(served, client):
    url, runs = served
    started = client.predict(*tiny_form("first", epochs=30, max_train_samples=1_000), **OWN_DATA,
                             api_name="/start_training")
    assert (started["name"], started["status"], started["checkpoint"]) == ("first", "preparing",
                                                                         str(runs / "first.safetensors"))
    assert started["settings"]["epochs"] == 30 and started["notes"] == [OWN_DATA_NOTE]  # nothing capped
    with pytest.raises(AppError, match="in progress"):
        client.predict(*tiny_form("second"), **OWN_DATA, api_name="/start_training")
    status = poll(client, lambda s: s["steps_done"] >= 2)
    assert status["name"] == "first" and status["status"] == "training" and status["device"] == "cpu"
    assert status["total_steps"] % 30 == 0 and status["total_steps"] >= 30 * 600 // 32  # 30 epochs of all 600
    # Another visitor (or the same one after a reload) sees the same run.
    assert Client(url, verbose=False).predict(api_name="/training_status")["name"] == "first"
    assert client.predict(api_name="/stop_training") == {
        "stopping": True, "message": "Stopping at the next batch; the best checkpoint so far is kept."}
    status = poll(client, lambda s: s["status"] != "training")
    assert status["status"] == "stopped" and status["checkpoint"] == str(runs / "first.safetensors")
    assert (runs / "first.safetensors").is_file()
    # The stopped run is a model now, and training can start again.
    result = client.predict(REVIEW, "runs/first", api_name="/classify")
    assert result["model"] == "runs/first" and result["label"] in ("negative", "positive")
    # Named settings; the ones left out come from the preset.
    again = client.predict(preset="quick", run_name="again", max_train_samples=300, max_eval_samples=100,
                           embed_dim=16, hidden_dim=16, max_tokens=100, epochs=1, device="cpu", **OWN_DATA,
                           api_name="/start_training")
    assert again["settings"]["batch_size"] == form.preset_settings("quick")["batch_size"]
    assert poll(client, lambda s: s["status"] not in ("preparing", "training"))["status"] == "finished"
    assert client.predict(api_name="/stop_training") == {"stopping": False,
                                                         "message": "No training run is in progress."}


def test_bad_training_requests_are_clear_errors(client):
    with pytest.raises(AppError, match="Unknown preset 'huge'"):
        client.predict(preset="huge", api_name="/start_training")
    with pytest.raises(AppError, match="Epochs must be a whole number"):
        client.predict(epochs=2.5, **OWN_DATA, api_name="/start_training")
    with pytest.raises(AppError, match="Bad settings: cell must be one of"):
        client.predict(cell="transformer", **OWN_DATA, api_name="/start_training")
    assert client.predict(api_name="/training_status")["status"] != "preparing"


def test_app_with_a_password_guards_training_and_leaves_nothing_behind_on_sigterm(tmp_path, tiny_checkpoint,
                                                                                  synthetic_data):
    """``python app.py`` as a Space runs it: the password is needed, and SIGTERM ends the run's process too."""
    shipped = tmp_path / "checkpoints"
    shipped.mkdir()
    shutil.copy(tiny_checkpoint, shipped / "default.safetensors")
    port = free_port()
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "SENTIMENT_TRAINING_PASSWORD": "letmein", "GRADIO_ANALYTICS_ENABLED": "False",
           "TMPDIR": str(temp)}
    if not Path(env.get("SENTIMENT_DATA", "")).exists():  # app.py refuses a missing --data; this run reads OWN_DATA
        env.pop("SENTIMENT_DATA", None)
    app = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--checkpoint-dir", str(shipped),
                            "--runs-dir", str(tmp_path / "runs"), "--train-data-dir", str(synthetic_data.parent),
                            "--threads", "1", "--train-threads", "1"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        client = None
        deadline = time.monotonic() + 60
        while client is None:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            except Exception:
                if app.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the app did not start: {app.stderr.read()}") from None
                time.sleep(0.5)
        form_values = tiny_form("guarded", epochs=30, max_train_samples=1_000)
        with pytest.raises(AppError, match="training password"):
            client.predict(*form_values, "wrong", **OWN_DATA, api_name="/start_training")
        assert client.predict(api_name="/training_status") == {"status": "idle"}
        client.predict(*form_values, "letmein", **OWN_DATA, api_name="/start_training")
        poll(client, lambda s: s["steps_done"] >= 1)
        with pytest.raises(AppError, match="training password"):
            client.predict("nope", api_name="/stop_training")
        # Children of any of the app's threads (the Start handler runs in a worker thread).
        children = [int(p) for task in Path(f"/proc/{app.pid}/task").iterdir()
                    for p in (task / "children").read_text().split()]
        assert children, "no training process"
        app.send_signal(signal.SIGTERM)
        assert app.wait(60) is not None
        # Every child (the training run, and multiprocessing's resource tracker) ends with the app.
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in children if alive(pid)], "a child process outlived the app"
        # The run was stopped, not killed: it kept a checkpoint; and the app removed its temporary folder.
        assert (tmp_path / "runs" / "guarded.safetensors").is_file()
        assert not list(temp.glob("sentiment-batch-*"))
        # A visitor's mistake is one line in the server's log, not a traceback.
        log = app.stderr.read()
        assert log.count("refused: Wrong or missing training password") == 2 and "Traceback" not in log, log
    finally:
        app.kill()
