"""Memory soak of the Classify tab: many requests of mixed sizes through the app's own handler.

Runs ``demo.tabs.classify_views.label_view`` and ``explanation_view`` (what the page calls per
keystroke) over a ``ModelRegistry`` of the shipped checkpoints, from a thread pool the size of the app's classify
concurrency, like Gradio's worker threads. Requests alternate between a 1 MB paste of fresh
random words (every one a string the tokenizer has never seen) and the app's short and long
examples. Prints the process's resident memory (VmRSS) and its peak (VmHWM) from
/proc/self/status before, every ``--report-every`` requests, and after.
Run: python bench/bench_soak.py [--requests 600] [--threads 4] [--big-share 0.5]
"""

from __future__ import annotations

import argparse
import itertools
import random
import string
import time
from concurrent.futures import ThreadPoolExecutor

import torch
from common import ROOT

from demo.services.classify import load_examples
from demo.services.registry import ModelRegistry
from demo.tabs.classify_views import explanation_view, label_view
from sentiment_core.tokenizer import spacy_tokenizer

# Byte -> character table: mostly lowercase letters, one byte in eight a space.
_WORD_CHARS = (string.ascii_lowercase * 10)[:224] + " " * 32
_TABLE = bytes.maketrans(bytes(range(256)), _WORD_CHARS.encode())


def memory() -> dict[str, int]:
    """Current and peak resident memory of this process, in MB (Linux only)."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) // 1024
    return out


def random_text(rng: random.Random, chars: int) -> str:
    """``chars`` characters of random lowercase words: nearly every word is new to the tokenizer."""
    return rng.randbytes(chars).translate(_TABLE).decode("ascii")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--threads", type=int, default=4, help="concurrent requests (the app's classify limit)")
    parser.add_argument("--big-share", type=float, default=0.5, help="share of requests that paste a big text")
    parser.add_argument("--big-chars", type=int, default=1_000_000)
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads (the app's on <= 4 cores)")
    parser.add_argument("--report-every", type=int, default=100)
    parser.add_argument("--model", default="shipped/default")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    registry = ModelRegistry(ROOT / "checkpoints", ROOT / "runs")
    examples = [e["text"] for e in load_examples()]
    rng = random.Random(args.seed)
    big = set(rng.sample(range(args.requests), round(args.big_share * args.requests)))
    small = itertools.cycle(examples)

    def request(i: int) -> float:
        text = random_text(random.Random(args.seed * 1_000_003 + i), args.big_chars) if i in big else next(small)
        start = time.perf_counter()
        label = label_view(registry, args.model, text)
        words, _, info = explanation_view(registry, args.model, text)
        if label is None or words is None:
            raise RuntimeError(f"request {i} gave no prediction: {info}")
        return time.perf_counter() - start

    request(-1)  # load the model and warm up before the first reading
    before = memory()
    print(f"{args.requests} requests ({len(big)} of {args.big_chars:,} chars) with {args.threads} threads, "
          f"torch {torch.__version__} on {torch.get_num_threads()} thread(s)")
    print(f"before: RSS {before['VmRSS']:,} MB, peak {before['VmHWM']:,} MB")
    start = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        for done, _ in enumerate(pool.map(request, range(args.requests)), 1):
            if done % args.report_every == 0 or done == args.requests:
                now = memory()
                print(f"{done:5d} requests, {time.perf_counter() - start:6.1f} s: "
                      f"RSS {now['VmRSS']:,} MB, peak {now['VmHWM']:,} MB, "
                      f"spaCy strings {len(spacy_tokenizer().vocab.strings):,}", flush=True)
    after = memory()
    print(f"after: RSS {after['VmRSS']:,} MB (+{after['VmRSS'] - before['VmRSS']:,}), peak {after['VmHWM']:,} MB")


if __name__ == "__main__":
    main()
