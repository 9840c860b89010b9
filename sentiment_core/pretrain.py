"""Pretraining the language model (``lm.py``) on the training slice and the unlabeled reviews.

    for event in pretrain(lm_cfg, cfg, stop=flag):
        ...  # Status/Timing/Progress..., LMStarted, (LMStep... LMEpochEnd)..., Finished

Text: the training slice of the IMDB train split (the reviews a classifier trains on, by the same
seeded split) and the 50,000 unlabeled reviews; never the validation slice, which gives the
perplexity after each epoch, nor the test split. The vocabulary comes from the same text. Each
epoch shuffles the reviews into one stream, each review followed by ``<pad>`` (the model learns
where reviews end), cut into ``batch_size`` parallel rows read ``bptt`` tokens at a time, the
state carried from one window to the next (truncated backpropagation through time):

    stream   a b c <pad> d e <pad> f g h i <pad> ...       (N tokens)
    rows     [a b c <pad> d e ...]                         (B, N // B): row r is the r-th slice
             [f g h i <pad> ...]
    window   rows[:, s : s + bptt] -> targets rows[:, s + 1 : s + bptt + 1]

The backward model reads the reversed stream. A run saves a resume state every
``save_every_minutes`` and at each epoch's end (``<output>.resume.pt``: weights, optimizer,
position); started again with the same settings, it carries on from there. The finished model
is written by ``lm_checkpoint.save_language_model``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import MAX_BATCH, MAX_EPOCHS, MAX_LR, MAX_SEED, MAX_TOKENS, MAX_VOCAB, TrainConfig, check_fields, option
from .data import Corpus, load_corpus
from .data.table import is_table
from .embeddings import ppmi_svd_vectors, vector_unit
from .events import Event, Finished, Status, Timing
from .heartbeat import with_progress
from .lm import LanguageModel, LMConfig
from .lm_checkpoint import is_encoder_key, load_language_model, resume_path, save_language_model
from .lm_text import perplexity, prepare_text
from .model import count_parameters
from .tempfiles import atomic_file
from .training_run import hardware_description, lr_factor
from .utils import mixed_precision, resolve_device, set_seed
from .vocab import Vocab

log = logging.getLogger(__name__)
LM_SUFFIX = ".safetensors"


@dataclass
class PretrainConfig:
    """Data, optimisation and output of a pretraining run."""

    data: str = option("", "IMDB archive (.tar.gz) or unpacked aclImdb/ folder (empty: $SENTIMENT_DATA or the "
                       "download)")
    cache_dir: str = option("", "download and token cache folder (default: ~/.cache/sentiment_core)")
    val_fraction: float = option(0.1, "share of the IMDB train split held out for validation; a classifier "
                                 "fine-tuned from this model must use the same share and seed", above=0.0, below=1.0)
    seed: int = option(1234, "seed of the train/validation split, initialisation and shuffling", min=0, max=MAX_SEED)
    vocab_size: int = option(25_000, "most frequent words kept in the vocabulary", min=1, max=MAX_VOCAB)
    min_freq: int = option(2, "words seen fewer times become <unk>", min=1, max=1_000_000)
    epochs: int = option(1, "passes over the text", min=1, max=MAX_EPOCHS)
    max_epoch_tokens: int = option(0, "read at most this many tokens per epoch (0 = all; a shorter run)", min=0,
                                   max=10**10)
    batch_size: int = option(64, "parallel rows of text", min=1, max=MAX_BATCH)
    bptt: int = option(70, "tokens per window of backpropagation through time", min=2, max=MAX_TOKENS)
    lr: float = option(3e-3, "peak learning rate of Adam", above=0.0, max=MAX_LR)
    weight_decay: float = option(1e-6, "weight decay", min=0.0, max=MAX_LR)
    warmup_steps: int = option(200, "linear warm-up steps before the cosine decay", min=0, max=10_000_000)
    clip_grad_norm: float = option(0.25, "clip the gradient norm to this (0 = off)", min=0.0)
    val_max_tokens: int = option(0, "perplexity on at most this many validation tokens (0 = all)", min=0, max=10**10)
    save_every_minutes: float = option(5.0, "write the resume state this often", above=0.0)
    device: str = option("auto", "auto picks cuda, then mps, then cpu", choices=("auto", "cpu", "cuda", "mps"))
    precision: str = option("auto", "float32, or bfloat16 autocast (auto = bfloat16 on a CUDA GPU that has it)",
                            choices=("auto", "float32", "bfloat16"))
    embedding_init: str = option("random", "how the embedding starts: random, or PPMI-SVD word vectors of the same "
                                 "text (what the fast preset's classifier starts from)", choices=("random", "ppmi-svd"))
    freeze_embedding: bool = option(False, "keep the embedding as it starts: with --embedding-init ppmi-svd, a "
                                    "recurrence that learns to read those word vectors")
    init_from: str = option("", "start from this language model's weights (written by an earlier run on the same "
                            "data, split, vocabulary and architecture): another pass over the text. An encoder "
                            "alone (lm-encoder) gets a fresh softmax, trained alone during the warm-up steps")
    output: str = option("runs/lm/imdb-lm.safetensors", "where the language model is written (a .safetensors file)")
    save_dtype: str = option("float16", "storage precision of the saved weights", choices=("float32", "float16"))

    def __post_init__(self) -> None:
        check_fields(self)
        name = Path(self.output).name
        if not name.endswith(LM_SUFFIX) or name == LM_SUFFIX:
            raise ValueError(f"output must be a {LM_SUFFIX} file, not {self.output!r}")
        if is_table(self.data):
            raise ValueError("pretraining reads the IMDB reviews (an archive or aclImdb/ folder), not a labelled file")
        if self.init_from and self.embedding_init != "random":
            raise ValueError("init_from brings its own embedding: leave embedding_init at 'random'")

    def split_config(self) -> TrainConfig:
        """The classifier's data settings this run's split matches (same data, seed and validation share)."""
        return TrainConfig(data=self.data, cache_dir=self.cache_dir, val_fraction=self.val_fraction, seed=self.seed,
                           pretrain_embeddings=True)


@dataclass
class LMStarted(Event):
    device: str
    num_parameters: int
    vocab_size: int
    train_tokens: int
    val_tokens: int
    steps_per_epoch: int
    total_steps: int
    resumed_at: int  # the global step a resumed run carries on from (0 = a fresh start)


@dataclass
class LMStep(Event):
    epoch: int
    step: int
    total_steps: int
    loss: float  # mean over the directions
    lr: float
    tokens_per_s: float
    elapsed_s: float
    eta_s: float


@dataclass
class LMEpochEnd(Event):
    epoch: int
    train_loss: float
    val_perplexity: dict[str, float]  # {"forward": ..., "backward": ...}
    elapsed_s: float


def _detach(state: Any) -> Any:
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def pretrain(lm_cfg: LMConfig, cfg: PretrainConfig, corpus: Corpus | None = None,
             stop: threading.Event | None = None, info: dict[str, Any] | None = None) -> Iterator[Event]:
    """Pretrain (or resume) a language model as configured, yielding progress events; errors end
    the run with ``Finished(status="failed")``, keeping the resume state written so far."""
    start = time.perf_counter()
    stop = stop or threading.Event()
    try:
        yield from _pretrain(lm_cfg, cfg, corpus, stop, info or {}, start)
    except Exception as exc:
        log.exception("pretraining failed")
        yield Finished("failed", elapsed_s=time.perf_counter() - start, error=f"{type(exc).__name__}: {exc}")


def _pretrain(lm_cfg: LMConfig, cfg: PretrainConfig, corpus: Corpus | None, stop: threading.Event,
              info: dict[str, Any], start: float) -> Generator[Event, None, None]:
    device = resolve_device(cfg.device)
    state_path = resume_path(cfg.output)
    if corpus is None:
        clock = time.perf_counter()
        corpus = load_corpus(cfg.split_config())
        yield Timing("reading and tokenizing the reviews", time.perf_counter() - clock)
    text = prepare_text(cfg, corpus)
    lm_cfg = dataclasses.replace(lm_cfg, vocab_size=len(text.vocab), pad_index=text.vocab.pad_index)
    set_seed(cfg.seed)
    model = LanguageModel(lm_cfg).to(device)
    model.embedding.weight.requires_grad_(not cfg.freeze_embedding)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                                 weight_decay=cfg.weight_decay)
    settings = {"lm": dataclasses.asdict(lm_cfg), "pretrain": _resume_settings(cfg), "vocab": text.vocab.itos}
    epoch_rows = text.rows(1, cfg, 0)
    if epoch_rows.size(1) < 2:
        raise ValueError(f"{epoch_rows.numel():,} training tokens make rows of {epoch_rows.size(1)} token(s) at batch "
                         f"size {cfg.batch_size}: too short to predict a next token; lower the batch size")
    if len(text.val) < 4:
        raise ValueError("the validation slice has too few tokens to measure a perplexity")
    # A window is bptt tokens, or all a row has when it is shorter.
    steps_per_epoch = max(1, (epoch_rows.size(1) - 1) // cfg.bptt)
    total_steps = steps_per_epoch * cfg.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, cfg.warmup_steps, total_steps, "cosine"))
    step, trained_s = 0, 0.0
    if cfg.embedding_init == "ppmi-svd" and not state_path.exists():  # a resumed run loads its own
        clock = time.perf_counter()
        vectors = yield from with_progress(partial(ppmi_svd_vectors, text.train, text.vocab, lm_cfg.embed_dim,
                                                   seed=cfg.seed), stop, vector_unit)
        if vectors is None:  # stopped before the first step: nothing to resume from
            yield Finished("stopped", elapsed_s=time.perf_counter() - start)
            return
        with torch.no_grad():
            model.embedding.weight.copy_(vectors)
        yield Timing("PPMI-SVD word vectors", time.perf_counter() - clock, f"{len(text.train):,} reviews")
    history, fresh_softmax = (_continue_from(cfg.init_from, model, text.vocab, corpus.val.ids) if cfg.init_from
                              else ([], False))
    earlier_epochs = len(history)
    if fresh_softmax:
        yield Status(f"{cfg.init_from} holds an encoder alone: a fresh softmax learns on its own for the "
                     f"{cfg.warmup_steps:,} warm-up steps, then the whole model trains")
    encoder = [p for name, p in model.named_parameters() if is_encoder_key(name) and p.requires_grad]
    if state_path.exists():
        saved = torch.load(state_path, map_location=device, weights_only=True)
        if saved["settings"] != settings:
            raise ValueError(f"{state_path} holds a run with other settings or data; delete it (or pass --restart) "
                             "to start afresh")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        step, history, trained_s = saved["step"], saved["history"], saved["trained_s"]
        yield Status(f"resuming from step {step:,} of {total_steps:,} ({state_path})")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    yield LMStarted(str(device), count_parameters(model), len(text.vocab), len(text.train.codes),
                    len(text.val), steps_per_epoch, total_steps, step)

    def save_state() -> None:
        with atomic_file(state_path) as f:
            torch.save({"settings": settings, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "step": step, "history": history,
                        "trained_s": trained_s}, f)

    last_save = time.perf_counter()
    while step < total_steps:
        epoch, first = divmod(step, steps_per_epoch)
        epoch += 1
        rows = [(epoch_rows if epoch == 1 and d == 0 else text.rows(epoch, cfg, d)).to(device)
                for d in range(lm_cfg.num_directions)]
        states: list[Any] = [None] * lm_cfg.num_directions
        model.train()
        epoch_loss, epoch_steps = 0.0, 0
        for i in range(first, steps_per_epoch):
            if stop.is_set():
                save_state()
                yield Finished("stopped", path=str(state_path), elapsed_s=time.perf_counter() - start)
                return
            t0 = time.perf_counter()
            s = i * cfg.bptt
            losses = []
            for d in range(lm_cfg.num_directions):
                y = rows[d][:, s + 1 : s + cfg.bptt + 1]
                x = rows[d][:, s : s + y.size(1)]
                with mixed_precision(device, cfg.precision):
                    loss, states[d] = model(d, x, y, states[d])
                states[d] = _detach(states[d])  # truncated BPTT: the state goes on, its history does not
                losses.append(loss)
            loss = torch.stack(losses).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if fresh_softmax and step < cfg.warmup_steps:
                for p in encoder:  # a random softmax's gradients would only scramble what the encoder knows
                    p.grad = None
            if cfg.clip_grad_norm:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
            optimizer.step()
            scheduler.step()
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(f"the loss became {value} at step {step + 1}; lower the lr")
            dt = time.perf_counter() - t0
            trained_s += dt
            step += 1
            epoch_loss += value
            epoch_steps += 1
            tokens = cfg.batch_size * x.size(1) * lm_cfg.num_directions
            yield LMStep(earlier_epochs + epoch, step, total_steps, value, scheduler.get_last_lr()[0], tokens / dt,
                         time.perf_counter() - start, trained_s / step * (total_steps - step))
            if time.perf_counter() - last_save > cfg.save_every_minutes * 60:
                save_state()
                last_save = time.perf_counter()
        clock = time.perf_counter()
        val = perplexity(model, text.val, device, cfg.precision)
        history.append({"epoch": earlier_epochs + epoch, "step": step, "train_loss": epoch_loss / max(1, epoch_steps),
                        "val_perplexity": val, "trained_s": round(trained_s, 1)})
        save_state()
        yield LMEpochEnd(earlier_epochs + epoch, epoch_loss / max(1, epoch_steps), val, time.perf_counter() - start)
        yield Timing(f"epoch {epoch} validation", time.perf_counter() - clock)
    tokens_per_s = total_steps * cfg.batch_size * cfg.bptt * lm_cfg.num_directions / max(trained_s, 1e-9)
    metrics = {"history": history, "val_perplexity": history[-1]["val_perplexity"] if history else {},
               "train_tokens_per_epoch": min(int(len(text.train.codes) + len(text.train)),
                                             cfg.max_epoch_tokens or 10**12),
               "tokens_per_s": round(tokens_per_s), "trained_s": round(trained_s, 1)}
    if fresh_softmax:  # the epochs before this run's first trained another softmax, not saved
        metrics["softmax_fresh_from_epoch"] = earlier_epochs + 1
    card = {**info, "hardware": hardware_description(device), "torch": torch.__version__,
            "num_parameters": count_parameters(model), "train_reviews": len(text.train),
            "val_reviews": len(corpus.val)}
    path = save_language_model(cfg.output, model, text.vocab, dataclasses.asdict(cfg), metrics, card, corpus.val.ids,
                               cfg.save_dtype)
    state_path.unlink(missing_ok=True)
    yield Finished("finished", path=str(path), elapsed_s=time.perf_counter() - start)


def _continue_from(path: str, model: LanguageModel, vocab: Vocab,
                   held_out: Sequence[str]) -> tuple[list[dict[str, Any]], bool]:
    """Load the weights of the language model at ``path`` into ``model`` after checking it was trained on the
    same text with the same vocabulary and architecture: its epoch history, which the new file carries on, and
    whether the softmax starts fresh (the file holds an encoder alone)."""
    lm = load_language_model(path)
    if lm.vocab.itos != vocab.itos:
        raise ValueError(f"{path} was built on another vocabulary: train it with the same data, split, vocab_size "
                         "and min_freq")
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    if {k: v.shape for k, v in lm.model.state_dict().items()} != shapes or lm.model.cfg.cell != model.cfg.cell:
        raise ValueError(f"{path} has another architecture than this run (cell, sizes or softmax cutoffs)")
    if sorted(lm.held_out_ids) != sorted(held_out):
        raise ValueError(f"{path} held out other reviews than this run's validation slice (another seed or share)")
    weights = lm.model.state_dict()
    if lm.encoder_only:
        weights = {k: v for k, v in weights.items() if is_encoder_key(k)}
    model.load_state_dict(weights, strict=not lm.encoder_only)
    return list(lm.metrics.get("history", [])), lm.encoder_only


def _resume_settings(cfg: PretrainConfig) -> dict[str, Any]:
    """The settings a resumed run must share with the saved one (not where or how often it saves)."""
    values = dataclasses.asdict(cfg)
    for key in ("output", "save_every_minutes", "save_dtype", "device", "cache_dir", "data"):
        values.pop(key)
    return values
