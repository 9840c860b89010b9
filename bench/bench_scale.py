"""Memory and speed on a large labelled file: a synthetic CSV of 500,000 reviews by default.

    python bench/bench_scale.py [--reviews 500000] [--steps 200] [--keep FOLDER]

The CSV is generated here, into a temporary folder (never committed): each review is 2-6
sentences drawn from the 25,000 IMDB training reviews, labelled "positive" (sentences of
positive reviews), "negative", or "mixed" (both), a third each. Then three fresh processes,
so each one's peak resident memory (RSS) is its own:

1. tokenize: ``load_corpus`` checks the file row by row, tokenizes it in worker processes and
   writes the token cache (peak RSS of this process, and of the largest worker);
2. train: ``load_corpus`` again, from the cache, then ``train`` (the quick preset) for
   ``--steps`` steps over the whole training split (RSS after loading, peak RSS, tokens/s);
3. lists: the same tokens as Python lists of strings (what the cache and batches held before
   ``TokenLists``), for a slice of the reviews, to compare bytes per token.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import common  # noqa: F401  (puts the project on sys.path, sets SENTIMENT_DATA)

SENTENCE_RE = re.compile(r"(?<=[.!?])\s+")


def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory in MB: of this process, or of its largest child (RUSAGE_CHILDREN)."""
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KB


def generate(path: Path, reviews: int, seed: int) -> None:
    """Write the synthetic CSV: text, label."""
    from sentiment_core.data import read_raw, resolve_source
    from sentiment_core.tokenizer import clean_text

    raw = read_raw(resolve_source(""), ["train"])["train"]
    sentences: dict[int, list[str]] = {0: [], 1: []}
    for text, label in zip(raw.items, raw.labels):
        sentences[label].extend(s for s in SENTENCE_RE.split(clean_text(text)) if 20 <= len(s) <= 300)
    rng = random.Random(seed)
    names = ("negative", "positive", "mixed")
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for _ in range(reviews):
            kind = rng.randrange(3)
            count = rng.randint(2, 6)
            pools = [sentences[kind]] * count if kind < 2 else [sentences[i % 2] for i in range(count)]
            writer.writerow([" ".join(rng.choice(pool) for pool in pools), names[kind]])


def config(csv_path: str, cache: str, threads: int, eval_samples: int = 5000):
    """The quick preset on the whole file; validation and test sliced to ``eval_samples`` (0 = all)."""
    from sentiment_core import preset

    return preset("quick", data=csv_path, cache_dir=cache, max_train_samples=0, max_eval_samples=eval_samples,
                  num_threads=threads, output=str(Path(cache) / "bench.safetensors"), overwrite=True)


def phase_tokenize(csv_path: str, cache: str, threads: int) -> dict:
    from sentiment_core import load_corpus

    start_rss = rss_mb()
    start = time.perf_counter()
    corpus = load_corpus(config(csv_path, cache, threads, eval_samples=0)[1])  # every row
    seconds = time.perf_counter() - start
    tokens = sum(len(split.items.codes) for split in (corpus.train, corpus.val, corpus.test))
    timings = dict(corpus.timings)
    return {"reviews": len(corpus.train) + len(corpus.val) + len(corpus.test), "tokens": tokens,
            "seconds": seconds, "timings": timings, "tokenize_tokens_per_s": tokens / timings["tokenizing"],
            "rss_start_mb": start_rss, "rss_end_mb": rss_mb(), "peak_mb": peak_mb(),
            "worker_peak_mb": peak_mb(resource.RUSAGE_CHILDREN),
            "token_bytes": corpus.train.items.nbytes() + corpus.val.items.nbytes() + corpus.test.items.nbytes()}


def phase_train(csv_path: str, cache: str, threads: int, steps: int) -> dict:
    from sentiment_core import load_corpus, train
    from sentiment_core.training import Started, Step

    model_cfg, train_cfg = config(csv_path, cache, threads)
    if threads:  # the bench's process sets torch's thread count: train() leaves it alone
        import torch

        torch.set_num_threads(threads)
    start_rss = rss_mb()
    start = time.perf_counter()
    corpus = load_corpus(train_cfg)
    load_seconds, loaded_rss = time.perf_counter() - start, rss_mb()
    stop = threading.Event()
    rates, started, after_setup = [], None, 0.0
    for event in train(model_cfg, train_cfg, corpus, stop=stop):
        if isinstance(event, Started):
            started, after_setup = event, rss_mb()
        elif isinstance(event, Step):
            rates.append(event.tokens_per_s)
            if event.step >= steps:
                stop.set()
        elif event.kind == "Finished" and event.status == "failed":
            raise RuntimeError(event.error)
    rates.sort()
    return {"load_seconds": load_seconds, "rss_start_mb": start_rss, "rss_loaded_mb": loaded_rss,
            "rss_training_mb": after_setup, "peak_mb": peak_mb(), "train_reviews": started.train_size,
            "steps": len(rates), "median_tokens_per_s": rates[len(rates) // 2]}


def phase_lists(csv_path: str, cache: str, threads: int, sample: int) -> dict:
    from sentiment_core import load_corpus

    corpus = load_corpus(config(csv_path, cache, threads)[1])
    part = corpus.train.items.take(range(min(sample, len(corpus.train))))
    del corpus
    before = rss_mb()
    # A new string object per token, as the tokenizer makes them and the old cache reader did (split(" ")).
    as_lists = [" ".join(tokens).split(" ") for tokens in part]
    after = rss_mb()
    count = sum(map(len, as_lists))
    return {"reviews": len(as_lists), "tokens": count, "bytes_per_token_lists": (after - before) * 2**20 / count,
            "bytes_per_token_compact": part.nbytes() / count}


def child(args: argparse.Namespace) -> None:
    if args.phase == "tokenize":
        result = phase_tokenize(args.csv, args.cache, args.threads)
    elif args.phase == "train":
        result = phase_train(args.csv, args.cache, args.threads, args.steps)
    else:
        result = phase_lists(args.csv, args.cache, args.threads, args.lists_sample)
    print("RESULT " + json.dumps(result))


def run_phase(phase: str, args: argparse.Namespace, csv_path: Path, cache: Path) -> dict:
    command = [sys.executable, __file__, "--phase", phase, "--csv", str(csv_path), "--cache", str(cache),
               "--threads", str(args.threads), "--steps", str(args.steps), "--lists-sample", str(args.lists_sample)]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"phase {phase} failed:\n{out.stderr[-3000:]}")
    return json.loads(next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))[7:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=500_000, help="rows of the synthetic CSV")
    parser.add_argument("--steps", type=int, default=200, help="training steps to time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the training process")
    parser.add_argument("--lists-sample", type=int, default=50_000, help="reviews turned into Python lists")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", default="", help="generate into this folder and keep it (default: a temp folder)")
    parser.add_argument("--phase", choices=("tokenize", "train", "lists"), help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="bench_scale-") as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        csv_path, cache = folder / f"synthetic-{args.reviews}.csv", folder / "cache"
        start = time.perf_counter()
        generate(csv_path, args.reviews, args.seed)
        print(f"generated {csv_path.name}: {args.reviews:,} reviews, {csv_path.stat().st_size / 2**20:,.0f} MB "
              f"in {time.perf_counter() - start:.0f} s")
        tok = run_phase("tokenize", args, csv_path, cache)
        print(f"1. check + tokenize + cache: {tok['reviews']:,} reviews, {tok['tokens']:,} tokens in "
              f"{tok['seconds']:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in tok['timings'].items())}); "
              f"tokenizing {tok['tokenize_tokens_per_s']:,.0f} tokens/s; RSS {tok['rss_start_mb']:,.0f} MB at start, "
              f"{tok['rss_end_mb']:,.0f} MB at the end, peak {tok['peak_mb']:,.0f} MB (largest tokenizer worker "
              f"{tok['worker_peak_mb']:,.0f} MB); the tokens take {tok['token_bytes'] / 2**20:,.0f} MB")
        tr = run_phase("train", args, csv_path, cache)
        print(f"2. load from the cache + train: loaded in {tr['load_seconds']:.0f} s, RSS {tr['rss_start_mb']:,.0f} MB "
              f"-> {tr['rss_loaded_mb']:,.0f} MB loaded -> {tr['rss_training_mb']:,.0f} MB with batches and model; "
              f"peak {tr['peak_mb']:,.0f} MB; {tr['steps']} steps over {tr['train_reviews']:,} training reviews, "
              f"{tr['median_tokens_per_s']:,.0f} tokens/s median ({args.threads} torch thread"
              f"{'s' if args.threads > 1 else ''})")
        li = run_phase("lists", args, csv_path, cache)
        print(f"3. as Python lists of strings: {li['bytes_per_token_lists']:.0f} bytes a token "
              f"(measured on {li['reviews']:,} reviews, {li['tokens']:,} tokens); as TokenLists: "
              f"{li['bytes_per_token_compact']:.1f} bytes a token; the {tok['tokens']:,} tokens would take "
              f"{li['bytes_per_token_lists'] * tok['tokens'] / 2**20:,.0f} MB as lists")


if __name__ == "__main__":
    main()
