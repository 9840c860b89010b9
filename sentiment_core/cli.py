"""Command line: ``python -m sentiment_core train | evaluate | predict | card``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from tqdm import tqdm

from . import DEFAULT_CHECKPOINT
from .card import describe_architecture, write_card
from .checkpoint import CheckpointError, load_checkpoint
from .config import PRESETS, ModelConfig, TrainConfig, preset
from .data import DataError, EncodedDataset, load_corpus, make_loader
from .evaluation import evaluate
from .predict import EmptyTextError, Predictor
from .training import CheckpointSaved, EpochEnd, Finished, Started, Status, Step, train


def add_config_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """One --option per config field, typed and documented from the dataclass."""
    group = parser.add_argument_group(cls.__name__)
    defaults = next(c for c in preset("default") if isinstance(c, cls))
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True):
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata.get('help', '')} (default preset: {getattr(defaults, f.name)!r})"
        if isinstance(f.default, bool):
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            group.add_argument(flag, dest=f.name, type=type(f.default), default=None,
                               choices=f.metadata.get("choices"), help=help_text)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    names = {f.name for cls in (ModelConfig, TrainConfig) for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


class _Bars:
    """tqdm bars for the data pipeline's progress(stage, done, total) hook."""

    def __init__(self) -> None:
        self.bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self.bars.get(stage)
        if bar is None:
            unit = "B" if stage == "download" else " reviews"
            bar = self.bars[stage] = tqdm(total=total, desc=stage, unit=unit, unit_scale=stage == "download")
        bar.update(done - bar.n)
        if done >= total:
            bar.close()


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def metrics_table(metrics: dict[str, dict[str, Any]]) -> str:
    """Plain-text table of named metric dicts (validation, test, ...)."""
    rows = [("split", "reviews", "accuracy", "precision", "recall", "F1", "loss")]
    for name, m in metrics.items():
        if m:
            rows.append((name, f"{m['count']:,}", f"{m['accuracy']:.2%}", f"{m['precision']:.2%}",
                         f"{m['recall']:.2%}", f"{m['f1']:.4f}", f"{m['loss']:.4f}"))
    return _table(rows)


def confusion_table(confusion: list[list[int]]) -> str:
    (tn, fp), (fn, tp) = confusion
    return _table([("truth \\ predicted", "negative", "positive"), ("negative", f"{tn:,}", f"{fp:,}"),
                   ("positive", f"{fn:,}", f"{tp:,}")])


def cmd_train(args: argparse.Namespace) -> int:
    model_cfg, train_cfg = preset(args.preset, **_overrides(args))
    print(f"model: {describe_architecture(dataclasses.asdict(model_cfg))}")
    corpus = load_corpus(train_cfg, progress=_Bars())
    info = {"name": args.name or Path(train_cfg.output).stem, "preset": args.preset,
            "command": "python -m sentiment_core " + shlex.join(sys.argv[1:])}
    bar, final = None, None
    stop = threading.Event()

    def on_ctrl_c(signum, frame) -> None:
        # The first Ctrl-C asks the loop to stop at the next batch (keeping the best checkpoint);
        # raising here instead would kill the training generator mid-step and lose the run.
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        tqdm.write("stopping at the next batch; the best checkpoint is kept (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        for event in train(model_cfg, train_cfg, corpus, stop=stop, info=info):
            if isinstance(event, Status):
                print(event.message)
            elif isinstance(event, Started):
                print(f"device {event.device}: {event.num_parameters:,} parameters, vocabulary {event.vocab_size:,}, "
                      f"train/val/test {event.train_size:,}/{event.val_size:,}/{event.test_size:,} reviews")
                bar = tqdm(total=event.total_steps, desc="train", unit="batch")
            elif isinstance(event, Step):
                bar.update(event.step - bar.n)
                bar.set_postfix(epoch=event.epoch, loss=f"{event.loss:.3f}", tok_s=f"{event.tokens_per_s:,.0f}")
            elif isinstance(event, EpochEnd):
                tqdm.write(f"epoch {event.epoch}: train loss {event.train_loss:.4f}, val loss {event.val['loss']:.4f}, "
                           f"val accuracy {event.val['accuracy']:.2%}{' (best)' if event.improved else ''}")
            elif isinstance(event, CheckpointSaved):
                tqdm.write(f"saved {event.path} (epoch {event.epoch})")
            elif isinstance(event, Finished):
                final = event
    finally:
        signal.signal(signal.SIGINT, previous)
    if bar is not None:
        bar.close()
    if final.status == "failed":
        print(f"training failed: {final.error}", file=sys.stderr)
        return 1
    card = write_card(final.path)
    print(f"\n{final.status} in {final.elapsed_s / 60:.1f} min; checkpoint {final.path}, card {card}\n")
    print(metrics_table({"validation": final.val, "test": final.test}))
    if final.test:
        print("\ntest confusion matrix\n" + confusion_table(final.test["confusion"]))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    # Rebuild the run's split (same seed and validation share) on the data given here; the
    # training reviews aren't scored, so a one-review slice of them is enough.
    base = ckpt.train_config or TrainConfig()
    cfg = dataclasses.replace(base, data=args.data or "", cache_dir=args.cache_dir or "",
                              max_train_samples=1, max_eval_samples=args.max_samples)
    corpus = load_corpus(cfg, progress=_Bars())
    reviews = corpus.test if args.split == "test" else corpus.val
    loader = make_loader(EncodedDataset(reviews, ckpt.vocab, base.max_tokens), args.batch_size, shuffle=False)
    metrics = evaluate(ckpt.model, tqdm(loader, desc=f"evaluate {args.split}", unit="batch"))
    if args.json:
        print(json.dumps(metrics.to_dict()))
        return 0
    print(f"\n{args.checkpoint}: {describe_architecture(dataclasses.asdict(ckpt.model_config))}\n")
    print(metrics_table({args.split: metrics.to_dict()}))
    print("\nconfusion matrix\n" + confusion_table(metrics.confusion))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    predictor = Predictor.from_checkpoint(args.checkpoint, max_tokens=args.max_tokens)
    texts = list(args.text)
    if args.file == "-":
        texts += [line.rstrip("\n") for line in sys.stdin if line.strip()]
    elif args.file:
        with open(args.file, encoding="utf-8", errors="replace") as source:
            texts += [line.rstrip("\n") for line in source if line.strip()]
    if not texts:
        print("nothing to classify: give a text, or --file FILE (one review per line, - for stdin)", file=sys.stderr)
        return 2
    results = predictor.predict_batch(texts)
    for text, probs in zip(texts, results):
        label = max(probs, key=probs.get)
        if args.json:
            print(json.dumps({"text": text, "label": label, **probs}))
        else:
            snippet = text if len(text) <= 60 else text[:57] + "..."
            print(f"{label:8s} {probs[label]:6.1%}  {snippet}")
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    print(f"wrote {write_card(args.checkpoint)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sentiment_core", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model and save its best checkpoint",
                       description="Train a recurrent sentiment model on IMDB. "
                       "Ctrl-C stops at the next batch and keeps the best checkpoint.")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS), help="starting configuration")
    p.add_argument("--name", default="", help="model name shown in the card and the app")
    add_config_options(p, ModelConfig)
    add_config_options(p, TrainConfig)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="metrics of a checkpoint on the test or validation split")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint file")
    p.add_argument("--data", default="", help="IMDB archive or folder (default: $SENTIMENT_DATA or the download)")
    p.add_argument("--cache-dir", default="", help="download and token cache folder")
    p.add_argument("--split", default="test", choices=("test", "val"), help="which split to score")
    p.add_argument("--max-samples", type=int, default=0, help="stratified slice of the split (0 = all)")
    p.add_argument("--batch-size", type=int, default=128, help="reviews per batch")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify texts given as arguments or in a file")
    p.add_argument("text", nargs="*", help="review texts")
    p.add_argument("--file", help="a file with one review per line (- for stdin)")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint file")
    p.add_argument("--max-tokens", type=int, default=0, help="token limit per review (default: the model's)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("card", help="(re)write the markdown model card next to a checkpoint")
    p.add_argument("checkpoint", help="checkpoint file")
    p.set_defaults(func=cmd_card)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (CheckpointError, DataError, EmptyTextError, ValueError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
