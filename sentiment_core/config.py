"""Typed configuration shared by the CLI, the web app and the tests.

Every field carries a one-line help text in its metadata; the CLI builds its options from
these fields and the app builds its training controls from them, so they cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any

CELLS = ("rnn", "lstm", "gru")
POOLING_PARTS = ("last", "max", "mean")
DEVICES = ("auto", "cpu", "cuda", "mps")
RNN_PATHS = ("padded", "packed")
SCHEDULES = ("constant", "cosine")


def _field(default: Any, help: str, **kwargs: Any) -> Any:
    return field(default=default, metadata={"help": help, **kwargs})


def default_cache_dir() -> str:
    """Folder for the downloaded archive and the tokenized corpus."""
    env = os.environ.get("SENTIMENT_CACHE_DIR")
    if env:
        return env
    xdg = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return os.path.join(xdg, "sentiment_core")


@dataclass
class ModelConfig:
    """Architecture of a recurrent sentiment classifier."""

    cell: str = _field("gru", "recurrent cell", choices=CELLS)
    embed_dim: int = _field(128, "size of the word embeddings")
    hidden_dim: int = _field(128, "hidden size of each recurrent direction")
    num_layers: int = _field(1, "number of stacked recurrent layers")
    bidirectional: bool = _field(True, "read the review in both directions")
    dropout: float = _field(0.5, "dropout on embeddings, between layers and before the classifier")
    pooling: str = _field(
        "max+last", "how the per-token states become one vector: last, max, mean or a '+' mix"
    )
    vocab_size: int = _field(0, "rows of the embedding table (set from the vocabulary)", cli=False)
    pad_index: int = _field(0, "index of the <pad> token", cli=False)

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, not {self.cell!r}")
        parts = self.pooling_parts
        if not parts or any(p not in POOLING_PARTS for p in parts) or len(set(parts)) != len(parts):
            raise ValueError(
                f"pooling must be '+'-joined distinct parts of {POOLING_PARTS}, not {self.pooling!r}"
            )
        for name in ("embed_dim", "hidden_dim", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")

    @property
    def pooling_parts(self) -> list[str]:
        return [p.strip() for p in self.pooling.split("+") if p.strip()]


@dataclass
class TrainConfig:
    """Data, optimisation and output settings of one training run."""

    data: str = _field(
        "", "IMDB archive (.tar.gz), unpacked aclImdb/ folder, or 'download'; "
        "empty means $SENTIMENT_DATA, else the cached download"
    )
    cache_dir: str = _field("", "download and token cache folder (default: ~/.cache/sentiment_core)")
    val_fraction: float = _field(0.1, "share of the 25k training reviews held out for validation")
    max_train_samples: int = _field(0, "stratified slice of the training reviews (0 = all)")
    max_eval_samples: int = _field(0, "stratified slice of validation and test reviews (0 = all)")
    max_tokens: int = _field(400, "keep at most this many tokens per review, head and tail (0 = all)")
    vocab_size: int = _field(25_000, "most frequent training words kept in the vocabulary")
    min_freq: int = _field(2, "words seen fewer times in training become <unk>")
    lowercase: bool = _field(True, "lowercase tokens before looking them up")
    pretrain_embeddings: bool = _field(
        False, "start embeddings from PPMI-SVD word vectors of the training and 50k unlabeled reviews"
    )
    epochs: int = _field(5, "passes over the training reviews")
    batch_size: int = _field(64, "reviews per batch")
    lr: float = _field(2e-3, "peak learning rate of AdamW")
    weight_decay: float = _field(0.0, "AdamW weight decay")
    schedule: str = _field("cosine", "learning-rate schedule after warm-up", choices=SCHEDULES)
    warmup_steps: int = _field(100, "linear learning-rate warm-up steps")
    clip_grad_norm: float = _field(1.0, "clip the gradient norm to this (0 = off)")
    patience: int = _field(0, "stop after this many epochs without validation gain (0 = off)")
    seed: int = _field(1234, "seed for splits, initialisation and shuffling")
    device: str = _field("auto", "auto picks cuda, then mps, then cpu", choices=DEVICES)
    rnn_path: str = _field(
        "padded", "padded batches (exact by masking; 5x faster on CPU) or packed sequences", choices=RNN_PATHS
    )
    num_threads: int = _field(0, "CPU threads for torch (0 = torch's default)")
    output: str = _field("runs/model.safetensors", "where the best checkpoint is written")
    save_dtype: str = _field("float32", "storage precision of saved weights", choices=("float32", "float16"))

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, not {self.schedule!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, not {self.device!r}")
        if self.rnn_path not in RNN_PATHS:
            raise ValueError(f"rnn_path must be one of {RNN_PATHS}, not {self.rnn_path!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), not {self.val_fraction}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("max_train_samples", "max_eval_samples", "max_tokens", "patience", "warmup_steps", "num_threads"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, not {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, not {self.lr}")
        if self.vocab_size < 1 or self.min_freq < 1:
            raise ValueError("vocab_size and min_freq must be at least 1")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config as plain JSON-ready values."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Build a config from a dict, ignoring keys this version does not know."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


# Named starting points. "tutorial" is the original PyTorch sentiment tutorial's model:
# Embedding(25_002, 100) -> RNN(100, 256) -> Linear(256, 1), dropout 0.5, Adam, batch 64, 5 epochs.
PRESETS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # The shipped model's recipe: word vectors from the unlabeled reviews, six epochs, cosine decay.
    "default": ({}, dict(pretrain_embeddings=True, epochs=6)),
    "tutorial": (
        dict(cell="rnn", embed_dim=100, hidden_dim=256, num_layers=1, bidirectional=False,
             dropout=0.5, pooling="last"),
        dict(vocab_size=25_000, min_freq=1, lowercase=False, max_tokens=0, epochs=5, batch_size=64,
             lr=1e-3, weight_decay=0.0, schedule="constant", warmup_steps=0, clip_grad_norm=0.0),
    ),
    "lstm": (dict(cell="lstm"), dict(pretrain_embeddings=True, epochs=6)),
    # A CPU demo in well under a minute: a small slice, and a high learning rate that small data tolerates.
    "quick": (
        dict(embed_dim=64, hidden_dim=64, dropout=0.3, pooling="max+mean"),
        dict(max_train_samples=2000, max_eval_samples=1000, max_tokens=200, vocab_size=10_000,
             epochs=3, lr=1e-2, warmup_steps=20),
    ),
}


def preset(name: str, **overrides: Any) -> tuple[ModelConfig, TrainConfig]:
    """The model and training configs of a named preset, with field overrides applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    model_kw, train_kw = (dict(d) for d in PRESETS[name])
    model_names = {f.name for f in dataclasses.fields(ModelConfig)}
    train_names = {f.name for f in dataclasses.fields(TrainConfig)}
    for key, value in overrides.items():
        if key in model_names:
            model_kw[key] = value
        elif key in train_names:
            train_kw[key] = value
        else:
            raise ValueError(f"unknown config field {key!r}")
    return ModelConfig(**model_kw), TrainConfig(**train_kw)
