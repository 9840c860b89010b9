"""One training run's setup, state and finishing, around the loop in ``training``.

``setup`` builds the vocabulary, the model (its word vectors or pretrained language model
included), the loaders and the optimizer into a ``Run``; ``finish`` restores the best epoch's
weights, calibrates, tests and saves them. Also the learning-rate schedule (``lr_factor``) and
the card's hardware line, which pretraining uses too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import platform
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from .behaviour import applies_to
from .calibration import calibrate, run_behaviour
from .checkpoint import Checkpoint, round_as_stored, save_checkpoint
from .config import ModelConfig, TrainConfig, default_cache_dir
from .data import Corpus, EncodedDataset, make_loader
from .data.identity import IdentitySwap, IdentityTie
from .data.punctuation import DropFinalPunctuation, word_end_share
from .data.tokens import concat
from .distributed import Distributed
from .embeddings import VectorCache, ppmi_svd_vectors, vector_unit
from .evaluation import Metrics, evaluate
from .events import CheckpointSaved, Event, Finished, Started, Status, Timing
from .finetune import init_from_lm, param_groups, start_from_lm, training_examples
from .fit import FITTED, REFERENCE_EXAMPLES, schedule_changes
from .heartbeat import with_progress
from .model import SentimentRNN, count_parameters
from .predict import Predictor
from .utils import resolve_device, set_seed, uses_bfloat16
from .vocab import Vocab
from .warm_start import card_facts, start_from_checkpoint

log = logging.getLogger(__name__)


def hardware_description(device: torch.device) -> str:
    """A short human description of where training ran, for the model card."""
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    threads = torch.get_num_threads()
    return f"CPU {platform.machine()}, {threads} torch thread{'s' if threads > 1 else ''}"


def lr_factor(step: int, warmup: int, total: int, schedule: str) -> float:
    """Linear warm-up, then constant or cosine decay to zero."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class Best:
    """The best epoch so far by validation accuracy (then loss), with its weights."""

    epoch: int
    val: Metrics
    state: dict[str, torch.Tensor]


@dataclass
class Run:
    """What setup builds for one run, and its progress."""

    cfg: TrainConfig
    corpus: Corpus
    vocab: Vocab
    model: SentimentRNN  # the model itself, also when ``trainer`` wraps it for several processes
    trainer: nn.Module  # what the training steps call: ``model``, or its DistributedDataParallel
    dist: Distributed | None
    device: torch.device
    train_loader: DataLoader
    val_loader: DataLoader
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    total_steps: int
    card: dict[str, Any]
    start: float
    swaps: IdentitySwap | None = None  # identity-term swaps applied to each training batch
    tie: IdentityTie | None = None  # identity terms' shared word vectors, restored after every step
    unpunctuate: DropFinalPunctuation | None = None  # final marks dropped from training batches
    history: list[dict[str, Any]] = field(default_factory=list)
    step: int = 0
    train_time: float = 0.0

    @property
    def packed(self) -> bool:
        return self.cfg.rnn_path == "packed"

    @property
    def is_main(self) -> bool:
        return self.dist is None or self.dist.is_main

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def evaluate(self, loader: DataLoader) -> Metrics:
        """Metrics over the loader's reviews, summed over every process's share."""
        return evaluate(self.model, loader, self.device, self.packed, self.cfg.precision,
                        reduce=self.dist.sum if self.dist else None)

    def loader(self, dataset: EncodedDataset, batch_size: int, shuffle: bool) -> DataLoader:
        return run_loader(dataset, batch_size, shuffle, self.cfg.model_seed, self.device, self.dist)

    def stopping(self, stop: threading.Event) -> bool:
        """Whether to stop now: the flag, or the flag of any process of the run."""
        return anywhere(self.dist, stop.is_set())

    def save(self, val: Metrics, epoch: int, test: Metrics | None = None, extra: dict[str, Any] | None = None) -> str:
        """Write the model's current weights with the run's metrics (and ``extra`` ones: calibration,
        behaviour) and card facts (rank 0 only)."""
        metrics = {"val": val.to_dict(), "best_epoch": epoch, "epochs_trained": len(self.history),
                   "history": self.history, **(extra or {})}
        if test is not None:
            metrics["test"] = test.to_dict()
        card = {**self.card, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "training_seconds": round(self.elapsed(), 1)}
        cfg = self.cfg
        return str(save_checkpoint(cfg.output, self.model, self.vocab, cfg, metrics, card, cfg.save_dtype,
                                   labels=self.corpus.classes))


def setup(model_cfg: ModelConfig, cfg: TrainConfig, corpus: Corpus, stop: threading.Event,
           info: dict[str, Any], start: float, dist: Distributed | None) -> Generator[Event, None, Run | None]:
    """Vocabulary, model (word vectors included), loaders and optimizer; None if stopped meanwhile."""
    device = dist.device if dist else resolve_device(cfg.device)
    if not len(corpus.train) or not len(corpus.val):
        raise ValueError("the training and validation splits must not be empty")
    for warning in corpus.warnings:
        yield Status(f"warning: {warning}")
    for phase, seconds in corpus.timings:
        yield Timing(phase, seconds)
    if stop.is_set() and dist is None:
        return None
    clock = time.perf_counter()
    if cfg.unfreeze_steps and dist:
        raise ValueError("gradual unfreezing (unfreeze_steps) needs a single process")
    if cfg.fit_steps:
        cfg = yield from _fit_schedule(cfg, len(corpus.train))
    lm = weights = None
    facts = card_facts(cfg, corpus)  # the positive class checked against the data's before anything is built
    if cfg.pretrained_lm:
        vocab, model_cfg, lm, note = start_from_lm(cfg, model_cfg, corpus)
        if note:
            yield Status(note)
    elif cfg.init_checkpoint:
        vocab, model_cfg, weights, note = start_from_checkpoint(cfg, model_cfg, corpus)
        yield Status(note)
    else:
        vocab = Vocab.build(corpus.train.items, cfg.vocab_size, cfg.min_freq, cfg.lowercase)
    words = len(vocab) - 2  # <pad> and <unk> get no word vector
    if cfg.pretrain_embeddings and model_cfg.embed_dim > words:
        # Word vectors have at most as many dimensions as there are words to factorise.
        yield Status(f"embedding size {model_cfg.embed_dim} is more than the {words} words of the vocabulary: "
                     f"using {max(1, words)}")
        model_cfg = dataclasses.replace(model_cfg, embed_dim=max(1, words))
    model_cfg = dataclasses.replace(model_cfg, vocab_size=len(vocab), pad_index=vocab.pad_index,
                                    num_classes=len(corpus.classes))
    set_seed(cfg.model_seed)
    model = SentimentRNN(model_cfg)
    if lm is not None:
        init_from_lm(model, lm)
    if weights is not None:
        model.load_state_dict(weights)
    if dist:
        torch.manual_seed(cfg.model_seed + dist.rank)  # the same weights everywhere, different dropout masks
    yield Timing("vocabulary and model", time.perf_counter() - clock, f"{len(vocab):,} words")
    stopped = False
    # Several processes: rank 0's weights are copied to the others when DDP wraps the model,
    # so only rank 0 computes word vectors.
    if cfg.pretrain_embeddings and (dist is None or dist.is_main):
        clock = time.perf_counter()
        vectors, note = yield from _word_vectors(corpus, vocab, model_cfg.embed_dim, cfg, stop)
        if vectors is not None:
            with torch.no_grad():
                model.embedding.weight.copy_(vectors)
            yield Timing("word vectors", time.perf_counter() - clock, note)
        stopped = vectors is None
    if anywhere(dist, stopped or stop.is_set()):
        return None
    model = model.to(device)
    trainer: nn.Module = model
    if dist:
        trainer = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # batches come in a few length buckets: tune each shape once
    train_reviews = yield from training_examples(corpus, cfg)
    train_loader = run_loader(EncodedDataset(train_reviews, vocab, cfg.max_tokens), cfg.batch_size, True,
                              cfg.model_seed, device, dist)
    val_loader = run_loader(EncodedDataset(corpus.val, vocab, cfg.max_tokens), cfg.batch_size * 2, False, cfg.seed,
                            device, dist)
    swaps = None
    if cfg.identity_swaps:
        # Every process draws its own swaps (its own share of the batch): seeded per rank.
        swaps = IdentitySwap(vocab, cfg.identity_swaps, cfg.model_seed + (dist.rank if dist else 0))
        yield Status(f"identity-term swaps: {swaps.terms} terms of the vocabulary, each swapped with probability "
                     f"{cfg.identity_swaps:g}")
    tie = None
    if cfg.tie_identity_terms:
        tie = IdentityTie(vocab)
        tie(model.embedding.weight)
        if not tie.groups:
            yield Status("identity terms tied: no group has two terms in the vocabulary, so nothing is tied")
        else:
            shared = "one word vector" if len(tie.groups) == 1 else f"{len(tie.groups)} word vectors, one per group"
            yield Status(f"identity terms tied: {tie.terms} terms of the vocabulary share {shared}")
    unpunctuate = None
    if cfg.unpunctuated:
        unpunctuate = DropFinalPunctuation(vocab, cfg.unpunctuated, cfg.model_seed + 1 + (dist.rank if dist else 0))
    steps_per_epoch = len(train_loader)
    total_steps = steps_per_epoch * cfg.epochs
    yield Started(str(device), count_parameters(model), len(vocab), len(corpus.train), len(corpus.val),
                  len(corpus.test), steps_per_epoch, total_steps, dist.world_size if dist else 1,
                  list(corpus.classes), cfg.epochs)
    groups = param_groups(model, cfg.lr, cfg.lr_decay) if cfg.lr_decay != 1 else model.parameters()
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, cfg.warmup_steps, total_steps, cfg.schedule)
    )
    hardware = hardware_description(device)
    if dist:
        hardware = f"{dist.world_size} processes, each on {hardware}"
    card = {**info, **facts, "hardware": hardware, "torch": torch.__version__,
            "precision": "bfloat16 autocast" if uses_bfloat16(device, cfg.precision) else "float32",
            "num_parameters": count_parameters(model), "train_size": len(corpus.train),
            "train_examples": len(train_reviews), "val_size": len(corpus.val),
            "processes": dist.world_size if dist else 1, "dataset": corpus.description,
            "word_end_share": round(word_end_share(corpus.train.items), 4)}
    return Run(cfg, corpus, vocab, model, trainer, dist, device, train_loader, val_loader, optimizer, scheduler,
               total_steps, card, start, swaps, tie, unpunctuate)


def anywhere(dist: Distributed | None, flag: bool) -> bool:
    """``flag`` of this process, or of any process of a multi-process run (all of them agree)."""
    return dist.any(flag) if dist else flag


def run_loader(dataset: EncodedDataset, batch_size: int, shuffle: bool, seed: int, device: torch.device,
               dist: Distributed | None = None) -> DataLoader:
    # Pinned host memory lets batches go to a GPU asynchronously (non_blocking copies). Several
    # processes: each reads its share of every batch (training) or of the batches (evaluation).
    return make_loader(dataset, batch_size, shuffle=shuffle, seed=seed, pin_memory=device.type == "cuda",
                       num_replicas=dist.world_size if dist else 1, rank=dist.rank if dist else 0)


def _fit_schedule(cfg: TrainConfig, reviews: int) -> Generator[Event, None, TrainConfig]:
    """``cfg`` with the batch and epochs fitted to ``reviews`` training reviews (``fit.schedule_changes``)."""
    changes = schedule_changes(cfg, reviews)
    if not changes:
        return cfg
    fitted = dataclasses.replace(cfg, **changes)
    stop = f", stopping after {fitted.patience} without validation gain" if fitted.patience else ""
    yield Status(f"{FITTED}{reviews:,} training reviews: batches of {fitted.batch_size} and up to {fitted.epochs} "
                 f"epochs{stop} (the preset's {cfg.batch_size} and {cfg.epochs} are for {REFERENCE_EXAMPLES:,})")
    return fitted


def _word_vectors(corpus: Corpus, vocab: Vocab, dim: int, cfg: TrainConfig,
                  stop: threading.Event) -> Generator[Event, None, tuple[torch.Tensor | None, str]]:
    """PPMI-SVD vectors of the training and unlabeled text, from the cache when computed before;
    None if stopped before computing them."""
    cache = VectorCache(Path(cfg.cache_dir or default_cache_dir()) / "vectors")
    text_key = corpus.text_key()
    key = cache.key(text_key, vocab, dim, cfg.seed) if text_key else ""
    if key and (vectors := cache.get(key, (len(vocab), dim))) is not None:
        return vectors, "from the cache"
    texts = concat([corpus.train.items, *([corpus.unlabeled.items] if corpus.unlabeled else [])])
    yield Status(f"computing word vectors from {len(texts):,} training and unlabeled reviews")
    if stop.is_set():  # they take a while: don't start them for a stopped run
        return None, ""
    vectors = yield from with_progress(partial(ppmi_svd_vectors, texts, vocab, dim, seed=cfg.seed), stop, vector_unit)
    if vectors is None:
        return None, ""
    if key:
        cache.put(key, vectors)
    return vectors, f"computed from {len(texts):,} reviews"


def finish(run: Run, best: Best, status: str) -> Iterator[Event]:
    """Restore the best weights, calibrate them, score them (test only for a finished run), run the
    behaviour suite (a polarity model), save, report."""
    cfg, model = run.cfg, run.model
    model.load_state_dict(best.state)
    val, test = best.val, None
    extra: dict[str, Any] = {}  # metrics beyond the splits': calibration, behaviour
    if run.dist:
        # Each process holds a share of the validation reviews: fitting one temperature needs them all in one place.
        extra["calibration"] = {"skipped": "trained in several processes"}
        log.info("probabilities left uncalibrated: temperature scaling needs a single process")
    else:
        clock = time.perf_counter()
        extra["calibration"], val = calibrate(model, run.val_loader, run.device, run.packed, cfg.precision)
        yield Timing("calibration", time.perf_counter() - clock,
                     f"temperature {extra['calibration']['temperature']:.2f}")
    if cfg.save_dtype == "float16":
        # Report what the saved file will do: round the (calibrated) weights to half precision first.
        round_as_stored(model, cfg.save_dtype)
        val = run.evaluate(run.val_loader)
    if status == "finished" and len(run.corpus.test):
        clock = time.perf_counter()
        test = run.evaluate(run.loader(EncodedDataset(run.corpus.test, run.vocab, cfg.max_tokens), cfg.batch_size * 2,
                                       shuffle=False))
        yield Timing("testing", time.perf_counter() - clock, f"{len(run.corpus.test):,} reviews")
    path = ""
    if run.is_main:
        labels = list(run.corpus.classes)
        if applies_to(labels):
            clock = time.perf_counter()
            # Read as the saved model will be (its info decides whether a typed text gets a full stop).
            predictor = Predictor(Checkpoint(model, model.cfg, run.vocab, labels, cfg, info=run.card), run.device)
            extra["behaviour"], short = run_behaviour(predictor.predict_batch, labels)
            extra["calibration"].update(short)
            yield Timing("behaviour suite", time.perf_counter() - clock, "dev and held-out halves")
        path = run.save(val, best.epoch, test, extra)
        yield CheckpointSaved(path, best.epoch, val.accuracy)
    yield Finished(status, path, val.to_dict(), test.to_dict() if test else {}, run.elapsed())
