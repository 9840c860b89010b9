"""Prediction latency and throughput of a checkpoint on CPU.

One review of about 230 tokens, timed end to end (tokenization included) for predict() and for
analyze() (prediction + running prediction + integrated-gradients word attributions, what the
app computes per keystroke), then predict_batch() throughput over IMDB test reviews.
Run: python bench/bench_predict.py [--checkpoint checkpoints/default.safetensors] [--runs 200]
"""

from __future__ import annotations

import argparse
import time

import torch
from common import summary

from sentiment_core import DEFAULT_CHECKPOINT, Predictor
from sentiment_core.data import read_raw, resolve_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--batch-reviews", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    predictor = Predictor.from_checkpoint(args.checkpoint)
    test = read_raw(resolve_source())["test"]
    # The test review whose token count is closest to 230.
    review = min(test.items[:3000], key=lambda t: abs(len(predictor.tokens(t)[0]) - 230))
    print(f"checkpoint {args.checkpoint}; review of {len(predictor.tokens(review)[0])} tokens; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    for name, fn in [("predict", predictor.predict), ("analyze", predictor.analyze)]:
        for _ in range(5):
            fn(review)
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            fn(review)
            times.append(time.perf_counter() - start)
        print(f"{name:8s} latency: {summary(times, 'ms', 1000)}")

    texts = test.items[: args.batch_reviews]
    start = time.perf_counter()
    predictor.predict_batch(texts)
    elapsed = time.perf_counter() - start
    print(f"predict_batch: {len(texts):,} test reviews in {elapsed:.1f} s = {len(texts) / elapsed:,.0f} reviews/s")


if __name__ == "__main__":
    main()
