"""Shared fixtures: the shared IMDB archive (never the network) and tiny trained checkpoints.

Most tests need no IMDB: their tiny model learns small synthetic reviews. Tests that read the
archive are marked ``imdb`` (or ask for ``imdb_archive`` / ``imdb_checkpoint``, which marks them)
and are skipped when it is missing; any other IMDB read then fails at once instead of downloading.
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMDB_ARCHIVE = Path(os.environ.get("SENTIMENT_DATA") or ROOT.parent / "shared" / "data" / "aclImdb_v1.tar.gz")
NO_IMDB = f"needs the IMDB archive at {IMDB_ARCHIVE}; set SENTIMENT_DATA"
IMDB_FIXTURES = {"imdb_archive", "imdb_checkpoint"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that ask for IMDB fixtures ``imdb``; skip every ``imdb`` test without the archive."""
    for item in items:
        if IMDB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.imdb)
        if item.get_closest_marker("imdb") and not IMDB_ARCHIVE.exists():
            item.add_marker(pytest.mark.skip(reason=NO_IMDB))


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
    """Point every test at the shared archive and a private cache, so none can download: without the
    archive the path is still set, and an IMDB read fails with "IMDB data not found"."""
    saved = {k: os.environ.get(k) for k in ("SENTIMENT_DATA", "SENTIMENT_CACHE_DIR")}
    os.environ["SENTIMENT_DATA"] = str(IMDB_ARCHIVE)
    os.environ["SENTIMENT_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """The app's rate limits live for the server process; every test is a new visitor to a new app."""
    yield
    from demo.services import limits

    for limit in (limits.PASSWORD, limits.ERRORS, limits.DATA_CHECKS):
        limit.forget()


@pytest.fixture(scope="session")
def imdb_archive() -> Path:
    if not IMDB_ARCHIVE.exists():  # reached only from a fixture that does not itself ask for this one
        pytest.skip(NO_IMDB)
    return IMDB_ARCHIVE


# Small synthetic reviews: neutral filler (a quarter of them long) around a few words of the review's
# side and, in half of them, one of the other side; some labels are flipped so the tiny model has mistakes to explore.
POSITIVE_WORDS = ("wonderful", "superb", "great", "good", "moving", "brilliant", "loved", "excellent", "beautiful",
                  "funny", "delight", "delightful", "charming", "recommended", "best", "enjoyed", "perfect", "sharp",
                  "happily", "masterpiece")
NEGATIVE_WORDS = ("awful", "boring", "terrible", "dull", "worst", "hated", "waste", "bad", "poor", "stupid",
                  "annoying", "mess", "weak", "disappointing", "pointless")
FILLER_WORDS = ("the", "a", "an", "and", "of", "to", "from", "with", "it", "this", "i", "is", "was", "would",
                "every", "again", "really", "quite", "very", "absolute", "start", "finish", "watch", "minute",
                "minutes", "film", "movie", "story", "acting", "plot", "director", "cast", "scene", "ending", "music",
                "characters", "camera", "script", "actor", "actress", "second", "half")
SYNTHETIC_SPLITS = {"train": 600, "validation": 200, "test": 200}
SYNTHETIC_NOISE = 0.12  # share of flipped labels


def synthetic_reviews(seed: int = 0) -> list[tuple[str, str, str]]:
    """(text, label, split) rows, balanced negative/positive and the same for a seed."""
    rng = random.Random(seed)
    rows = []
    for split, count in SYNTHETIC_SPLITS.items():
        for i in range(count):
            label = ("negative", "positive")[i % 2]
            own, other = (POSITIVE_WORDS, NEGATIVE_WORDS) if label == "positive" else (NEGATIVE_WORDS, POSITIVE_WORDS)
            long = rng.random() < 0.25
            words = rng.choices(FILLER_WORDS, k=rng.randint(90, 140) if long else rng.randint(6, 30))
            for _ in range(rng.randint(8, 14) if long else rng.randint(3, 6)):
                words.insert(rng.randrange(len(words) + 1), rng.choice(own))
            if rng.random() < 0.5:
                words.insert(rng.randrange(len(words) + 1), rng.choice(other))
            if rng.random() < SYNTHETIC_NOISE:
                label = "positive" if label == "negative" else "negative"
            rows.append((" ".join(words).capitalize() + ".", label, split))
    return rows


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``synthetic_reviews`` as a text,label,split CSV: 600 training, 200 validation and 200 test rows."""
    path = tmp_path_factory.mktemp("synthetic") / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "split"])
        writer.writerows(synthetic_reviews())
    return path


@pytest.fixture
def registry(tmp_path: Path, tiny_checkpoint: Path):
    """The app's model list over a shipped folder holding the tiny model as default.safetensors."""
    import shutil

    from demo.services.registry import ModelRegistry

    shipped = tmp_path / "checkpoints"
    shipped.mkdir()
    shutil.copy(tiny_checkpoint, shipped / "default.safetensors")
    return ModelRegistry(shipped, tmp_path / "runs", shipped / "default.safetensors")


def _train_tiny(out: Path, **overrides) -> Path:
    """A small bidirectional GRU trained for two epochs on 600 reviews, validated and tested on 200."""
    from sentiment_core import preset, train

    settings = dict(embed_dim=32, hidden_dim=32, max_train_samples=600, max_eval_samples=200, epochs=2, max_tokens=150)
    model_cfg, train_cfg = preset("quick", **{**settings, **overrides, "output": str(out)})
    events = list(train(model_cfg, train_cfg, info={"name": "tiny"}))
    assert events[-1].status == "finished", events[-1]
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, synthetic_data: Path) -> Path:
    """The tiny model on ``synthetic_data`` (negative/positive, about 85% accurate; a few seconds)."""
    return _train_tiny(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors", data=str(synthetic_data), batch_size=32)


@pytest.fixture(scope="session")
def imdb_checkpoint(tmp_path_factory: pytest.TempPathFactory, imdb_archive: Path) -> Path:
    """The tiny model on 600 IMDB reviews, for tests of what an IMDB model shows (review ids, its data)."""
    return _train_tiny(tmp_path_factory.mktemp("ckpt") / "imdb-tiny.safetensors")
