"""Model soups (Wortsman et al., 2022): one classifier whose weights are the average of several
fine-tuned from one start.

Classifiers fine-tuned from the same start (the same pretrained language model and seed, then
different later stages or data mixes) stay in one basin of the loss, so their average keeps what
each learned and often beats every one of them; unlike an ensemble it is read once per text, so it
costs one model's time to predict and explain. Classifiers from different seeds do not average well
(their hidden units are not aligned): the soup's own validation accuracy says so.

``make_soup`` averages all the members (a uniform soup), or with ``greedy`` tries them in order of
their own validation accuracy and keeps each only where the soup's validation accuracy does not drop
(the greedy soup). The soup is then calibrated and scored like a trained model.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .behaviour.runner import applies_to
from .calibration import calibrate, run_behaviour
from .checkpoint import Checkpoint, round_as_stored
from .checkpoint_header import MAX_STAGES, stage_commands
from .config import TrainConfig
from .data import DataError, EncodedDataset, Progress, is_table, make_loader
from .data.source import no_progress
from .evaluation import Metrics, evaluate, load_split, split_config
from .model import count_parameters
from .predict import Predictor
from .training_run import hardware_description

log = logging.getLogger(__name__)

MAX_MEMBERS = MAX_STAGES  # the header lists each member's command
BATCH_SIZE = 128

# The settings that decide which reviews a run validated on: members must agree on them, so that one
# validation split can pick and calibrate the soup without scoring a member on reviews it trained on.
# What the members' runs knew about the data, the same for all of them (the split is checked to be).
_SHARED_FACTS = ("train_size", "val_size", "dataset", "preset")
_SPLIT_FIELDS = ("seed", "val_fraction", "imdb_labels", "text_column", "label_column", "split_column")


@dataclass
class Soup:
    """An averaged model, calibrated, and what its checkpoint records: ``metrics`` (splits, calibration,
    behaviour, and ``soup``: each candidate's own validation accuracy and whether it was kept) and
    ``info`` (the card's facts)."""

    checkpoint: Checkpoint
    members: list[int]  # indices into the candidates, in the order they were added
    metrics: dict[str, Any]
    info: dict[str, Any]


def check_members(candidates: Sequence[Checkpoint]) -> None:
    """``ValueError`` unless the checkpoints can be averaged: two to ``MAX_MEMBERS`` distinct files with
    one architecture, vocabulary, label set and validation split."""
    if not 2 <= len(candidates) <= MAX_MEMBERS:
        raise ValueError(f"a soup needs 2 to {MAX_MEMBERS} checkpoints, not {len(candidates)}")
    paths = [c.path for c in candidates]
    repeated = sorted({p for p in paths if paths.count(p) > 1})
    if repeated:
        raise ValueError(f"{repeated[0]} is named twice: each member counts once")
    first = candidates[0]
    for other in candidates[1:]:
        if other.model_config != first.model_config:
            raise ValueError(f"{other.path} is another architecture than {first.path}: weights of different "
                             "shapes or roles cannot be averaged")
        if other.vocab.to_dict() != first.vocab.to_dict():
            raise ValueError(f"{other.path} has another vocabulary than {first.path}: its embedding rows are other "
                             "words (members must be fine-tuned from one start)")
        if other.labels != first.labels:
            raise ValueError(f"{other.path} has labels {other.labels}, {first.path} {first.labels}")
        if _split(other.train_config) != _split(first.train_config):
            raise ValueError(f"{other.path} was validated on other reviews than {first.path} (another split seed, "
                             "validation share or data): one validation split must pick and calibrate the soup")


def _split(cfg: TrainConfig | None) -> tuple[Any, ...]:
    cfg = cfg or TrainConfig()
    return (*(getattr(cfg, name) for name in _SPLIT_FIELDS), cfg.data if is_table(cfg.data) else "imdb")


def average(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of state dicts with the same keys and shapes, in float32."""
    return {key: torch.stack([s[key].float() for s in states]).mean(0) for key in states[0]}


def greedy_members(scores: Sequence[Metrics], soup_score: Callable[[list[int]], Metrics],
                   say: Callable[[str], None] = log.info) -> list[int]:
    """Wortsman et al.'s greedy soup: candidates best first (validation accuracy, then loss), each kept
    where ``soup_score(kept + [i])`` (validation metrics of that soup) is at least as accurate as the
    soup without it."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i].accuracy, scores[i].loss))
    kept, best = [order[0]], scores[order[0]]
    for i in order[1:]:
        trial = soup_score([*kept, i])
        keep = trial.accuracy >= best.accuracy
        say(f"candidate {i + 1} with the soup of {len(kept)}: validation accuracy {trial.accuracy:.2%} "
            f"({'kept' if keep else 'left out'}; {best.accuracy:.2%} without it)")
        if keep:
            kept, best = [*kept, i], trial
    return kept


def make_soup(candidates: Sequence[Checkpoint], data: str = "", cache_dir: str = "", greedy: bool = False,
              save_dtype: str = "float32", info: dict[str, Any] | None = None,
              progress: Progress = no_progress, say: Callable[[str], None] = log.info) -> Soup:
    """Average ``candidates`` (all, or the greedy pick on the validation split), fold a temperature fitted
    on that split into the result, score it on the validation and test splits (the test split of an
    IMDB run; a labelled file's when it names one) and, for a polarity model, run the behaviour suite.
    ``save_dtype``: the precision the soup will be saved in; it is scored as saved. ``info``: facts for
    the card (name, command), kept. ``say``: a line per candidate scored and per greedy trial."""
    check_members(candidates)
    first = candidates[0]
    cfg = split_config(first.train_config, data, cache_dir)

    def loader(split: str) -> Any:
        reviews = load_split(cfg, split, progress, classes=first.labels)
        return make_loader(EncodedDataset(reviews, first.vocab, cfg.max_tokens), BATCH_SIZE, shuffle=False)

    val_loader = loader("val")
    states = [{k: v.detach().float().clone() for k, v in c.model.state_dict().items()} for c in candidates]
    model = first.model

    def score(members: Sequence[int]) -> Metrics:
        model.load_state_dict(average([states[i] for i in members]))
        return evaluate(model, val_loader)

    own = []
    for i, candidate in enumerate(candidates):
        own.append(score([i]))
        say(f"candidate {i + 1} ({candidate.path}): validation accuracy {own[-1].accuracy:.2%}")
    members = greedy_members(own, score, say) if greedy else list(range(len(candidates)))
    model.load_state_dict(average([states[i] for i in members]))
    calibration, val = calibrate(model, val_loader)
    if save_dtype == "float16":
        round_as_stored(model, save_dtype)
        val = evaluate(model, val_loader)
    try:
        test = evaluate(model, loader("test"))
    except DataError:  # a labelled file whose split column names no test rows
        if not is_table(cfg.data):
            raise
        test = None
    kept = [candidates[i] for i in members]
    facts = {key: first.info[key] for key in _SHARED_FACTS if key in first.info}
    card = {**facts, **(info or {}), **_reading_info(kept), "num_parameters": count_parameters(model),
            "training_seconds": round(sum(float(c.info.get("training_seconds") or 0) for c in kept), 1),
            "hardware": hardware_description(torch.device("cpu")), "torch": torch.__version__,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    train_config = dataclasses.replace(first.train_config or TrainConfig(), save_dtype=save_dtype)
    soup = Checkpoint(model, first.model_config, first.vocab, list(first.labels), train_config, info=card)
    metrics: dict[str, Any] = {"val": val.to_dict(), "calibration": calibration, "soup": {
        "rule": "greedy" if greedy else "uniform",
        "candidates": [{"file": c.path, "command": c.info.get("command", ""), "stages": stage_commands(c.info),
                        "val_accuracy": m.accuracy,
                        "kept": members.index(i) + 1 if i in members else 0}
                       for i, (c, m) in enumerate(zip(candidates, own))]}}
    if test is not None:
        metrics["test"] = test.to_dict()
    if applies_to(soup.labels):
        # Read as the saved model will be (its info decides whether a typed text gets a full stop).
        metrics["behaviour"], short = run_behaviour(Predictor(soup).predict_batch, soup.labels)
        calibration.update(short)
    return Soup(soup, members, metrics, card)


def _reading_info(members: Sequence[Checkpoint]) -> dict[str, Any]:
    """What the predictor reads from a model's info: the share of its training texts that end in a word,
    the mean of its members' (left out where a member does not record one)."""
    shares = [m.info.get("word_end_share") for m in members]
    if any(share is None for share in shares):
        return {}
    return {"word_end_share": round(sum(shares) / len(shares), 4)}
