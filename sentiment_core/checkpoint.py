"""One self-contained checkpoint file: weights plus everything needed to predict with them.

The file is safetensors: tensors and a string->string header, so loading it never unpickles
arbitrary objects. The header holds JSON for the model config, vocabulary, label names,
training config, metrics and a model card. Writes go to a temporary file that is renamed
over the target, so a crash mid-save leaves the previous checkpoint intact.

Reading checks before it allocates: only a regular file of sane size is opened, the header is
validated field by field, and every stored tensor's shape is compared with the shapes the
header's config implies, on the meta device (``checkpoint_header.py``), before the weights are read.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import torch
from safetensors.torch import save as save_safetensors

from .checkpoint_header import DTYPES, FORMAT, FORMAT_VERSION, CheckpointError, Header, check_tensors, parse_header
from .config import ModelConfig, TrainConfig, to_dict
from .data import LABELS
from .model import SentimentRNN, count_parameters
from .tempfiles import atomic_file
from .vocab import Vocab

__all__ = [
    "FORMAT", "FORMAT_VERSION", "MAX_FILE_BYTES", "Checkpoint", "CheckpointError", "check_output",
    "estimate_checkpoint_bytes", "load_checkpoint", "read_metadata", "save_checkpoint", "update_checkpoint",
]

MAX_FILE_BYTES = 512 * 2**20  # the shipped model is 7 MB; a larger file is refused before it is read
MAX_HEADER_BYTES = 100 * 2**20  # a 1M-word vocabulary is about 15 MB of JSON
STORE = {"float32": torch.float32, "float16": torch.float16}


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


# ---------------------------------------------------------------------------------------------
# Writing


def save_checkpoint(
    path: str | os.PathLike,
    model: SentimentRNN,
    vocab: Vocab,
    train_config: TrainConfig | None = None,
    metrics: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
    dtype: str = "float32",
    labels: Sequence[str] | None = None,
) -> Path:
    """Write ``model`` and its description to ``path`` atomically; float16 halves the file.

    ``labels``: the class names, one per class (default: negative, positive for a two-class model).
    The header is validated as a reader would, so a file that could not be loaded is never written.
    """
    if labels is None:
        if model.cfg.num_classes != 2:
            raise ValueError(f"a {model.cfg.num_classes}-class model needs its label names")
        labels = LABELS
    path = Path(path)
    if dtype not in STORE:
        raise ValueError(f"dtype must be one of {tuple(STORE)}, not {dtype!r}")
    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "model_config": json.dumps(to_dict(model.cfg)),
        "vocab": json.dumps(vocab.to_dict(), ensure_ascii=False),
        "labels": json.dumps(list(labels), ensure_ascii=False),
        "train_config": json.dumps(to_dict(train_config) if train_config else None),
        "metrics": json.dumps(metrics or {}),
        "info": json.dumps(info or {}),
    }
    parse_header(path, header)
    tensors = {k: v.detach().to("cpu", STORE[dtype]).contiguous() for k, v in model.state_dict().items()}
    blob = save_safetensors(tensors, metadata=header)
    try:
        with atomic_file(path, "wb", hidden=True, durable=True) as f:
            f.write(blob)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise OSError(errno.ENOSPC, f"no space left on the device to save the checkpoint "
                          f"({len(blob) / 1e6:.1f} MB); the previous file there is unchanged", str(path)) from exc
        raise
    return path


def round_as_stored(model: SentimentRNN, dtype: str) -> None:
    """Round ``model``'s weights in place to the precision ``save_checkpoint`` stores them in, so that
    figures measured after it are those of the saved file."""
    if dtype != "float32":
        model.load_state_dict({k: v.to(STORE[dtype]).to(v.dtype) for k, v in model.state_dict().items()})


def estimate_checkpoint_bytes(model_cfg: ModelConfig, vocab_words: int, dtype: str = "float32") -> int:
    """About how large a checkpoint of this architecture with ``vocab_words`` words will be."""
    cfg = replace(model_cfg, vocab_size=vocab_words + 2, pad_index=0)
    with torch.device("meta"):
        params = count_parameters(SentimentRNN(cfg))
    return params * STORE[dtype].itemsize + 32 * cfg.vocab_size + 65_536  # weights, vocabulary, the rest


def check_output(path: str | os.PathLike, overwrite: bool = False, needed_bytes: int = 0) -> None:
    """Fail now, before a run spends minutes, if ``path`` can't take a checkpoint: it exists
    (unless ``overwrite``), its folder isn't writable, or has less than ``needed_bytes`` free."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot save a checkpoint to {path}: it is a folder")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another output or pass --overwrite "
                              "(TrainConfig.overwrite=True) to replace it")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(f"cannot save a checkpoint to {path}: {folder} is not a folder")
    if folder == path.parent:
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise PermissionError(f"cannot write to the folder of {path} ({exc.strerror})") from None
    elif not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot create the folder of {path}: {folder} is not writable")
    free = _free_bytes(folder)
    if free < needed_bytes:
        raise OSError(errno.ENOSPC, f"not enough free space to save the checkpoint: {free / 1e6:,.0f} MB free, "
                      f"about {needed_bytes / 1e6:,.0f} MB needed", str(path))


def _free_bytes(folder: Path) -> int:
    import shutil  # looked up at call time, so tests can simulate a full disk

    return shutil.disk_usage(folder).free


# ---------------------------------------------------------------------------------------------
# Reading


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's description (configs, metrics, card), validated, without reading the weights."""
    path = Path(path)
    with _open_regular(path) as (f, size):
        return _read_header(path, f, size)[0].plain


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load a checkpoint onto the CPU; any problem is a ``CheckpointError`` naming the file."""
    path = Path(path)
    with _open_regular(path) as (f, size):
        header, tensors, data_size = _read_header(path, f, size)
        data = bytearray(data_size)  # allocated only now that the header promises sane shapes
        if f.readinto(data) != data_size:
            raise CheckpointError(path, "file is truncated (it shrank while being read)")
    state = {name: torch.frombuffer(data, dtype=DTYPES[dtype], count=math.prod(shape), offset=begin)
             .reshape(shape).float() if math.prod(shape) else torch.zeros(shape)
             for name, (dtype, shape, begin) in tensors.items()}
    model = SentimentRNN(header.model_config)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(path, f"weights don't match the model config: {exc}") from None
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise CheckpointError(path, "weights contain NaN or infinity")
    model.eval()
    plain = header.plain
    return Checkpoint(model, header.model_config, header.vocab, list(plain["labels"]), header.train_config,
                      plain["metrics"], plain["info"], str(path))


class _open_regular:
    """``with _open_regular(path) as (file, size)``: a regular file of sane size, or a CheckpointError.

    A device (``/dev/zero``), a FIFO or a socket is refused before it is opened, so reading
    never blocks or runs forever; O_NONBLOCK covers the file being swapped in between.
    """

    def __init__(self, path: Path):
        self.path = path
        self.file: BinaryIO | None = None

    def __enter__(self) -> tuple[BinaryIO, int]:
        path = self.path
        try:
            _check_stat(path, os.stat(path))
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise CheckpointError(path, "no such file") from None
        except OSError as exc:
            raise CheckpointError(path, f"cannot be read ({exc.strerror})") from None
        self.file = os.fdopen(fd, "rb")
        st = os.fstat(fd)
        _check_stat(path, st)
        return self.file, st.st_size

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()


def _check_stat(path: Path, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise CheckpointError(path, "is a folder, not a checkpoint file")
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(path, "is not a regular file (a device, pipe or socket?)")
    if st.st_size > MAX_FILE_BYTES:
        raise CheckpointError(path, f"is {st.st_size / 2**20:,.0f} MB, larger than any checkpoint this reads "
                              f"({MAX_FILE_BYTES // 2**20} MB)")


def _read_header(path: Path, f: BinaryIO, size: int) -> tuple[Header, dict[str, tuple[str, list[int], int]], int]:
    """The validated header, each tensor's (dtype, shape, offset) and the size of the data section."""
    if size < 8:
        raise CheckpointError(path, f"file is truncated or empty ({size} bytes)")
    length = int.from_bytes(f.read(8), "little")
    if length > size - 8:
        raise CheckpointError(path, "not a safetensors checkpoint, or truncated (header runs past the end)")
    if length > MAX_HEADER_BYTES:
        raise CheckpointError(path, f"not a safetensors checkpoint (a {length / 2**20:,.0f} MB header)")
    try:
        table = json.loads(f.read(length))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise CheckpointError(path, "not a safetensors checkpoint (unreadable header)") from None
    if not isinstance(table, dict):
        raise CheckpointError(path, "not a safetensors checkpoint (unreadable header)")
    meta = table.pop("__metadata__", None)
    if meta is None:
        raise CheckpointError(path, "not a sentiment_core checkpoint (a safetensors file from elsewhere?)")
    header = parse_header(path, meta)
    data_size = size - 8 - length
    return header, check_tensors(path, table, header.model_config, data_size), data_size


def update_checkpoint(path: str | os.PathLike, metrics: dict[str, Any] | None = None,
                      info: dict[str, Any] | None = None) -> Path:
    """Rewrite the checkpoint at ``path`` with metrics and card facts added or replaced, the
    weights as stored (float16 stays float16)."""
    ckpt = load_checkpoint(path)
    dtype = ckpt.train_config.save_dtype if ckpt.train_config else "float32"
    return save_checkpoint(path, ckpt.model, ckpt.vocab, ckpt.train_config, {**ckpt.metrics, **(metrics or {})},
                           {**ckpt.info, **(info or {})}, dtype, ckpt.labels)
