"""The commands over trained checkpoints: ``evaluate``, ``errors``, ``predict``, ``card``, ``behaviour``, ``soup``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from . import DEFAULT_CHECKPOINT, markdown
from .behaviour import (
    EXPECTATIONS,
    HALVES,
    MAX_CASES,
    MAX_FILLS,
    TemplateError,
    default_lexicons,
    render_markdown,
    run_suite,
    run_template,
    template_test,
)
from .calibration import run_behaviour
from .card import describe_architecture, write_card
from .checkpoint import load_checkpoint, read_metadata, save_checkpoint, update_checkpoint
from .checkpoint_header import stage_commands
from .cli_options import REPLACED_NOTE, ProgressBars, count_type, field_of, option_type, read_lines, repair_utf8
from .config import MAX_SAMPLES, MAX_THREADS, TrainConfig
from .data import EncodedDataset, make_loader
from .evaluation import EVAL_SPLITS, evaluate, load_split, split_config
from .mistakes import error_table
from .predict import Predictor
from .report import class_table, confusion_table, errors_table, metrics_table
from .soup import MAX_MEMBERS, make_soup
from .training import preflight


def add_checkpoint_parsers(sub: Any) -> None:
    """The ``evaluate``, ``errors``, ``predict``, ``card``, ``behaviour`` and ``soup`` subcommands."""
    p = sub.add_parser("evaluate", help="metrics of a checkpoint on the test or validation split")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint file")
    p.add_argument("--data", default="", help="IMDB archive or folder, or a labelled file (default: the "
                   "checkpoint's labelled file if it was trained on one, else $SENTIMENT_DATA or the download)")
    p.add_argument("--cache-dir", default="", help="download and token cache folder")
    p.add_argument("--split", default="test", choices=EVAL_SPLITS, help="which split to score")
    p.add_argument("--max-samples", type=option_type(field_of(TrainConfig, "max_eval_samples")), default=0,
                   help="stratified slice of the split (0 = all)")
    p.add_argument("--batch-size", type=option_type(field_of(TrainConfig, "batch_size")), default=128,
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
    p.add_argument("--max-samples", type=option_type(field_of(TrainConfig, "max_eval_samples")), default=0,
                   help="stratified slice of the split (0 = all)")
    p.add_argument("--batch-size", type=option_type(field_of(TrainConfig, "batch_size")), default=128,
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
    p.add_argument("--max-tokens", type=option_type(field_of(TrainConfig, "max_tokens")), default=0,
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
    p.add_argument("--template", help="run your own test instead: a sentence with placeholders filled from the dev "
                   f"half's lexicons, e.g. 'This movie is not {{pos_adj}}.' (at most {MAX_FILLS} fills)")
    p.add_argument("--expect", default="positive", choices=[e.name for e in EXPECTATIONS],
                   help="what every fill of --template should do: " + "; ".join(f"{e.name}: {e.help}"
                                                                                 for e in EXPECTATIONS))
    p.add_argument("--slot", default="", help="the placeholder X of a comparison (default: the template's last)")
    p.add_argument("--lexicon", action="append", default=[], metavar="NAME=WORD,WORD",
                   help="replace or add a lexicon for --template (repeatable)")
    p.set_defaults(func=cmd_behaviour)

    p = sub.add_parser("soup", help="average classifiers fine-tuned from one start into one model (a model soup)",
                       description="Average the weights of classifiers fine-tuned from one start (the same language "
                       "model or checkpoint, vocabulary and validation split) into one model that runs as fast as any "
                       "of them (a model soup, Wortsman et al., 2022). With --greedy the candidates are tried best "
                       "validation accuracy first, and each is kept only where the soup's validation accuracy does "
                       "not drop. The soup is temperature-scaled on the validation split, scored on the test split, "
                       "run through the behaviour suite (a polarity model) and written with its card.")
    p.add_argument("candidates", nargs="+", metavar="CHECKPOINT", help=f"2 to {MAX_MEMBERS} checkpoints")
    p.add_argument("--output", required=True, help="the .safetensors file to write")
    p.add_argument("--greedy", action="store_true", help="keep a candidate only where it does not lower the soup's "
                   "validation accuracy (default: average them all)")
    p.add_argument("--data", default="", help="IMDB archive or folder, or the labelled file the candidates trained "
                   "on (default: theirs if a file, else $SENTIMENT_DATA or the download)")
    p.add_argument("--cache-dir", default="", help="download and token cache folder")
    p.add_argument("--save-dtype", default="", choices=("", "float32", "float16"),
                   help="precision of the saved weights (default: the first candidate's)")
    p.add_argument("--name", default="", help="model name kept in the file (default: the output's stem)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--num-threads", type=count_type(MAX_THREADS), default=0,
                   help="CPU threads for torch (0 = torch's default; 1 when another job shares the cores)")
    p.set_defaults(func=cmd_soup)


def cmd_evaluate(args: argparse.Namespace) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    # Rebuild the run's split (same seed and validation share) on the data given here, reading
    # only the split scored: not the training reviews, nor the unlabeled ones of its word vectors.
    cfg = split_config(ckpt.train_config, args.data, args.cache_dir, args.max_samples)
    reviews = load_split(cfg, args.split, progress=ProgressBars(), classes=ckpt.labels)
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
                        max_samples=args.max_samples, batch_size=args.batch_size, progress=ProgressBars())
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


# Settings that may differ between seeds of one recipe. A recipe in stages continues each seed's own
# model of the stage before: its start is per seed too, and the commands that made the earlier stages are
# compared instead, less the same per-seed settings as options.
_PER_SEED = ("init_seed", "output", "overwrite", "num_threads", "device", "init_checkpoint")


def _option_pattern(key: str) -> str:
    """A TrainConfig setting as the CLI writes it: ``--flag``/``--no-flag`` for a switch, else ``--name value``."""
    flag = key.replace("_", "-")
    if isinstance(field_of(TrainConfig, key).default, bool):
        return rf"\s--(?:no-)?{flag}\b"
    return rf"\s--{flag}(?:=|\s+)\S+"


_PER_SEED_OPTIONS = re.compile("|".join(_option_pattern(key) for key in _PER_SEED))


def _earlier_stages(meta: dict[str, Any]) -> list[str]:
    """The commands that made a continued model's start and the stages before it, oldest first, less
    their per-seed options (empty for a model trained in one go)."""
    return [_PER_SEED_OPTIONS.sub("", c) for c in stage_commands(meta["info"])]


def seed_record(path: str, others: list[str]) -> list[dict[str, Any]]:
    """Validation and test accuracy (and held-out behaviour) of the checkpoint at ``path`` and of
    ``others``, which must be the same recipe with another ``init_seed``; seeds the checkpoint already
    records and ``others`` does not name keep their rows, so seeds can be added one run at a time."""
    def recipe(meta: dict[str, Any]) -> dict[str, Any]:
        soup = meta["metrics"].get("soup")
        if soup is not None:  # the same rule over the same kinds of candidates, each from this seed's runs
            if not isinstance(soup, dict) or not isinstance(soup.get("candidates"), list):
                raise ValueError("the checkpoint's soup record is unreadable")
            return {"rule": soup.get("rule"), "candidates": sorted(
                [_PER_SEED_OPTIONS.sub("", c) for c in [*row.get("stages", []), row.get("command", "")]]
                for row in soup["candidates"])}
        return {k: v for k, v in (meta["train_config"] or {}).items() if k not in _PER_SEED}

    mine = read_metadata(path)
    rows = []
    for other in [path, *others]:
        meta = read_metadata(other)
        if (recipe(meta) != recipe(mine) or meta["model_config"] != mine["model_config"]
                or _earlier_stages(meta) != _earlier_stages(mine)):
            raise ValueError(f"{other} is not the recipe of {path} with another seed")
        metrics = meta["metrics"]
        if "test" not in metrics:
            raise ValueError(f"{other} has no test figures (a run that stopped early)")
        rows.append({"init_seed": meta["train_config"]["init_seed"], "this": other == path,
                     "val": metrics["val"]["accuracy"], "test": metrics["test"]["accuracy"],
                     "heldout": (metrics.get("behaviour") or {}).get("heldout", {}).get("summary", {})})
    named = {row["init_seed"] for row in rows}
    kept = [row for row in mine["metrics"].get("seeds") or [] if row.get("init_seed") not in named]
    return rows + sorted(kept, key=lambda row: row["init_seed"])


def cmd_template(args: argparse.Namespace) -> int:
    """``behaviour --template``: one's own test, its failure rate and every failing fill."""
    lexicons = default_lexicons()
    for item in args.lexicon:
        name, _, words = item.partition("=")
        lexicons[name.strip()] = [word for word in words.split(",")]
    try:
        suite = template_test(args.template, args.expect, args.slot, lexicons)
        predictor = Predictor.from_checkpoint(args.checkpoint)
        result = run_template(predictor.predict_batch, predictor.labels, suite)
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(dataclasses.asdict(result), ensure_ascii=False))
        return 0
    print(f"{result.failures:,} of {result.cases:,} fills fail ({result.failure_rate:.1%}): expected {args.expect}")
    for example in result.examples:
        line = f"  {example.probabilities['positive']:.2f}  {example.text}"
        if example.perturbed is not None:
            line += f"  ->  {example.perturbed_probabilities['positive']:.2f}  {example.perturbed}"
        print(line)
    return 0


def cmd_behaviour(args: argparse.Namespace) -> int:
    if args.template is not None:
        return cmd_template(args)
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


def cmd_soup(args: argparse.Namespace) -> int:
    if not 2 <= len(args.candidates) <= MAX_MEMBERS:  # before reading any of them
        raise ValueError(f"a soup needs 2 to {MAX_MEMBERS} checkpoints, not {len(args.candidates)}")
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    candidates = [load_checkpoint(path) for path in args.candidates]
    first = candidates[0].train_config or TrainConfig()
    dtype = args.save_dtype or first.save_dtype
    # What a training run checks before it starts: the output's name, that it may be written and has room.
    preflight(candidates[0].model_config,
              dataclasses.replace(first, output=args.output, overwrite=args.overwrite, save_dtype=dtype))
    name, _ = repair_utf8(args.name or Path(args.output).stem)
    command, _ = repair_utf8("python -m sentiment_core " + shlex.join(sys.argv[1:]))
    soup = make_soup(candidates, args.data, args.cache_dir, args.greedy, dtype, {"name": name, "command": command},
                     ProgressBars(), lambda line: print(repair_utf8(line)[0], flush=True))
    ckpt = soup.checkpoint
    path = save_checkpoint(args.output, ckpt.model, ckpt.vocab, ckpt.train_config, soup.metrics, soup.info, dtype,
                           labels=ckpt.labels)
    card = write_card(path, overwrite=args.overwrite)
    test = soup.metrics.get("test")
    print(f"soup of {len(soup.members)}: validation {soup.metrics['val']['accuracy']:.2%}"
          + (f", test {test['accuracy']:.2%}" if test else "")
          + f"; wrote {repair_utf8(str(path))[0]} and {repair_utf8(str(card))[0]}")
    return 0
