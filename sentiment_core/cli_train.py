"""``python -m sentiment_core train``: train a classifier, printing its progress and results."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import signal
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from . import distributed
from .card import describe_architecture, write_card
from .cli_options import REPLACED_NOTE, ProgressBars, add_config_options, config_overrides, repair_utf8
from .config import PRESETS, ModelConfig, TrainConfig, preset
from .data import check_data_options, is_table, load_corpus
from .data.source import no_progress
from .fit import fit_to_file, majority_note
from .report import class_table, confusion_table, metrics_table, timings_table
from .training import CheckpointSaved, EpochEnd, Finished, Progress, Started, Status, Step, Timing, preflight, train


def add_train_parser(sub: Any) -> None:
    """The ``train`` subcommand and its options (one per config field)."""
    p = sub.add_parser("train", help="train a model and save its best checkpoint",
                       description="Train a recurrent text classifier on IMDB (polarity or star-rating bins) or "
                       "on your own labelled .csv, .tsv, .jsonl or .parquet file (--data). Under torchrun, every "
                       "process trains on its share of each batch (--batch-size is per process) and rank 0 saves. "
                       "Ctrl-C stops at the next batch and keeps the best checkpoint.")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS), help="starting configuration")
    p.add_argument("--name", default="", help="model name shown in the card and the app")
    p.add_argument("--events", default="", metavar="FILE",
                   help="also write every progress event (steps, epochs, checkpoints) to FILE, one JSON object a line")
    add_config_options(p, ModelConfig)
    add_config_options(p, TrainConfig)
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    model_cfg, train_cfg = preset(args.preset, **config_overrides(args))
    check_data_options(train_cfg)
    if train_cfg.num_threads:  # the command's process, not the library, sets torch's thread count
        torch.set_num_threads(train_cfg.num_threads)
    # Under torchrun (WORLD_SIZE > 1) every process runs this command; rank 0 alone prints and saves.
    dist = distributed.from_env(train_cfg.device) if distributed.launched() else None
    try:
        code = _train(args, model_cfg, train_cfg, dist)
        if dist is not None and code != 1:  # a failed process is ended by torchrun with the others
            dist.barrier()  # rank 0 may still be writing the card: leave together
        return code
    finally:
        distributed.shutdown()


def _quiet(*args: Any, **kwargs: Any) -> None:
    pass


def _train(args: argparse.Namespace, model_cfg: ModelConfig, train_cfg: TrainConfig,
           dist: distributed.Distributed | None) -> int:
    main = dist is None or dist.is_main
    say, write = (print, tqdm.write) if main else (_quiet, _quiet)
    # An existing output or a full disk fails now, not after the data; several processes all stop.
    check = (lambda: preflight(model_cfg, train_cfg)) if main else (lambda: None)
    dist.first(check) if dist else check()
    name, bad_name = repair_utf8(args.name or Path(train_cfg.output).stem)
    command, bad_command = repair_utf8("python -m sentiment_core " + shlex.join(sys.argv[1:]))
    if bad_name or bad_command:
        say(REPLACED_NOTE.format(what="the arguments"), file=sys.stderr)
    say(f"model: {describe_architecture(dataclasses.asdict(model_cfg))}")
    load = lambda: load_corpus(train_cfg, progress=ProgressBars() if main else no_progress)  # noqa: E731
    # Local rank 0 of each machine tokenizes and fills the token cache; the others then read it.
    corpus = dist.first(load) if dist else load()
    if is_table(train_cfg.data):  # the preset scaled to the file's size; options given stay as given
        counts = Counter(corpus.classes[c] for part in (corpus.train, corpus.val, corpus.test) for c in part.labels)
        model_cfg, train_cfg, changes = fit_to_file(model_cfg, train_cfg, dict(counts), set(config_overrides(args)))
        if changes:
            say("fitted to the file: " + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in changes.items()))
    if dist:
        command = f"{command} (under torchrun, {dist.world_size} processes)"
    info = {"name": name, "preset": args.preset, "command": command}
    bar, final, started, timings = None, None, None, []
    bars = ProgressBars()  # the word vectors' passes
    stop = threading.Event()

    def on_ctrl_c(signum, frame) -> None:
        # The first Ctrl-C asks the loop to stop at the next batch (keeping the best checkpoint);
        # raising here instead would kill the training generator mid-step and lose the run.
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        write("stopping at the next batch; the best checkpoint is kept (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    events = open(args.events, "w", encoding="utf-8") if args.events and main else None  # noqa: SIM115
    try:
        for event in train(model_cfg, train_cfg, corpus, stop=stop, info=info, dist=dist):
            if events is not None:
                events.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
                events.flush()
            if isinstance(event, Finished):
                final = event
            elif not main:
                continue
            elif isinstance(event, Progress):
                bars(event.stage, event.done, event.total, event.unit)
            elif isinstance(event, Status):
                print(event.message)
            elif isinstance(event, Started):
                started = event
                where = f" ({event.processes} processes, one each)" if event.processes > 1 else ""
                print(f"device {event.device}{where}: {event.num_parameters:,} parameters, "
                      f"vocabulary {event.vocab_size:,}, "
                      f"{len(event.classes)} classes ({', '.join(event.classes)}), "
                      f"train/val/test {event.train_size:,}/{event.val_size:,}/{event.test_size:,} reviews")
                bar = tqdm(total=event.total_steps, desc="train", unit="batch")
            elif isinstance(event, Step):
                bar.update(event.step - bar.n)
                bar.set_postfix(epoch=event.epoch, loss=f"{event.loss:.3f}", tok_s=f"{event.tokens_per_s:,.0f}")
            elif isinstance(event, EpochEnd):
                tqdm.write(f"epoch {event.epoch}: train loss {event.train_loss:.4f}, val loss {event.val['loss']:.4f}, "
                           f"val accuracy {event.val['accuracy']:.2%}, macro-F1 {event.val['macro_f1']:.4f}"
                           f"{' (best)' if event.improved else ''}")
            elif isinstance(event, CheckpointSaved):
                tqdm.write(f"saved {repair_utf8(event.path)[0]} (epoch {event.epoch})")
            elif isinstance(event, Timing):
                timings.append(event.to_dict())
    finally:
        signal.signal(signal.SIGINT, previous)
        if events is not None:
            events.close()
    if bar is not None:
        bar.close()
    if final.status == "failed":
        print(f"training failed{f' (process {dist.rank})' if dist else ''}: {final.error}", file=sys.stderr)
        return 1
    if not main:
        return 0
    if not final.path:
        print("stopped before training began; no checkpoint was written", file=sys.stderr)
        return 130
    card = write_card(final.path, overwrite=train_cfg.overwrite)
    print(f"\n{final.status} in {final.elapsed_s / 60:.1f} min; checkpoint {repair_utf8(final.path)[0]}, "
          f"card {repair_utf8(str(card))[0]}\n")
    print(metrics_table({"validation": final.val, "test": final.test}, style="text"))
    if note := majority_note(final.val):
        print(f"\nwarning: {note}")
    classes = started.classes if started else None
    if final.test:
        print("\ntest confusion matrix\n" + confusion_table(final.test["confusion"], style="text", labels=classes))
        if classes and len(classes) > 2:
            print("\ntest, per class\n" + class_table(final.test, classes, style="text"))
    if timings:
        print("\nwhere the time went\n" + timings_table(timings, style="text"))
    return 0
