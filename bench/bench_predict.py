"""Prediction latency and throughput of a checkpoint on CPU.

One review of about 230 tokens, timed end to end (tokenization included) for predict() and for
analyze() (prediction + running prediction + integrated-gradients word attributions, what the
app computes per keystroke), with analyze's two parts timed alone and its completeness error;
then predict_batch() throughput over IMDB test reviews. With --completeness-reviews N, the
completeness error of the integrated gradients over N random test reviews, next to the
32-step midpoint rule the app used before.
Run: python bench/bench_predict.py [--checkpoint checkpoints/default.safetensors] [--runs 200] [--threads 1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch
from common import percentile, summary

from sentiment_core import DEFAULT_CHECKPOINT, Predictor
from sentiment_core.data import read_raw, resolve_source


def timed(fn, runs: int) -> list[float]:
    for _ in range(5):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def midpoint_error(predictor: Predictor, tokens: list[str], steps: int = 32) -> float:
    """Completeness error of integrated gradients by the midpoint rule (the app's rule before)."""
    with torch.no_grad():
        embedded = predictor.model.embedding(torch.tensor(predictor.vocab.encode(tokens)))
    alphas = (torch.arange(steps, dtype=embedded.dtype) + 0.5) / steps
    _, grads = predictor.model.path_gradients(embedded, alphas)
    ends, _ = predictor.model.path_gradients(embedded, torch.tensor([0.0, 1.0]))
    change = float(ends[1] - ends[0])
    return abs(float(grads.mean(dim=0).sum()) - change) / abs(change)


def completeness(predictor: Predictor, texts: list[str], count: int) -> None:
    picked = random.Random(0).sample(texts, count)
    ours, before = [], []
    for text in picked:
        tokens = predictor.tokens(text)[0]
        ours.append(predictor.integrated_gradients(tokens).completeness_error)
        before.append(midpoint_error(predictor, tokens))
    for name, errors in [("default rule", ours), ("midpoint, 32 steps", before)]:
        within = sum(e <= 0.05 for e in errors) / len(errors)
        print(f"completeness error over {count} random test reviews, {name}: median {statistics.median(errors):.1%}, "
              f"p75 {percentile(errors, 75):.1%}; {within:.0%} of reviews within 5%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--batch-reviews", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--completeness-reviews", type=int, default=0,
                        help="also measure the attributions' completeness error over this many test reviews")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    predictor = Predictor.from_checkpoint(args.checkpoint)
    test = read_raw(resolve_source(), splits=["test"])["test"]
    # The test review whose token count is closest to 230.
    review = min(test.items[:3000], key=lambda t: abs(len(predictor.tokens(t)[0]) - 230))
    tokens = predictor.tokens(review)[0]
    print(f"checkpoint {args.checkpoint}; review of {len(tokens)} tokens; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    for name, fn in [("predict", lambda: predictor.predict(review)), ("analyze", lambda: predictor.analyze(review)),
                     ("  running", lambda: predictor.running(tokens)),
                     ("  attributions", lambda: predictor.integrated_gradients(tokens))]:
        print(f"{name:15s} latency: {summary(timed(fn, args.runs), 'ms', 1000)}")
    analysis = predictor.analyze(review)
    print(f"analyze: {len(analysis.running)} running points, {analysis.steps} gradient evaluations, "
          f"completeness error {analysis.completeness_error:.2%}")

    texts = test.items[: args.batch_reviews]
    start = time.perf_counter()
    predictor.predict_batch(texts)
    elapsed = time.perf_counter() - start
    print(f"predict_batch: {len(texts):,} test reviews in {elapsed:.2f} s = {len(texts) / elapsed:,.0f} reviews/s")
    if args.completeness_reviews:
        completeness(predictor, test.items, args.completeness_reviews)


if __name__ == "__main__":
    main()
