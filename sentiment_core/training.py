"""The one training loop: an iterator of progress events that the CLI and the app both drive.

    for event in train(model_cfg, train_cfg, corpus, stop=stop_flag):
        ...  # [Status], Started, Step..., EpochEnd, CheckpointSaved, ..., Finished

A set ``stop`` flag ends the run at the next batch; the best checkpoint so far is kept (and if
no epoch has finished yet, the current weights are validated and saved, so a stopped run
always leaves a loadable model). Errors, out-of-memory included, end the run with a
``Finished(status="failed")`` event rather than an exception, so a front-end stays usable.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import logging
import math
import platform
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .checkpoint import save_checkpoint
from .config import ModelConfig, TrainConfig
from .data import Corpus, EncodedDataset, load_corpus, make_loader
from .embeddings import ppmi_svd_vectors
from .evaluation import Metrics, evaluate
from .model import SentimentRNN, count_parameters
from .utils import resolve_device, set_seed
from .vocab import Vocab

log = logging.getLogger(__name__)


@dataclass
class Event:
    """Base of all progress events; ``kind`` names the event for front-ends and JSON."""

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}


@dataclass
class Status(Event):
    """A preparation stage that takes a while, before the first step."""

    message: str


@dataclass
class Started(Event):
    device: str
    num_parameters: int
    vocab_size: int
    train_size: int
    val_size: int
    test_size: int
    steps_per_epoch: int
    total_steps: int


@dataclass
class Step(Event):
    epoch: int  # 1-based
    step: int  # global, 1-based
    total_steps: int
    loss: float
    lr: float
    tokens_per_s: float
    elapsed_s: float
    eta_s: float


@dataclass
class EpochEnd(Event):
    epoch: int
    step: int
    train_loss: float
    val: dict[str, Any]
    improved: bool
    elapsed_s: float


@dataclass
class CheckpointSaved(Event):
    path: str
    epoch: int
    val_accuracy: float


@dataclass
class Finished(Event):
    status: str  # finished | stopped | failed
    path: str = ""
    val: dict[str, Any] = field(default_factory=dict)
    test: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    error: str = ""


def hardware_description(device: torch.device) -> str:
    """A short human description of where training ran, for the model card."""
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    threads = torch.get_num_threads()
    return f"CPU {platform.machine()}, {threads} torch thread{'s' if threads > 1 else ''}"


def _lr_factor(step: int, warmup: int, total: int, schedule: str) -> float:
    """Linear warm-up, then constant or cosine decay to zero."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    corpus: Corpus | None = None,
    stop: threading.Event | None = None,
    info: dict[str, Any] | None = None,
) -> Iterator[Event]:
    """Train a model as configured, yielding progress events; see the module docstring."""
    start = time.perf_counter()
    saved = ""  # the best checkpoint written so far: a failure later in the run keeps it
    try:
        for event in _train(model_cfg, cfg, corpus or load_corpus(cfg), stop or threading.Event(), info or {}, start):
            if isinstance(event, CheckpointSaved):
                saved = event.path
            yield event
    except Exception as exc:
        log.exception("training failed")
        message = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower():
            message = f"out of memory ({exc}); lower the batch size, max tokens or model size"
        if saved:
            message += f"; the best checkpoint so far is kept at {saved}"
        yield Finished("failed", path=saved, elapsed_s=time.perf_counter() - start, error=message)


def _train(model_cfg: ModelConfig, cfg: TrainConfig, corpus: Corpus, stop: threading.Event,
           info: dict[str, Any], start: float) -> Iterator[Event]:
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    device = resolve_device(cfg.device)
    packed = cfg.rnn_path == "packed"
    if not len(corpus.train) or not len(corpus.val):
        raise ValueError("the training and validation splits must not be empty")

    vocab = Vocab.build(corpus.train.items, cfg.vocab_size, cfg.min_freq, cfg.lowercase)
    model_cfg = dataclasses.replace(model_cfg, vocab_size=len(vocab), pad_index=vocab.pad_index)
    set_seed(cfg.seed)
    model = SentimentRNN(model_cfg)
    if cfg.pretrain_embeddings:
        texts = corpus.train.items + (corpus.unlabeled.items if corpus.unlabeled else [])
        yield Status(f"computing word vectors from {len(texts):,} training and unlabeled reviews")
        with torch.no_grad():
            model.embedding.weight.copy_(ppmi_svd_vectors(texts, vocab, model_cfg.embed_dim, seed=cfg.seed))
    model = model.to(device)
    train_set = EncodedDataset(corpus.train, vocab, cfg.max_tokens)
    train_loader = make_loader(train_set, cfg.batch_size, shuffle=True, seed=cfg.seed)
    val_loader = make_loader(EncodedDataset(corpus.val, vocab, cfg.max_tokens), cfg.batch_size * 2, shuffle=False)
    steps_per_epoch = len(train_loader)
    total_steps = steps_per_epoch * cfg.epochs
    yield Started(str(device), count_parameters(model), len(vocab), len(corpus.train), len(corpus.val),
                  len(corpus.test), steps_per_epoch, total_steps)

    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: _lr_factor(s, cfg.warmup_steps, total_steps, cfg.schedule)
    )
    loss_fn = nn.BCEWithLogitsLoss()
    card = {
        **info,
        "hardware": hardware_description(device),
        "torch": torch.__version__,
        "num_parameters": count_parameters(model),
        "train_size": len(corpus.train),
        "val_size": len(corpus.val),
    }
    best: dict[str, Any] = {}  # epoch, val metrics, state dict of the best epoch so far
    history: list[dict[str, Any]] = []
    step, train_time, epochs_without_gain = 0, 0.0, 0
    status = "finished"

    def save(val: Metrics, epoch: int, test: Metrics | None = None) -> str:
        metrics = {"val": val.to_dict(), "best_epoch": epoch, "epochs_trained": len(history), "history": history}
        if test is not None:
            metrics["test"] = test.to_dict()
        card_now = {**card, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "training_seconds": round(time.perf_counter() - start, 1)}
        return str(save_checkpoint(cfg.output, model, vocab, cfg, metrics, card_now, cfg.save_dtype))

    for epoch in range(1, cfg.epochs + 1):
        model.train()
        train_loader.batch_sampler.set_epoch(epoch)
        epoch_loss, epoch_batches = 0.0, 0
        for tokens, lengths, labels in train_loader:
            if stop.is_set():
                status = "stopped"
                break
            t0 = time.perf_counter()
            tokens, lengths, labels = tokens.to(device), lengths.to(device), labels.to(device)
            loss = loss_fn(model(tokens, lengths, packed=packed), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad_norm:
                # RNN gradients can explode over long reviews; clipping keeps one bad batch from derailing Adam.
                nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
            optimizer.step()
            scheduler.step()
            loss_value = loss.item()  # also waits for the device, so the timing below is real
            if not math.isfinite(loss_value):
                raise FloatingPointError(f"training loss became {loss_value} at step {step + 1}; lower the lr")
            dt_step = time.perf_counter() - t0
            train_time += dt_step
            step += 1
            epoch_loss += loss_value
            epoch_batches += 1
            yield Step(epoch, step, total_steps, loss_value, scheduler.get_last_lr()[0],
                       float(lengths.sum()) / dt_step, time.perf_counter() - start,
                       train_time / step * (total_steps - step))
        if status == "stopped" and best:
            break
        # Validate after each epoch, and once more when stopped before any epoch finished.
        val = evaluate(model, val_loader, device, packed)
        train_loss = epoch_loss / max(1, epoch_batches)
        improved = not best or (val.accuracy, -val.loss) > (best["val"].accuracy, -best["val"].loss)
        history.append({"epoch": epoch, "step": step, "train_loss": train_loss, "val_loss": val.loss,
                        "val_accuracy": val.accuracy})
        yield EpochEnd(epoch, step, train_loss, val.to_dict(), improved, time.perf_counter() - start)
        if improved:
            best = {"epoch": epoch, "val": val, "state": copy.deepcopy(model.state_dict())}
            epochs_without_gain = 0
            yield CheckpointSaved(save(val, epoch), epoch, val.accuracy)
        else:
            epochs_without_gain += 1
        if status == "stopped":
            break
        if cfg.patience and epochs_without_gain >= cfg.patience:
            log.info("no validation gain for %d epochs: stopping early", cfg.patience)
            break

    model.load_state_dict(best["state"])
    val, test = best["val"], None
    if cfg.save_dtype == "float16":
        # Report what the saved file will do: round the weights to half precision first.
        model.load_state_dict({k: v.half().float() for k, v in best["state"].items()})
        val = evaluate(model, val_loader, device, packed)
    if status == "finished" and len(corpus.test):
        test_loader = make_loader(EncodedDataset(corpus.test, vocab, cfg.max_tokens), cfg.batch_size * 2, shuffle=False)
        test = evaluate(model, test_loader, device, packed)
    path = save(val, best["epoch"], test)
    yield CheckpointSaved(path, best["epoch"], val.accuracy)
    yield Finished(status, path, val.to_dict(), test.to_dict() if test else {}, time.perf_counter() - start)
