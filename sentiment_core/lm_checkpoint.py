"""The language model's file: weights, config, vocabulary and how it was trained, in one safetensors file.

Its ``format`` is ``sentiment-lm``, never the classifier's, so a language model is not listed or
loaded as a classifier, nor a classifier as a language model. Reading checks the header's config
against the config bounds and every tensor's shape against a model built on the meta device
before any weight is read.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors

from .checkpoint_header import LM_FORMAT, CheckpointError
from .config import from_dict
from .lm import LanguageModel, LMConfig
from .tempfiles import atomic_file
from .vocab import Vocab

LM_FORMAT_VERSION = 1
MAX_LM_BYTES = 512 * 2**20
STORE = {"float32": torch.float32, "float16": torch.float16}


@dataclass
class LanguageModelFile:
    """A loaded language model (eval mode, on CPU) and what describes it."""

    model: LanguageModel
    vocab: Vocab
    pretrain_config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    held_out_ids: list[str] = field(default_factory=list)  # training-split reviews it never read
    path: str = ""
    encoder_only: bool = False  # the softmax was not saved: a classifier can start from it, it cannot score text


def resume_path(output: str | os.PathLike) -> Path:
    """Where a pretraining run to ``output`` keeps its resume state."""
    path = Path(output)
    return path.with_name(path.name.removesuffix(".safetensors") + ".resume.pt")


def is_encoder_key(key: str) -> bool:
    """Whether a language model's weight is part of the encoder (embedding and recurrence), not the softmax."""
    return not key.startswith("softmax.")


def save_language_model(path: str | os.PathLike, model: LanguageModel, vocab: Vocab, pretrain_config: dict[str, Any],
                        metrics: dict[str, Any], info: dict[str, Any], held_out_ids: Sequence[str],
                        dtype: str = "float16", encoder_only: bool = False) -> Path:
    """Write the language model atomically, its weights in ``dtype``.

    ``held_out_ids``: the ids of the training-split reviews it never read (its validation slice),
    so fine-tuning can check that its own validation reviews are among them. ``encoder_only``:
    without the softmax (what a classifier starts from, in about two thirds of the size; it cannot
    score text)."""
    path = Path(path)
    header = {
        "format": LM_FORMAT,
        "format_version": str(LM_FORMAT_VERSION),
        "parts": "encoder" if encoder_only else "full",
        "lm_config": json.dumps(dataclasses.asdict(model.cfg)),
        "vocab": json.dumps(vocab.to_dict(), ensure_ascii=False),
        "pretrain_config": json.dumps(pretrain_config),
        "metrics": json.dumps(metrics),
        "info": json.dumps(info, ensure_ascii=False),
        "held_out_ids": json.dumps(sorted(held_out_ids), ensure_ascii=False),
    }
    tensors = {k: v.detach().to("cpu", STORE[dtype]).contiguous() for k, v in model.state_dict().items()
               if not encoder_only or is_encoder_key(k)}
    with atomic_file(path) as f:
        f.write(save_safetensors(tensors, metadata=header))
    return path


def _json(header: dict[str, str], key: str, path: Path, kind: type = dict) -> Any:
    try:
        value = json.loads(header[key])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(path, f"the language model's header has no valid {key!r}") from exc
    if not isinstance(value, kind):
        raise CheckpointError(path, f"the language model's {key!r} is not a JSON {kind.__name__}")
    return value


def load_language_model(path: str | os.PathLike) -> LanguageModelFile:
    """Read a language model written by ``save_language_model``; ``CheckpointError`` for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such language model file")
    if path.stat().st_size > MAX_LM_BYTES:
        raise CheckpointError(path, f"{path.stat().st_size / 2**20:.0f} MB is more than a language model's "
                              f"{MAX_LM_BYTES / 2**20:.0f} MB limit")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            if header.get("format") != LM_FORMAT:
                raise CheckpointError(path, f"not a language model (format {header.get('format')!r}, "
                                      f"expected {LM_FORMAT!r})")
            try:
                cfg = from_dict(LMConfig, _json(header, "lm_config", path))
                vocab = Vocab.from_dict(_json(header, "vocab", path))
            except (TypeError, ValueError, KeyError) as exc:
                raise CheckpointError(path, f"invalid language model header: {exc}") from exc
            if cfg.vocab_size != len(vocab):
                raise CheckpointError(path, f"the config's {cfg.vocab_size} words do not match the vocabulary's "
                                      f"{len(vocab)}")
            encoder_only = header.get("parts") == "encoder"
            with torch.device("meta"):
                expected = {k: tuple(v.shape) for k, v in LanguageModel(cfg).state_dict().items()
                            if not encoder_only or is_encoder_key(k)}
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
            if stored != expected:
                raise CheckpointError(path, "the stored tensors do not match the config")
            tensors = {k: f.get_tensor(k).float() for k in f.keys()}  # noqa: SIM118
    except SafetensorError as exc:
        raise CheckpointError(path, f"not a readable safetensors file ({exc})") from exc
    model = LanguageModel(cfg)
    model.load_state_dict(tensors, strict=not encoder_only)
    held_out = _json(header, "held_out_ids", path, list)
    if not all(isinstance(i, str) for i in held_out):
        raise CheckpointError(path, "the language model's 'held_out_ids' are not all strings")
    return LanguageModelFile(model.eval(), vocab, _json(header, "pretrain_config", path),
                             _json(header, "metrics", path), _json(header, "info", path), held_out, str(path),
                             encoder_only)


def export_encoder(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Write the encoder of the language model at ``source`` (float16) to ``target``."""
    lm = load_language_model(source)
    return save_language_model(target, lm.model, lm.vocab, lm.pretrain_config, lm.metrics,
                               {**lm.info, "exported_from": Path(source).name}, lm.held_out_ids, "float16",
                               encoder_only=True)
