"""Command line: ``python -m sentiment_core train | evaluate | errors | predict | card | pretrain | behaviour``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from . import DEFAULT_CHECKPOINT, distributed, markdown
from .behaviour import HALVES, MAX_CASES, render_markdown, run_suite
from .calibration import run_behaviour
from .card import describe_architecture, write_card
from .checkpoint import CheckpointError, load_checkpoint, read_metadata, update_checkpoint
from .cli_pretrain import add_pretrain_parser
from .config import MAX_SAMPLES, PRESETS, ModelConfig, TrainConfig, check_value, preset
from .data import DataError, EncodedDataset, check_data_options, load_corpus, make_loader
from .data.source import no_progress
from .evaluation import EVAL_SPLITS, evaluate, load_split, split_config
from .mistakes import error_table
from .predict import EmptyTextError, Predictor
from .report import class_table, confusion_table, errors_table, metrics_table, timings_table
from .tokenizer import has_words
from .training import CheckpointSaved, EpochEnd, Finished, Started, Status, Step, Timing, preflight, train

REPLACED_NOTE = "note: some characters of {what} were not valid UTF-8 and were replaced with U+FFFD"


def _field(cls: type, name: str) -> dataclasses.Field:
    """The field ``name`` of config dataclass ``cls``."""
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def option_type(f: dataclasses.Field) -> Callable[[str], Any]:
    """An argparse ``type`` that parses a number and checks it against the field's bounds, so a
    bad value is a one-line usage error naming the option, before anything runs."""
    kind = type(f.default)

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'a whole number' if kind is int else 'a number'}, not {text!r}") from None
        try:
            return check_value(f, value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = kind.__name__  # what argparse names in its messages
    return parse


def count_type(maximum: int) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number from 0 to ``maximum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
        if not 0 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from 0 to {maximum:,}, not {value}")
        return value

    parse.__name__ = "int"
    return parse


def add_config_options(parser: argparse.ArgumentParser, cls: type, defaults: Any = None) -> None:
    """One --option per config field, typed, bounded and documented from the dataclass; the help
    names ``defaults``' value (by default the default preset's)."""
    group = parser.add_argument_group(cls.__name__)
    if defaults is None:
        defaults = next(c for c in preset("default") if isinstance(c, cls))
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True):
            continue
        flag = "--" + f.name.replace("_", "-")
        origin = "default preset: " if isinstance(defaults, (ModelConfig, TrainConfig)) else "default: "
        help_text = f"{f.metadata.get('help', '')} ({origin}{getattr(defaults, f.name)!r})"
        if isinstance(f.default, bool):
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif isinstance(f.default, (int, float)):
            group.add_argument(flag, dest=f.name, type=option_type(f), default=None, help=help_text)
        else:
            group.add_argument(flag, dest=f.name, default=None, choices=f.metadata.get("choices"), help=help_text)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    names = {f.name for cls in (ModelConfig, TrainConfig) for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def repair_utf8(text: str) -> tuple[str, bool]:
    """``text`` as valid Unicode, and whether anything was replaced: Python reads undecodable
    bytes in arguments as lone surrogates, which can't be printed or saved; they become U+FFFD."""
    try:
        text.encode("utf-8")
        return text, False
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")  # the original bytes
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace"), True


def read_lines(raw: bytes, what: str) -> list[str]:
    """Lines of ``raw`` with words in them (not blank, not only ``<br />``), decoded as UTF-8, bad
    bytes replaced (with a note on stderr)."""
    text = raw.decode("utf-8", "replace")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        print(REPLACED_NOTE.format(what=what), file=sys.stderr)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line for line in lines if has_words(line)]


class _Bars:
    """tqdm bars for the data pipeline's progress(stage, done, total) hook."""

    def __init__(self) -> None:
        self.bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self.bars.get(stage)
        if bar is None:
            unit = "B" if stage in ("download", "read") else " reviews"
            bar = self.bars[stage] = tqdm(total=total, desc=stage, unit=unit, unit_scale=unit == "B")
        bar.update(done - bar.n)
        if done >= total:
            bar.close()


def cmd_train(args: argparse.Namespace) -> int:
    model_cfg, train_cfg = preset(args.preset, **_overrides(args))
    check_data_options(train_cfg)
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
    load = lambda: load_corpus(train_cfg, progress=_Bars() if main else no_progress)  # noqa: E731
    # Local rank 0 of each machine tokenizes and fills the token cache; the others then read it.
    corpus = dist.first(load) if dist else load()
    if dist:
        command = f"{command} (under torchrun, {dist.world_size} processes)"
    info = {"name": name, "preset": args.preset, "command": command}
    bar, final, started, timings = None, None, None, []
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
    classes = started.classes if started else None
    if final.test:
        print("\ntest confusion matrix\n" + confusion_table(final.test["confusion"], style="text", labels=classes))
        if classes and len(classes) > 2:
            print("\ntest, per class\n" + class_table(final.test, classes, style="text"))
    if timings:
        print("\nwhere the time went\n" + timings_table(timings, style="text"))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    # Rebuild the run's split (same seed and validation share) on the data given here, reading
    # only the split scored: not the training reviews, nor the unlabeled ones of its word vectors.
    cfg = split_config(ckpt.train_config, args.data, args.cache_dir, args.max_samples)
    reviews = load_split(cfg, args.split, progress=_Bars(), classes=ckpt.labels)
    loader = make_loader(EncodedDataset(reviews, ckpt.vocab, cfg.max_tokens), args.batch_size, shuffle=False)
    metrics = evaluate(ckpt.model, tqdm(loader, desc=f"evaluate {args.split}", unit="batch"))
    if args.json:
        print(json.dumps({"labels": ckpt.labels, **metrics.to_dict()}, ensure_ascii=False))
        return 0
    print(f"\n{repair_utf8(args.checkpoint)[0]}: {describe_architecture(dataclasses.asdict(ckpt.model_config))}\n")
    print(metrics_table({args.split: metrics.to_dict()}, style="text"))
    print("\nconfusion matrix\n" + confusion_table(metrics.confusion, style="text", labels=ckpt.labels))
    if len(ckpt.labels) > 2:
        print("\nper class\n" + class_table(metrics.to_dict(), ckpt.labels, style="text"))
    return 0


def cmd_errors(args: argparse.Namespace) -> int:
    if args.max_length and args.min_length > args.max_length:
        print(f"error: --min-length {args.min_length} is above --max-length {args.max_length}", file=sys.stderr)
        return 2
    labels = read_metadata(args.checkpoint)["labels"]
    if args.label is not None and args.label not in labels:
        print(f"error: --label {repair_utf8(args.label)[0]!r} is not a label of {repair_utf8(args.checkpoint)[0]} "
              f"({', '.join(labels)})", file=sys.stderr)
        return 2
    table = error_table(args.checkpoint, args.split, data=args.data, cache_dir=args.cache_dir,
                        max_samples=args.max_samples, batch_size=args.batch_size, progress=_Bars())
    rows = table.select(label=args.label, min_tokens=args.min_length, max_tokens=args.max_length,
                        least_confident=args.least_confident, top=args.top)
    if args.json:
        for row in rows:
            print(json.dumps(dataclasses.asdict(row), ensure_ascii=False))
        return 0
    metrics = table.metrics
    which = "least" if args.least_confident else "most"
    shown = f"the {len(rows):,} {which} confident" if args.top else f"all {len(rows):,}, {which} confident first"
    filters = [f"true label {args.label}"] if args.label else []
    if args.min_length or args.max_length:
        filters.append(f"{args.min_length:,} to {f'{args.max_length:,}' if args.max_length else 'any'} tokens")
    print(f"\n{repair_utf8(args.checkpoint)[0]} on {args.split}: {len(table.rows):,} errors in {metrics.count:,} "
          f"reviews (accuracy {metrics.accuracy:.2%}); {shown}{' with ' + ', '.join(filters) if filters else ''}:\n")
    print(errors_table(rows, style="text") if rows else "(none)")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    predictor = Predictor.from_checkpoint(args.checkpoint, max_tokens=args.max_tokens)
    cleaned = [repair_utf8(text) for text in args.text]
    if any(bad for _, bad in cleaned):
        print(REPLACED_NOTE.format(what="the arguments"), file=sys.stderr)
    texts = [text for text, _ in cleaned]
    if args.file == "-":
        stdin = getattr(sys.stdin, "buffer", None)  # bytes: a bad byte is replaced, not a UnicodeDecodeError
        texts += read_lines(stdin.read() if stdin else repair_utf8(sys.stdin.read())[0].encode(), "stdin")
    elif args.file:
        texts += read_lines(Path(args.file).read_bytes(), args.file)
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
    if args.seeds:
        update_checkpoint(args.checkpoint, {"seeds": seed_record(args.checkpoint, args.seeds)})
    print(f"wrote {repair_utf8(str(write_card(args.checkpoint, overwrite=args.overwrite)))[0]}")
    return 0


# Settings that may differ between seeds of one recipe.
_PER_SEED = ("init_seed", "output", "overwrite", "num_threads", "device")


def seed_record(path: str, others: list[str]) -> list[dict[str, Any]]:
    """Validation and test accuracy (and held-out behaviour) of the checkpoint at ``path`` and of
    ``others``, which must be the same recipe with another ``init_seed``."""
    def recipe(meta: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in (meta["train_config"] or {}).items() if k not in _PER_SEED}

    mine = read_metadata(path)
    rows = []
    for other in [path, *others]:
        meta = read_metadata(other)
        if recipe(meta) != recipe(mine) or meta["model_config"] != mine["model_config"]:
            raise ValueError(f"{other} is not the recipe of {path} with another seed")
        metrics = meta["metrics"]
        if "test" not in metrics:
            raise ValueError(f"{other} has no test figures (a run that stopped early)")
        rows.append({"init_seed": meta["train_config"]["init_seed"], "this": other == path,
                     "val": metrics["val"]["accuracy"], "test": metrics["test"]["accuracy"],
                     "heldout": (metrics.get("behaviour") or {}).get("heldout", {}).get("summary", {})})
    return rows


def cmd_behaviour(args: argparse.Namespace) -> int:
    predictor = Predictor.from_checkpoint(args.checkpoint)
    if args.record:
        # What training records for a polarity model, for a checkpoint trained before the suite existed.
        behaviour, short = run_behaviour(predictor.predict_batch, predictor.labels)
        calibration = {**(predictor.checkpoint.metrics.get("calibration") or {}), **short}
        update_checkpoint(args.checkpoint, {"behaviour": behaviour, "calibration": calibration})
        print(f"recorded both halves in {repair_utf8(args.checkpoint)[0]}; "
              f"'python -m sentiment_core card {repair_utf8(args.checkpoint)[0]}' writes its card")
    halves = HALVES if args.half == "both" else (args.half,)
    results = [run_suite(predictor.predict_batch, predictor.labels, half, max_examples=args.failures)
               for half in halves]
    if args.json:
        print(json.dumps({result.half: result.to_dict() for result in results}, ensure_ascii=False))
        return 0
    print(f"Checkpoint {markdown.code(repair_utf8(args.checkpoint)[0])}\n")
    print("\n\n".join(map(render_markdown, results)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sentiment_core", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

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

    p = sub.add_parser("evaluate", help="metrics of a checkpoint on the test or validation split")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint file")
    p.add_argument("--data", default="", help="IMDB archive or folder, or a labelled file (default: the "
                   "checkpoint's labelled file if it was trained on one, else $SENTIMENT_DATA or the download)")
    p.add_argument("--cache-dir", default="", help="download and token cache folder")
    p.add_argument("--split", default="test", choices=EVAL_SPLITS, help="which split to score")
    p.add_argument("--max-samples", type=option_type(_field(TrainConfig, "max_eval_samples")), default=0,
                   help="stratified slice of the split (0 = all)")
    p.add_argument("--batch-size", type=option_type(_field(TrainConfig, "batch_size")), default=128,
                   help="reviews per batch")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("errors", help="the reviews a checkpoint gets wrong, most confident first",
                       description="List the validation or test reviews a checkpoint misclassifies, most "
                       "confident mistakes first. The table is cached per checkpoint content and split.")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint file")
    p.add_argument("--data", default="", help="IMDB archive or folder, or a labelled file (default: the "
                   "checkpoint's labelled file if it was trained on one, else $SENTIMENT_DATA or the download)")
    p.add_argument("--cache-dir", default="", help="download, token and errors cache folder")
    p.add_argument("--split", default="test", choices=EVAL_SPLITS,
                   help="test, or val: the validation reviews the checkpoint was trained with")
    p.add_argument("--max-samples", type=option_type(_field(TrainConfig, "max_eval_samples")), default=0,
                   help="stratified slice of the split (0 = all)")
    p.add_argument("--batch-size", type=option_type(_field(TrainConfig, "batch_size")), default=128,
                   help="reviews per batch")
    p.add_argument("--top", type=count_type(MAX_SAMPLES), default=20, help="show this many (0 = all)")
    p.add_argument("--label", help="only reviews whose true label is this (one of the checkpoint's labels)")
    p.add_argument("--min-length", type=count_type(MAX_SAMPLES), default=0,
                   help="only reviews of at least this many tokens")
    p.add_argument("--max-length", type=count_type(MAX_SAMPLES), default=0,
                   help="only reviews of at most this many tokens (0 = no limit)")
    p.add_argument("--least-confident", action="store_true", help="the least confident mistakes first")
    p.add_argument("--json", action="store_true", help="one JSON object per review, with its full text")
    p.set_defaults(func=cmd_errors)

    p = sub.add_parser("predict", help="classify texts given as arguments or in a file")
    p.add_argument("text", nargs="*", help="review texts")
    p.add_argument("--file", help="a file with one review per line (- for stdin)")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint file")
    p.add_argument("--max-tokens", type=option_type(_field(TrainConfig, "max_tokens")), default=0,
                   help="token limit per review (default: the model's)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("card", help="(re)write the markdown model card next to a checkpoint")
    p.add_argument("checkpoint", help="checkpoint file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing .md even if it is not a model card")
    p.add_argument("--seeds", nargs="+", metavar="CHECKPOINT", default=[],
                   help="checkpoints of the same recipe with other --init-seed values: their validation and test "
                   "accuracy go into the checkpoint, for the card's mean and spread")
    p.set_defaults(func=cmd_card)

    p = sub.add_parser("behaviour", help="behavioural tests (negation, contrast, invariance, ...) of a checkpoint",
                       description="Run the project's CheckList-style behavioural suite on a checkpoint whose labels "
                       "are negative and positive, and print a Markdown report (or JSON). Look at the dev half while "
                       "improving a model; report the held-out half.")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint file")
    p.add_argument("--half", default="dev", choices=[*HALVES, "both"], help="which half of the suite to run")
    p.add_argument("--failures", type=count_type(MAX_CASES), default=3, help="failing examples shown per test")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object keyed by half")
    p.add_argument("--record", action="store_true", help="also store both halves' results (and the calibration on the "
                   "suite's short sentences) in the checkpoint, for its card: what training does for a new model")
    p.set_defaults(func=cmd_behaviour)

    add_pretrain_parser(sub)
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
        print(f"error: {repair_utf8(str(exc))[0]}", file=sys.stderr)
        return 1
