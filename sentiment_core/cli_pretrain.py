"""``python -m sentiment_core pretrain``: the language model a classifier can start from; and
``pseudo-label``: unlabeled reviews labelled by teacher models, for a classifier to train on."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from .checkpoint import load_checkpoint
from .cli_options import ProgressBars, add_config_options, count_type
from .config import MAX_THREADS
from .events import Finished, Progress, Status, Timing
from .lm import LMConfig
from .lm_checkpoint import export_encoder, resume_path
from .pretrain import LMEpochEnd, LMStarted, LMStep, PretrainConfig, pretrain
from .pseudo import MAX_TEACHERS, unlabeled_cache, write_pseudo_labels


def add_pretrain_parser(sub: Any) -> None:
    """The ``pretrain`` subcommand and its options (one per config field)."""
    p = sub.add_parser(
        "pretrain", help="pretrain a recurrent language model on the training and unlabeled reviews",
        description="Pretrain a forward and a backward language model on the IMDB training slice and the 50,000 "
        "unlabeled reviews (never the validation slice or the test split), printing the validation perplexity "
        "after each epoch. A resume state is written every few minutes: the same command started again carries "
        "on from it. Ctrl-C saves it and stops. A classifier starts from the result with "
        "'train --pretrained-lm FILE'.")
    p.add_argument("--name", default="", help="model name kept in the file")
    p.add_argument("--restart", action="store_true", help="discard a resume state left by an earlier run")
    p.add_argument("--overwrite", action="store_true", help="replace a finished language model at --output")
    p.add_argument("--num-threads", type=count_type(MAX_THREADS), default=0,
                   help="CPU threads for torch (0 = torch's default; 1 when another job shares the cores)")
    add_config_options(p, LMConfig, LMConfig())
    add_config_options(p, PretrainConfig, PretrainConfig())
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("lm-encoder", help="write a language model's encoder alone (what fine-tuning reads)",
                       description="Copy the embedding and recurrent weights of a pretrained language model, in "
                       "float16 and without its softmax, to a smaller file a classifier can start from "
                       "(train --pretrained-lm FILE). It cannot score text.")
    p.add_argument("source", help="a language model written by 'pretrain'")
    p.add_argument("target", help="the .safetensors file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing target")
    p.set_defaults(func=cmd_lm_encoder)

    p = sub.add_parser("pseudo-label", help="label IMDB's unlabeled reviews with teacher models (self-training data)",
                       description="Average the class probabilities of one or more teacher classifiers over a "
                       "seeded sample of IMDB's 50,000 unlabeled reviews and write each review's id with them "
                       "(JSON). 'train --pseudo-labels FILE' then also trains on the reviews the teachers are sure "
                       "of, labelled with their answer.")
    p.add_argument("--teacher", action="append", required=True, metavar="CHECKPOINT",
                   help=f"a teacher classifier; repeat for an ensemble (at most {MAX_TEACHERS}, same labels)")
    p.add_argument("--data", default="", help="IMDB archive or folder (default: $SENTIMENT_DATA or the download)")
    p.add_argument("--cache-dir", default="", help="download and token cache folder")
    p.add_argument("--count", type=count_type(10**6), default=10_000,
                   help="how many unlabeled reviews to label, a seeded sample (0 = all 50,000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample")
    p.add_argument("--batch-size", type=count_type(4096), default=64, help="reviews per batch")
    p.add_argument("--num-threads", type=count_type(MAX_THREADS), default=0,
                   help="CPU threads for torch (0 = torch's default)")
    p.add_argument("--output", required=True, help="the .json file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=cmd_pseudo_label)


def _config(cls: type, args: argparse.Namespace) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def cmd_pretrain(args: argparse.Namespace) -> int:
    lm_cfg, cfg = _config(LMConfig, args), _config(PretrainConfig, args)
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    if args.restart:
        resume_path(cfg.output).unlink(missing_ok=True)
    if Path(cfg.output).exists() and not resume_path(cfg.output).exists() and not args.overwrite:
        raise ValueError(f"{cfg.output} exists; pass --overwrite to pretrain again and replace it")
    info = {"name": args.name or cfg.output.rsplit("/", 1)[-1].removesuffix(".safetensors"),
            "command": "python -m sentiment_core " + shlex.join(sys.argv[1:])}
    stop = threading.Event()

    def on_ctrl_c(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        tqdm.write("saving the resume state and stopping (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    bar, final, bars = None, None, ProgressBars()  # bars: the word vectors' passes
    try:
        for event in pretrain(lm_cfg, cfg, stop=stop, info=info):
            if isinstance(event, Finished):
                final = event
            elif isinstance(event, Progress):
                bars(event.stage, event.done, event.total, event.unit)
            elif isinstance(event, (Status, Timing)):
                print(event.message if isinstance(event, Status) else f"{event.phase}: {event.seconds:.1f} s")
            elif isinstance(event, LMStarted):
                print(f"device {event.device}: {event.num_parameters:,} parameters, vocabulary {event.vocab_size:,}, "
                      f"{event.train_tokens:,} training tokens, {event.val_tokens:,} validation tokens, "
                      f"{event.steps_per_epoch:,} steps an epoch")
                bar = tqdm(total=event.total_steps, initial=event.resumed_at, desc="pretrain", unit="step",
                           mininterval=5.0)
            elif isinstance(event, LMStep):
                bar.update(event.step - bar.n)
                bar.set_postfix(epoch=event.epoch, loss=f"{event.loss:.3f}", tok_s=f"{event.tokens_per_s:,.0f}",
                                refresh=False)
            elif isinstance(event, LMEpochEnd):
                ppl = ", ".join(f"{k} {v:.1f}" for k, v in event.val_perplexity.items())
                tqdm.write(f"epoch {event.epoch}: train loss {event.train_loss:.3f}, validation perplexity {ppl} "
                           f"({event.elapsed_s / 60:.1f} min)")
    finally:
        signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()
    if final.status == "failed":
        print(f"pretraining failed: {final.error}", file=sys.stderr)
        return 1
    if final.status == "stopped" and not final.path:
        print("stopped before the first step: nothing was saved", file=sys.stderr)
        return 130
    if final.status == "stopped":
        print(f"stopped; the resume state is in {final.path}: run the same command to carry on", file=sys.stderr)
        return 130
    print(f"finished in {final.elapsed_s / 60:.1f} min: {final.path}")
    return 0


def cmd_lm_encoder(args: argparse.Namespace) -> int:
    target = Path(args.target)
    if not target.name.endswith(".safetensors") or target.name == ".safetensors":
        raise ValueError(f"the target must be a .safetensors file, not {args.target!r}")
    if target.exists() and not args.overwrite:
        raise ValueError(f"{target} exists; pass --overwrite to replace it")
    path = export_encoder(args.source, target)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_pseudo_label(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.suffix != ".json" or output.name == ".json":
        raise ValueError(f"the output must be a .json file, not {args.output!r}")
    if output.exists() and not args.overwrite:
        raise ValueError(f"{output} exists; pass --overwrite to replace it")
    if len(args.teacher) > MAX_TEACHERS:
        raise ValueError(f"{len(args.teacher)} teachers; at most {MAX_TEACHERS}")
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    teachers = [load_checkpoint(path) for path in args.teacher]
    cache = unlabeled_cache(args.data, args.cache_dir, ProgressBars())
    count = write_pseudo_labels(output, teachers, cache, args.count, args.seed, args.batch_size, ProgressBars())
    print(f"wrote {output}: {count:,} unlabeled reviews, labelled by {len(teachers)} teacher"
          f"{'s' if len(teachers) != 1 else ''}")
    return 0
