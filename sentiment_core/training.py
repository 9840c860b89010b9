"""The one training loop: an iterator of progress events that the CLI and the app both drive.

    for event in train(model_cfg, train_cfg, corpus, stop=stop_flag):
        ...  # [Status], Started, Step..., EpochEnd, CheckpointSaved, ..., Finished

A set ``stop`` flag ends the run at the next batch; the best checkpoint so far is kept (and if
no epoch has finished yet, the current weights are validated and saved). A stop before the
first training step (while the data, vocabulary or word vectors are prepared) saves nothing
and ends with ``Finished(status="stopped", path="")``: an untrained model never becomes
selectable. Errors, out-of-memory included, end the run with a ``Finished(status="failed")``
event rather than an exception, so a front-end stays usable.

Any number of classes: two share one logit and the binary cross-entropy, more get a logit each
and the cross-entropy (``evaluation.loss_function``); the corpus names the classes and the
checkpoint keeps the names. Several processes (``dist``, under torchrun): each trains on its
share of every batch in DistributedDataParallel, losses and validation sums are added up over
them, and only rank 0 saves (see ``distributed.py``).
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections.abc import Generator, Iterator
from typing import Any

import torch
from torch import nn

from .adversarial import doubled_batch, perturbation
from .card import check_card_target
from .checkpoint import check_output, estimate_checkpoint_bytes
from .config import ModelConfig, TrainConfig
from .data import Corpus, load_corpus
from .distributed import Distributed
from .evaluation import loss_function, targets
from .events import CheckpointSaved, EpochEnd, Event, Finished, Progress, Started, Status, Step, Timing
from .finetune import unfreeze
from .training_run import Best, Run, finish, setup
from .utils import mixed_precision

__all__ = ["CheckpointSaved", "EpochEnd", "Event", "Finished", "Progress", "Started", "Status", "Step", "Timing",
           "preflight", "train"]

log = logging.getLogger(__name__)
ROOM_FACTOR = 4  # free space wanted, in estimated checkpoint sizes: the file, its temp copy, and slack


def preflight(model_cfg: ModelConfig, cfg: TrainConfig) -> None:
    """Fail before any data is read if the run could not save: the checkpoint exists (unless
    ``cfg.overwrite``), its card would replace a file that isn't a card, the folder isn't
    writable or lacks room."""
    needed = ROOM_FACTOR * estimate_checkpoint_bytes(model_cfg, cfg.vocab_size, cfg.save_dtype)
    check_output(cfg.output, cfg.overwrite, needed)
    check_card_target(cfg.output, cfg.overwrite)


def train(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    corpus: Corpus | None = None,
    stop: threading.Event | None = None,
    info: dict[str, Any] | None = None,
    dist: Distributed | None = None,
) -> Iterator[Event]:
    """Train a model as configured, yielding progress events; see the module docstring.

    ``dist``: this process's place in a multi-process run (``distributed.from_env``); every
    process calls ``train`` with the same settings and corpus, and only rank 0 saves.
    """
    start = time.perf_counter()
    stop = stop or threading.Event()
    saved = ""  # the best checkpoint written so far: a failure later in the run keeps it
    try:
        if dist is None or dist.is_main:
            preflight(model_cfg, cfg)
        if stop.is_set() and dist is None:  # several processes agree on a stop in setup
            yield Finished("stopped", elapsed_s=time.perf_counter() - start)
            return
        for event in _train(model_cfg, cfg, corpus or load_corpus(cfg), stop, info or {}, start, dist):
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
           info: dict[str, Any], start: float, dist: Distributed | None) -> Iterator[Event]:
    run = yield from setup(model_cfg, cfg, corpus, stop, info, start, dist)
    if run is None:
        yield Finished("stopped", elapsed_s=time.perf_counter() - start)
        return
    cfg = run.cfg  # fitted to the data when the preset asks (fit_steps)
    best: Best | None = None
    status, epochs_without_gain = "finished", 0
    for epoch in range(1, cfg.epochs + 1):
        epoch_start = time.perf_counter()
        train_loss, stopped = yield from _train_epoch(run, epoch, stop)
        if stopped:
            status = "stopped"
            if run.step == 0:  # not one step taken: nothing worth saving
                yield Finished("stopped", elapsed_s=run.elapsed())
                return
            if best:
                break
        # Validate after each epoch, and once more when stopped before any epoch finished.
        val = run.evaluate(run.val_loader)
        improved = best is None or (val.accuracy, -val.loss) > (best.val.accuracy, -best.val.loss)
        row = {"epoch": epoch, "step": run.step, "train_loss": train_loss, "val_loss": val.loss,
               "val_accuracy": val.accuracy}
        run.history.append(row)
        yield EpochEnd(epoch, run.step, train_loss, val.to_dict(), improved, run.elapsed(), dict(row))
        # An epoch's time includes its validation.
        yield Timing(f"epoch {epoch}", time.perf_counter() - epoch_start, "stopped part-way" if stopped else "")
        if improved:
            best = Best(epoch, val, copy.deepcopy(run.model.state_dict()))
            epochs_without_gain = 0
            if run.is_main:
                yield CheckpointSaved(run.save(val, epoch), epoch, val.accuracy)
        else:
            epochs_without_gain += 1
        if stopped:
            break
        if cfg.patience and epochs_without_gain >= cfg.patience:
            log.info("no validation gain for %d epochs: stopping early", cfg.patience)
            break
    yield from finish(run, best, status)


def _train_epoch(run: Run, epoch: int, stop: threading.Event) -> Generator[Event, None, tuple[float, bool]]:
    """One pass over the training batches, a Step event each; (mean loss, whether stopped)."""
    cfg, model, device = run.cfg, run.trainer, run.device
    num_classes = run.model.cfg.num_classes
    loss_fn = loss_function(num_classes)
    model.train()
    run.train_loader.batch_sampler.set_epoch(epoch)
    epoch_loss, epoch_batches = 0.0, 0
    for tokens, lengths, labels in run.train_loader:
        if run.stopping(stop):
            return epoch_loss / max(1, epoch_batches), True
        t0 = time.perf_counter()
        if cfg.unfreeze_steps:
            unfreeze(run.model, run.step, cfg.unfreeze_steps)
        if run.swaps is not None:
            tokens = run.swaps(tokens)
        if run.unpunctuate is not None:
            tokens, lengths = run.unpunctuate(tokens, lengths)
        real_tokens = int(lengths.sum())  # counted on the host: no device sync
        tokens, lengths, labels = (t.to(device, non_blocking=True) for t in (tokens, lengths, labels))
        with mixed_precision(device, cfg.precision):
            if cfg.adversarial:
                delta = perturbation(run.model, tokens, lengths, targets(labels, num_classes), loss_fn,
                                     cfg.adversarial, run.packed)
                tokens, lengths, labels, delta = doubled_batch(tokens, lengths, labels, delta)
                logits = model(tokens, lengths, packed=run.packed, perturb=delta)
            else:
                logits = model(tokens, lengths, packed=run.packed)
        loss = loss_fn(logits.float(), targets(labels, num_classes))
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # several processes: DDP averages the gradients over them here
        if cfg.clip_grad_norm:
            # RNN gradients can explode over long reviews; clipping keeps one bad batch from derailing Adam.
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
        run.optimizer.step()
        if run.tie is not None:
            run.tie(run.model.embedding.weight)
        run.scheduler.step()
        if run.dist:  # the mean loss and all tokens over the processes (equal batches: the global batch's loss)
            summed = run.dist.sum(torch.stack([loss.detach().double(), loss.new_tensor(real_tokens).double()]))
            loss_value, real_tokens = summed[0].item() / run.dist.world_size, int(summed[1].item())
        else:
            loss_value = loss.item()  # also waits for the device, so the timing below is real
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"training loss became {loss_value} at step {run.step + 1}; lower the lr")
        dt_step = time.perf_counter() - t0
        run.train_time += dt_step
        run.step += 1
        epoch_loss += loss_value
        epoch_batches += 1
        yield Step(epoch, run.step, run.total_steps, loss_value, run.scheduler.get_last_lr()[-1],  # the head's
                   real_tokens / dt_step, run.elapsed(),
                   run.train_time / run.step * (run.total_steps - run.step))
    return epoch_loss / max(1, epoch_batches), False


