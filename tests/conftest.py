"""Shared fixtures: the shared IMDB archive (never the network) and a tiny trained checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMDB_ARCHIVE = Path(os.environ.get("SENTIMENT_DATA") or ROOT.parent / "shared" / "data" / "aclImdb_v1.tar.gz")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Training and app tests share 2 cores with servers and browsers: one torch thread each avoids
    OpenMP teams spinning against each other (measured: 10-20x slowdowns with the default 2)."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="session", autouse=True)
def _offline_data(tmp_path_factory: pytest.TempPathFactory):
    """Point every test at the shared archive and a private cache, so none can download."""
    if not IMDB_ARCHIVE.exists():
        pytest.exit(f"the IMDB archive is missing at {IMDB_ARCHIVE}; set SENTIMENT_DATA", returncode=4)
    saved = {k: os.environ.get(k) for k in ("SENTIMENT_DATA", "SENTIMENT_CACHE_DIR")}
    os.environ["SENTIMENT_DATA"] = str(IMDB_ARCHIVE)
    os.environ["SENTIMENT_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def imdb_archive() -> Path:
    return IMDB_ARCHIVE


@pytest.fixture
def registry(tmp_path: Path, tiny_checkpoint: Path):
    """The app's model list over a shipped folder holding the tiny model as default.safetensors."""
    import shutil

    from demo.services.registry import ModelRegistry

    shipped = tmp_path / "checkpoints"
    shipped.mkdir()
    shutil.copy(tiny_checkpoint, shipped / "default.safetensors")
    return ModelRegistry(shipped, tmp_path / "runs", shipped / "default.safetensors")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small bidirectional GRU trained for two epochs on 600 IMDB reviews (a few seconds)."""
    from sentiment_core import preset, train

    out = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    model_cfg, train_cfg = preset(
        "quick", embed_dim=32, hidden_dim=32, max_train_samples=600, max_eval_samples=200, epochs=2,
        max_tokens=150, output=str(out),
    )
    events = list(train(model_cfg, train_cfg, info={"name": "tiny"}))
    assert events[-1].status == "finished", events[-1]
    return out
