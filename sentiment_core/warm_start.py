"""Where a run's weights start when it continues another classifier, and which of two classes is positive.

``start_from_checkpoint`` reads a classifier checkpoint (as strictly as any other) and hands the
run its vocabulary, its architecture and its weights, so training continues where that model
stopped (fine-tuning on new data of the same classes). ``positive_label`` names the class a
two-class model's one output scores: the user's choice, else the file's own order.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from .checkpoint import load_checkpoint, read_metadata
from .checkpoint_header import MAX_STAGES, CheckpointError, LanguageModelNotClassifier, stage_commands
from .config import ModelConfig, TrainConfig
from .data import Corpus
from .data.table import is_table
from .vocab import Vocab

# What a checkpoint fixes about the model; dropout is a training setting and stays the run's.
ARCHITECTURE = ("cell", "embed_dim", "hidden_dim", "num_layers", "bidirectional", "pooling")


def _names(labels: list[str]) -> str:
    return ", ".join(repr(x) for x in labels)


def start_from_checkpoint(cfg: TrainConfig, model_cfg: ModelConfig,
                          corpus: Corpus) -> tuple[Vocab, ModelConfig, dict[str, torch.Tensor], str]:
    """The checkpoint of ``cfg.init_checkpoint``: its vocabulary, ``model_cfg`` with its architecture,
    its weights, and a note for the user naming what the checkpoint changed. A ``ValueError`` when the
    file is not a usable classifier or its classes are not the data's."""
    path = cfg.init_checkpoint
    try:
        ckpt = load_checkpoint(path)
    except LanguageModelNotClassifier:
        raise ValueError(f"{path} is a pretrained language model, not a classifier: start from it with "
                         "pretrained_lm (--pretrained-lm), not init_checkpoint") from None
    except CheckpointError as exc:
        raise ValueError(f"cannot continue training from {exc}") from None
    classes = list(corpus.classes)
    if ckpt.labels != classes:
        same = sorted(ckpt.labels) == sorted(classes)
        raise ValueError(f"{Path(path).name} classifies {_names(ckpt.labels)}; this data's classes are "
                         f"{_names(classes)}" + (" (in another order)" if same else "")
                         + ": continue training only on data with the same label set")
    start = ckpt.model_config
    changed = [f"{k} {getattr(start, k)}" for k in ARCHITECTURE if getattr(model_cfg, k) != getattr(start, k)]
    note = (f"continuing from {Path(path).name}: its {len(ckpt.vocab):,}-word vocabulary and weights"
            + (f"; its architecture ({', '.join(changed)})" if changed else ""))
    new_cfg = dataclasses.replace(start, dropout=model_cfg.dropout)
    return ckpt.vocab, new_cfg, ckpt.model.state_dict(), note


def first_seen_order(corpus: Corpus) -> list[str]:
    """The classes in the order they first appear in a labelled file's rows (ids are row numbers)."""
    first: dict[int, int] = {}
    for split in (corpus.train, corpus.val, corpus.test):
        for row_id, label in zip(split.ids, split.labels):
            row = int(row_id) if str(row_id).isdigit() else 0
            first[label] = min(first.get(label, row), row)
    return [corpus.classes[c] for c in sorted(first, key=first.get)]


def positive_label(cfg: TrainConfig, corpus: Corpus) -> str | None:
    """Of two classes, the positive one: ``cfg.positive_label``, else the second to appear in the data
    file's rows, else (IMDB) the second class; None for more than two classes."""
    classes = list(corpus.classes)
    if cfg.positive_label:
        if len(classes) != 2:
            raise ValueError(f"positive_label is for two classes; this data has {len(classes)}")
        if cfg.positive_label not in classes:
            raise ValueError(f"positive_label {cfg.positive_label!r} is not one of the classes {_names(classes)}")
        return cfg.positive_label
    if len(classes) != 2:
        return None
    if is_table(cfg.data):
        order = first_seen_order(corpus)
        if len(order) == 2:
            return order[1]
    return classes[1]


def card_facts(cfg: TrainConfig, corpus: Corpus) -> dict[str, Any]:
    """What the card records of these choices: the positive class, the checkpoint continued."""
    facts: dict[str, Any] = {}
    label = positive_label(cfg, corpus)
    if label is not None:
        facts["positive_label"] = label
    if cfg.init_checkpoint:
        facts["continued_from"] = Path(cfg.init_checkpoint).name
        # The command that made the start, and those of the stages before it, so a card gives the whole recipe
        # of a model made in stages.
        try:
            start = read_metadata(cfg.init_checkpoint)["info"]
        except CheckpointError:  # not a usable classifier: start_from_checkpoint says what is wrong with it
            start = {}
        if start.get("command"):
            facts["continued_command"] = start["command"]
            earlier = stage_commands(start)
            if earlier:
                facts["earlier_commands"] = earlier[-MAX_STAGES:]
    return facts
