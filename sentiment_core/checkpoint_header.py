"""The checkpoint header, validated field by field before anything is built from it.

A safetensors header carries ``__metadata__``, a string->string map. Ours holds the format
tag and version and JSON for the model and training configs, the vocabulary, the label names,
the metrics and the model card facts. Everything the loader, the app's model list and the
model card read is type-checked here, so a hand-edited or damaged file is one
``CheckpointError`` naming the file and the field, never a ``KeyError`` or ``TypeError`` later.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from typing import Any

import torch

from .config import ModelConfig, TrainConfig, from_dict
from .model import SentimentRNN
from .vocab import Vocab

FORMAT = "sentiment_core.checkpoint"
FORMAT_VERSION = 1
LM_FORMAT = "sentiment-lm"  # a pretrained language model (lm_checkpoint.py), which is not a classifier
DTYPES = {"F32": torch.float32, "F16": torch.float16}  # what save_checkpoint writes
JSON_FIELDS = ("model_config", "vocab", "labels", "train_config", "metrics", "info")
# The ModelConfig fields every v1 checkpoint records; later fields may be absent (their defaults apply).
MODEL_KEYS = ("cell", "embed_dim", "hidden_dim", "num_layers", "bidirectional", "dropout", "pooling", "vocab_size")
METRIC_FRACTIONS = ("accuracy", "precision", "recall", "f1")
CLASS_FRACTIONS = ("class_precision", "class_recall", "class_f1")  # per class, absent before multi-class
MAX_LABEL_CHARS = 200
HISTORY_NUMBERS = ("train_loss", "val_loss", "val_accuracy")
INFO_TYPES = {"name": str, "preset": str, "command": str, "created": str, "hardware": str, "torch": str,
              "trained_in": str, "num_parameters": int, "train_size": int, "val_size": int,
              "training_seconds": float, "dataset": str, "processes": int, "positive_label": str,
              "continued_from": str, "continued_command": str, "data_name": str, "earlier_commands": list,
              "word_end_share": float}
MAX_STAGES = 20  # commands of the stages before a continued model's start that a header may list


def stage_commands(info: dict[str, Any]) -> list[str]:
    """The commands that made a continued model's start and the stages before it, oldest first, from its
    header's ``info`` (empty for a model trained in one go)."""
    start = [info["continued_command"]] if info.get("continued_command") else []
    return [*info.get("earlier_commands", []), *start]


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, foreign or from a newer format."""

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class LanguageModelNotClassifier(CheckpointError):
    """The file is a pretrained language model (``lm_checkpoint``): it reads text, it classifies nothing."""


@dataclass
class Header:
    """A validated header: the plain JSON values (``plain``) and what is built from them."""

    plain: dict[str, Any]
    model_config: ModelConfig
    vocab: Vocab
    train_config: TrainConfig | None


class _Bad(Exception):
    """One bad field: where (``metrics.val.accuracy``) and what is wrong with it."""

    def __init__(self, where: str, problem: str):
        super().__init__(where, problem)
        self.where, self.problem = where, problem


def parse_header(path: str | os.PathLike, meta: Any) -> Header:
    """Validate the ``__metadata__`` of the checkpoint at ``path``; a ``CheckpointError`` if anything is off."""
    try:
        return _parse(path, meta)
    except _Bad as bad:
        raise CheckpointError(path, f"header field {bad.where} {bad.problem}") from None


def _kind(value: Any) -> str:
    names = {type(None): "null", dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def _need(ok: bool, where: str, problem: str) -> None:
    if not ok:
        raise _Bad(where, problem)


def _obj(value: Any, where: str) -> dict[str, Any]:
    _need(isinstance(value, dict), where, f"must be a JSON object, not {_kind(value)}")
    return value


def _int(value: Any, where: str) -> int:
    _need(value is not None, where, "is missing")
    _need(type(value) is int and value >= 0, where, f"must be a whole number >= 0, not {value!r:.40}")
    return value


def _num(value: Any, where: str, high: float = math.inf) -> float:
    _need(value is not None, where, "is missing")
    ok = type(value) in (int, float) and math.isfinite(value) and 0 <= value <= high
    _need(ok, where, f"must be a number {'>= 0' if high == math.inf else f'in [0, {high}]'}, not {value!r:.40}")
    return value


def _parse(path: str | os.PathLike, meta: Any) -> Header:
    _need(isinstance(meta, dict), "__metadata__", f"must be a JSON object of strings, not {_kind(meta)}")
    if meta.get("format") == LM_FORMAT:
        raise LanguageModelNotClassifier(path, "a pretrained language model, not a classifier: fine-tune one from it "
                                         "with 'train --pretrained-lm'")
    if meta.get("format") != FORMAT:
        raise CheckpointError(path, "not a sentiment_core checkpoint (a safetensors file from elsewhere?)")
    for key, value in meta.items():
        _need(isinstance(value, str), key, f"must be a string, not {_kind(value)}")
    raw_version = meta.get("format_version")
    _need(isinstance(raw_version, str) and re.fullmatch(r"[0-9]{1,6}", raw_version) is not None
          and int(raw_version) >= 1, "format_version", f"must be a version number such as '1', not {raw_version!r}")
    version = int(raw_version)
    if version > FORMAT_VERSION:
        raise CheckpointError(
            path, f"written in checkpoint format v{version}, newer than this sentiment_core reads "
            f"(v{FORMAT_VERSION}); upgrade sentiment_core"
        )
    plain: dict[str, Any] = {}
    for key in JSON_FIELDS:
        _need(key in meta, key, "is missing")
        try:
            plain[key] = json.loads(meta[key])
        except json.JSONDecodeError as exc:
            raise _Bad(key, f"is not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise _Bad(key, "is nested too deeply") from None
    model_config = _model_config(plain["model_config"])
    vocab = _vocab(plain["vocab"])
    if len(vocab) != model_config.vocab_size:
        raise CheckpointError(path, f"vocabulary has {len(vocab)} tokens, the model expects {model_config.vocab_size}")
    labels, k = plain["labels"], model_config.num_classes
    _need(isinstance(labels, list) and len(labels) == k and len(set(map(str, labels))) == k
          and all(isinstance(x, str) and 0 < len(x) <= MAX_LABEL_CHARS for x in labels), "labels",
          f"must be {k} distinct label names (model_config.num_classes), not {labels!r:.80}")
    train_config = None
    if plain["train_config"] is not None:
        try:
            train_config = from_dict(TrainConfig, _obj(plain["train_config"], "train_config"))
        except (TypeError, ValueError) as exc:
            raise _Bad("train_config", f"is invalid: {exc}") from None
    _metrics(_obj(plain["metrics"], "metrics"), k)
    _info(_obj(plain["info"], "info"))
    plain["format_version"] = version
    return Header(plain, model_config, vocab, train_config)


def _model_config(value: Any) -> ModelConfig:
    value = _obj(value, "model_config")
    missing = [k for k in MODEL_KEYS if k not in value]
    _need(not missing, "model_config", f"lacks {', '.join(missing)}")
    try:
        cfg = from_dict(ModelConfig, value)
    except (TypeError, ValueError) as exc:
        raise _Bad("model_config", f"is invalid: {exc}") from None
    _need(cfg.vocab_size >= 2, "model_config", f"is invalid: vocab_size must be at least 2, not {cfg.vocab_size}")
    return cfg


def _vocab(value: Any) -> Vocab:
    value = _obj(value, "vocab")
    itos, lowercase = value.get("itos"), value.get("lowercase", True)
    _need(isinstance(itos, list) and all(isinstance(t, str) for t in itos), "vocab.itos",
          f"must be a list of strings, not {_kind(itos)}" if not isinstance(itos, list) else "must hold only strings")
    _need(isinstance(lowercase, bool), "vocab.lowercase", f"must be true or false, not {lowercase!r}")
    try:
        return Vocab(itos, lowercase=lowercase)
    except ValueError as exc:  # duplicates, or not starting with <pad>, <unk>
        raise _Bad("vocab.itos", f"is invalid: {exc}") from None


def _metrics(metrics: dict[str, Any], k: int) -> None:
    """What the card and the app's model list read: split metrics, best epoch, history."""
    for split in ("val", "test"):
        if metrics.get(split) is not None:
            _split_metrics(_obj(metrics[split], f"metrics.{split}"), f"metrics.{split}", k)
    for key in ("best_epoch", "epochs_trained"):
        if metrics.get(key) is not None:
            _int(metrics[key], f"metrics.{key}")
    history = metrics.get("history")
    if history is not None:
        _need(isinstance(history, list), "metrics.history", f"must be a list, not {_kind(history)}")
        for i, row in enumerate(history):
            where = f"metrics.history[{i}]"
            _int(_obj(row, where).get("epoch"), f"{where}.epoch")
            if "step" in row:
                _int(row["step"], f"{where}.step")
            for key in HISTORY_NUMBERS:
                _num(row.get(key), f"{where}.{key}", 1.0 if key == "val_accuracy" else math.inf)


def _split_metrics(m: dict[str, Any], where: str, k: int) -> None:
    if not m:  # a stopped run records no test metrics
        return
    _num(m.get("loss"), f"{where}.loss")
    for key in METRIC_FRACTIONS:
        _num(m.get(key), f"{where}.{key}", 1.0)
    if "macro_f1" in m:
        _num(m["macro_f1"], f"{where}.macro_f1", 1.0)
    for key in CLASS_FRACTIONS:
        if key in m:
            values = m[key]
            _need(isinstance(values, list) and len(values) == k, f"{where}.{key}", f"must be a list of {k} numbers")
            for i, value in enumerate(values):
                _num(value, f"{where}.{key}[{i}]", 1.0)
    count = _int(m.get("count"), f"{where}.count")
    confusion = m.get("confusion")
    _need(isinstance(confusion, list) and len(confusion) == k
          and all(isinstance(row, list) and len(row) == k and all(type(n) is int and n >= 0 for n in row)
                  for row in confusion), f"{where}.confusion",
          f"must be {k} x {k} counts (rows: truth, columns: prediction)")
    _need(sum(map(sum, confusion)) == count, f"{where}.confusion", f"does not add up to count ({count})")


def _info(info: dict[str, Any]) -> None:
    for key, kind in INFO_TYPES.items():
        if key not in info:
            continue
        if kind is str:
            _need(isinstance(info[key], str), f"info.{key}", f"must be a string, not {_kind(info[key])}")
        elif kind is int:
            _int(info[key], f"info.{key}")
        elif kind is list:
            value = info[key]
            _need(isinstance(value, list) and len(value) <= MAX_STAGES and all(isinstance(v, str) for v in value),
                  f"info.{key}", f"must be a list of at most {MAX_STAGES} strings")
        else:
            _num(info[key], f"info.{key}")


def check_tensors(path: str | os.PathLike, table: dict[str, Any], cfg: ModelConfig,
                   data_size: int) -> dict[str, tuple[str, list[int], int]]:
    """Every tensor entry checked against the shapes ``cfg`` implies and against the file's size."""
    with torch.device("meta"):  # shapes only: nothing is allocated
        expected = {k: list(v.shape) for k, v in SentimentRNN(cfg).state_dict().items()}
    missing, unexpected = sorted(expected.keys() - table.keys()), sorted(table.keys() - expected.keys())
    if missing or unexpected:
        raise CheckpointError(path, "weights don't match the model config: "
                              + "; ".join(f"{what} {', '.join(names[:5])}" for what, names in
                                          (("missing", missing), ("unexpected", unexpected)) if names))
    out, spans = {}, []
    for name, entry in table.items():
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if dtype not in DTYPES:
            raise CheckpointError(path, f"tensor {name}: dtype {dtype!r} is not F32 or F16")
        if shape != expected[name] or any(type(n) is not int for n in shape):
            raise CheckpointError(path, f"weights don't match the model config: {name} has shape {shape}, "
                                  f"the config implies {expected[name]}")
        nbytes = math.prod(shape) * DTYPES[dtype].itemsize
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(n) is int for n in offsets)
                and offsets[0] >= 0 and offsets[1] - offsets[0] == nbytes):
            raise CheckpointError(path, f"tensor {name}: data_offsets {offsets!r} don't match its shape")
        if offsets[1] > data_size:
            raise CheckpointError(path, f"weights are truncated: {name} runs past the end of the file")
        out[name] = (dtype, shape, offsets[0])
        spans.append(offsets)
    # As safetensors requires: the tensors tile the data section, without gaps or overlaps.
    spans.sort()
    if [b for b, _ in spans] != [0] + [e for _, e in spans[:-1]] or (spans and spans[-1][1] != data_size):
        raise CheckpointError(path, "weights are corrupt (tensor data overlaps, or leaves gaps)")
    return out
