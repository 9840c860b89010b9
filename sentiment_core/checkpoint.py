"""One self-contained checkpoint file: weights plus everything needed to predict with them.

The file is safetensors: tensors and a string->string header, so loading it never unpickles
arbitrary objects. The header holds JSON for the model config, vocabulary, label names,
training config, metrics and a model card. Writes go to a temporary file that is renamed
over the target, so a crash mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from .config import ModelConfig, TrainConfig, from_dict, to_dict
from .data import LABELS
from .model import SentimentRNN
from .vocab import Vocab

FORMAT = "sentiment_core.checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, foreign or from a newer format."""

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (eval mode, on CPU) and what describes it."""

    model: SentimentRNN
    model_config: ModelConfig
    vocab: Vocab
    labels: list[str]
    train_config: TrainConfig | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    path: str = ""


def save_checkpoint(
    path: str | os.PathLike,
    model: SentimentRNN,
    vocab: Vocab,
    train_config: TrainConfig | None = None,
    metrics: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
    dtype: str = "float32",
) -> Path:
    """Write ``model`` and its description to ``path`` atomically; float16 halves the file."""
    path = Path(path)
    store = {"float32": torch.float32, "float16": torch.float16}[dtype]
    tensors = {k: v.detach().to("cpu", store).contiguous() for k, v in model.state_dict().items()}
    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "model_config": json.dumps(to_dict(model.cfg)),
        "vocab": json.dumps(vocab.to_dict(), ensure_ascii=False),
        "labels": json.dumps(list(LABELS)),
        "train_config": json.dumps(to_dict(train_config) if train_config else None),
        "metrics": json.dumps(metrics or {}),
        "info": json.dumps(info or {}),
    }
    blob = save_safetensors(tensors, metadata=header)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a checkpoint is an ordinary file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask() can only be read by setting it, which is not thread-safe.
_UMASK = _read_umask()


def _read_header(path: Path, blob: bytes) -> dict[str, str]:
    """The safetensors string header, checked for size before json parsing."""
    if len(blob) < 8:
        raise CheckpointError(path, f"file is truncated or empty ({len(blob)} bytes)")
    size = int.from_bytes(blob[:8], "little")
    if size > len(blob) - 8:
        raise CheckpointError(path, "not a safetensors checkpoint, or truncated (header runs past the end)")
    try:
        header = json.loads(blob[8 : 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(path, "not a safetensors checkpoint (unreadable header)") from None
    if not isinstance(header, dict):
        raise CheckpointError(path, "not a safetensors checkpoint (unreadable header)")
    return header.get("__metadata__") or {}


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's description (configs, metrics, card), without building the model."""
    path = Path(path)
    blob = _read_bytes(path)
    return _parse_metadata(path, _read_header(path, blob))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(path, "no such file") from None
    except IsADirectoryError:
        raise CheckpointError(path, "is a folder, not a checkpoint file") from None
    except OSError as exc:
        raise CheckpointError(path, f"cannot be read ({exc.strerror})") from None


def _parse_metadata(path: Path, meta: dict[str, str]) -> dict[str, Any]:
    if meta.get("format") != FORMAT:
        raise CheckpointError(path, "not a sentiment_core checkpoint (a safetensors file from elsewhere?)")
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise CheckpointError(path, f"bad format_version {meta.get('format_version')!r}") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(
            path, f"written in checkpoint format v{version}, newer than this sentiment_core reads "
            f"(v{FORMAT_VERSION}); upgrade sentiment_core"
        )
    try:
        out = {k: json.loads(meta[k]) for k in ("model_config", "vocab", "labels", "train_config", "metrics", "info")}
    except (KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(path, f"header is damaged ({exc})") from None
    out["format_version"] = version
    return out


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load a checkpoint onto the CPU; any problem is a ``CheckpointError`` naming the file."""
    path = Path(path)
    blob = _read_bytes(path)
    meta = _parse_metadata(path, _read_header(path, blob))
    try:
        tensors = load_safetensors(blob)
    except SafetensorError as exc:
        raise CheckpointError(path, f"weights are corrupt or truncated ({exc})") from None
    try:
        model_config = from_dict(ModelConfig, meta["model_config"])
        vocab = Vocab.from_dict(meta["vocab"])
        train_config = from_dict(TrainConfig, meta["train_config"]) if meta["train_config"] else None
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(path, f"header describes an invalid model ({exc})") from None
    if len(vocab) != model_config.vocab_size:
        raise CheckpointError(path, f"vocabulary has {len(vocab)} tokens, the model expects {model_config.vocab_size}")
    model = SentimentRNN(model_config)
    try:
        model.load_state_dict({k: v.float() for k, v in tensors.items()})
    except RuntimeError as exc:
        raise CheckpointError(path, f"weights don't match the model config: {exc}") from None
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise CheckpointError(path, "weights contain NaN or infinity")
    model.eval()
    return Checkpoint(model, model_config, vocab, list(meta["labels"]), train_config, meta["metrics"],
                      meta["info"], str(path))
