"""Your model in your hands: download a model (checkpoint and card), upload a checkpoint into the runs
folder (checked as strictly as the runs folder's files), where runs are kept, examples from a model's own
data; the services directly and ``/download_model`` and ``/upload_model`` over HTTP, hostile inputs included."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from demo import build_demo
from demo.services import UserInputError, storage
from demo.services import model_files as mf
from demo.tabs.model_files import given_data_name, start_settings
from sentiment_core.card import render_card
from sentiment_core.checkpoint import update_checkpoint
from sentiment_core.config import SHIPPED_LM


@pytest.fixture
def uploads(tmp_path) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


def put(uploads: Path, name: str, data: bytes | Path) -> str:
    path = uploads / name
    path.write_bytes(data.read_bytes() if isinstance(data, Path) else data)
    return str(path)


def test_a_download_holds_the_checkpoint_and_its_card(registry, tmp_path):
    path = mf.bundle(registry, "shipped/default", tmp_path / "out")
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["default.md", "default.safetensors"]
        assert z.read("default.safetensors") == (registry.folders["shipped"] / "default.safetensors").read_bytes()
        assert "# " in z.read("default.md").decode()
    assert mf.bundle(registry, "shipped/default", tmp_path / "out") == path  # made once per file version


@pytest.mark.parametrize("key", ["../../etc/passwd", "shipped/../../etc/passwd", "/etc/passwd", "runs/default",
                                 "shipped/default\0", "x" * 100_000, "", None, 5, ["shipped/default"]])
def test_a_download_names_only_a_listed_model(registry, tmp_path, key):
    with pytest.raises(UserInputError, match="model"):
        mf.bundle(registry, key, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.zip"))


def test_an_upload_joins_the_runs_and_classifies_at_once(registry, uploads, tiny_checkpoint):
    key = mf.add_upload(registry, put(uploads, "tiny.safetensors", tiny_checkpoint), "../../My Model!", uploads)
    assert key == "runs/My-Model" and (registry.folders["runs"] / "My-Model.safetensors").is_file()
    assert set(registry.predictor(key).predict("a wonderful film")) == {"negative", "positive"}
    with pytest.raises(UserInputError, match="already in the runs folder"):
        mf.add_upload(registry, put(uploads, "tiny.safetensors", tiny_checkpoint), "My-Model", uploads)
    # Without a name, the file's own.
    assert mf.add_upload(registry, put(uploads, "other.safetensors", tiny_checkpoint), "", uploads) == "runs/other"


def corrupt(tiny: Path) -> bytes:
    data = bytearray(tiny.read_bytes())
    data[8:20] = b"\xff" * 12  # inside the JSON header
    return bytes(data)


@pytest.mark.parametrize("name, content, problem", [
    ("reviews.csv", b"text,label\ngood,1\n", "not a .safetensors file"),
    ("junk.safetensors", b"\x00" * 3, "truncated or empty"),
    ("huge-header.safetensors", (10**9).to_bytes(8, "little") + b"{}", "header runs past the end"),
    ("corrupt.safetensors", "corrupt", "unreadable header"),
    ("lm.safetensors", "lm", "a pretrained language model"),
    ("foreign.safetensors", "foreign", "a safetensors file from elsewhere"),
])
def test_a_wrong_file_is_refused_with_its_reason(registry, uploads, tiny_checkpoint, name, content, problem):
    if content == "lm" and not SHIPPED_LM.exists():
        pytest.skip("no shipped language model")
    if content == "foreign":
        import torch
        from safetensors.torch import save
        content = save({"w": torch.zeros(2)})
    data = {"corrupt": corrupt(tiny_checkpoint), "lm": SHIPPED_LM.read_bytes() if SHIPPED_LM.exists() else b""}
    content = data.get(content, content) if isinstance(content, str) else content
    with pytest.raises(UserInputError, match=problem):
        mf.add_upload(registry, put(uploads, name, content), "fine-name", uploads)
    assert not list(registry.folders["runs"].glob("*")) if registry.folders["runs"].exists() else True


def test_hostile_names_and_paths_are_refused(registry, uploads, tiny_checkpoint, tmp_path, monkeypatch):
    good = put(uploads, "tiny.safetensors", tiny_checkpoint)
    with pytest.raises(UserInputError, match="shipped model"):
        mf.add_upload(registry, good, "default", uploads)
    with pytest.raises(UserInputError, match="at most 64"):
        mf.add_upload(registry, good, "a" * 5000, uploads)
    for name in ("../..", "///", "\0\0"):
        with pytest.raises(UserInputError, match="letters, digits"):
            mf.add_upload(registry, good, name, uploads)
    with pytest.raises(UserInputError, match="must be text"):
        mf.add_upload(registry, good, {"name": "x"}, uploads)
    outside = tmp_path / "elsewhere.safetensors"
    shutil.copy(tiny_checkpoint, outside)
    for path in (str(outside), str(uploads / ".." / "elsewhere.safetensors"), "/etc/passwd", None, 7):
        with pytest.raises(UserInputError, match=r"(?i)upload"):
            mf.add_upload(registry, path, "x", uploads)
    with pytest.raises(UserInputError, match="upload"):  # the server's own record says it never got it
        mf.add_upload(registry, good, "x", uploads, received=lambda path: False)
    monkeypatch.setattr(mf, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(UserInputError, match="at most"):
        mf.add_upload(registry, good, "big", uploads)
    assert not registry.folders["runs"].exists() or not list(registry.folders["runs"].glob("*.safetensors"))


def test_runs_and_caches_live_on_persistent_storage_when_it_is_there(tmp_path, monkeypatch):
    monkeypatch.setenv(storage.PERSISTENT_ENV, str(tmp_path))
    assert storage.default_runs_dir() == tmp_path / "runs" and storage.default_cache_dir() == tmp_path / "cache"
    assert "survive a restart" in storage.storage_note(tmp_path / "runs")
    assert "survive" not in storage.storage_note(storage.ROOT / "runs")
    monkeypatch.setenv(storage.PERSISTENT_ENV, str(tmp_path / "missing"))
    assert storage.default_runs_dir() == storage.ROOT / "runs" and storage.default_cache_dir() is None
    monkeypatch.setenv("SPACE_ID", "someone/space")
    assert "wiped when the Space restarts" in storage.storage_note(storage.ROOT / "runs")


def test_the_app_keeps_runs_on_persistent_storage_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv(storage.PERSISTENT_ENV, str(tmp_path))
    demo = build_demo(checkpoint_dir=tmp_path / "none")
    notes = [b.value for b in demo.blocks.values() if getattr(b, "elem_id", None) == "storage"]
    assert notes == [storage.storage_note(tmp_path / "runs")] and str(tmp_path / "runs") in notes[0]


def test_examples_come_from_the_models_own_validation_rows(registry, synthetic_data):
    rows = mf.data_examples(registry.entry("shipped/default"))
    assert len(rows) == mf.EXAMPLE_ROWS and {label for _, label in rows[:2]} == {"negative", "positive"}
    lines = synthetic_data.read_text().splitlines()
    validation = {line.split(",")[0] for line in lines if line.endswith(",validation")}
    assert all(text in validation for text, _ in rows)


def test_the_card_names_the_file_as_given(registry, tmp_path):
    path = tmp_path / "named.safetensors"
    shutil.copy(registry.entry("shipped/default").path, path)
    update_checkpoint(path, info={"data_name": "good_bad.csv"})
    card = render_card(path)
    assert "good_bad.csv" in card
    assert given_data_name({"data_source": "file", "upload": "/tmp/gradio/abc/my file.csv"}) == {
        "data_name": "my file.csv"}
    assert given_data_name({"data_source": "imdb"}) == {}


def test_start_settings_take_a_listed_model_and_a_short_label(registry):
    settings = start_settings(registry, {"start_from": "shipped/default", "positive_label": " good "})
    assert settings == {"init_checkpoint": str(registry.entry("shipped/default").path.resolve()),
                        "positive_label": "good"}
    import gradio as gr
    for source in ({"start_from": "../../etc/passwd"}, {"positive_label": "x" * 201}, {"positive_label": 3}):
        with pytest.raises(gr.Error):
            start_settings(registry, source)


@pytest.fixture
def app(tmp_path, tiny_checkpoint):
    shipped = tmp_path / "checkpoints"
    shipped.mkdir()
    shutil.copy(tiny_checkpoint, shipped / "default.safetensors")
    demo = build_demo(checkpoint_dir=shipped, runs_dir=tmp_path / "runs", allow_training=False)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    yield url, tmp_path
    demo.close()


def call(url: str, api_name: str, data: list) -> tuple[str, object]:
    posted = httpx.post(f"{url}gradio_api/call/{api_name}", json={"data": data}, timeout=60)
    posted.raise_for_status()
    event = None
    with httpx.stream("GET", f"{url}gradio_api/call/{api_name}/{posted.json()['event_id']}", timeout=60) as r:
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                return event, json.loads(line.split(":", 1)[1])
    return str(event), None


def test_the_api_downloads_and_uploads_models(app, tiny_checkpoint, tmp_path):
    url, root = app
    client = Client(url, verbose=False, download_files=str(tmp_path / "got"))
    with zipfile.ZipFile(client.predict("shipped/default", api_name="/download_model")) as z:
        assert sorted(z.namelist()) == ["default.md", "default.safetensors"]
    copy = tmp_path / "mine.safetensors"
    shutil.copy(tiny_checkpoint, copy)
    added = client.predict(handle_file(str(copy)), "../My Upload", api_name="/upload_model")
    assert added["model"] == "runs/My-Upload" and (root / "runs" / "My-Upload.safetensors").is_file()
    result = client.predict("a wonderful, moving film", "runs/My-Upload", api_name="/classify")
    assert set(result["probabilities"]) == {"negative", "positive"}
    for key in ("../../etc/passwd", "shipped/../../../etc/passwd", "x" * 10_000, 17):
        event, data = call(url, "download_model", [key])
        assert event == "error", (key, data)
    for body in ([{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, "stolen"],
                 [{"path": str(copy), "meta": {"_type": "gradio.FileData"}}, "not-uploaded"]):
        event, _ = call(url, "upload_model", body)
        assert event == "error"
    assert sorted(p.name for p in (root / "runs").glob("*.safetensors")) == ["My-Upload.safetensors"]
