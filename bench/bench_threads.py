"""Thread budget: classify latency in the web server and training speed in its child, side by side.

For each (server threads, training-child threads) pair, a training child (``demo.services.worker``, the
default bi-GRU recipe on a 2,000-review slice, no word vectors) runs while this process, standing
in for the server, calls ``Predictor.analyze`` (what the app computes per keystroke) and
``predict`` on a 230-token review for ``--seconds``. Prints the median and p95 latencies and the
child's median training tokens/s over the same window, plus both alone as baselines.
Run: python bench/bench_threads.py [--pairs 1x1,1x2,2x1,2x2] [--seconds 15]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import percentile

from demo.services.worker import Run, TrainingWorker, thread_budget
from sentiment_core import DEFAULT_CHECKPOINT, Predictor, preset
from sentiment_core.data import read_raw, resolve_source


def start_training(threads: int, out_dir: Path) -> TrainingWorker:
    model_cfg, train_cfg = preset("default", pretrain_embeddings=False, max_train_samples=2_000, max_eval_samples=200,
                                  epochs=50, device="cpu")
    output = out_dir / f"bench-{time.monotonic_ns()}.safetensors"
    worker = TrainingWorker(threads=threads)
    worker.start(Run(output.stem, str(output), "default", {}), model_cfg,
                 dataclasses.replace(train_cfg, output=str(output)), {"name": output.stem})
    while not worker.snapshot()[1].of_kind("Step"):
        if not worker.snapshot()[1].running:
            raise SystemExit(f"training failed: {worker.snapshot()[1].error}")
        time.sleep(0.1)
    time.sleep(2.0)  # past the first batches' warm-up
    return worker


def classify_for(predictor: Predictor, review: str, seconds: float) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"analyze": [], "predict": []}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for name in times:
            start = time.perf_counter()
            getattr(predictor, name)(review)
            times[name].append(time.perf_counter() - start)
    return times


def tokens_per_s(worker: TrainingWorker, since: float) -> float:
    steps = [e for e in worker.snapshot()[1].of_kind("Step") if e["elapsed_s"] >= since]
    return statistics.median(e["tokens_per_s"] for e in steps) if steps else float("nan")


def row(label: str, times: dict[str, list[float]] | None, speed: float | None) -> str:
    cells = [f"{label:28s}"]
    for name in ("analyze", "predict"):
        if times:
            values = times[name]
            cells.append(f"{statistics.median(values) * 1000:8.1f} {percentile(values, 95) * 1000:8.1f}")
        else:
            cells.append(f"{'-':>8s} {'-':>8s}")
    cells.append(f"{speed:12,.0f}" if speed is not None else f"{'-':>12s}")
    return " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default="1x1,1x2,2x1,2x2", help="server x child thread pairs")
    parser.add_argument("--seconds", type=float, default=15.0, help="measuring window per pair")
    args = parser.parse_args()
    pairs = [tuple(int(n) for n in p.split("x")) for p in args.pairs.split(",")]
    predictor = Predictor.from_checkpoint(DEFAULT_CHECKPOINT)
    test = read_raw(resolve_source(), ("test",))["test"]
    review = min(test.items[:3000], key=lambda t: abs(len(predictor.tokens(t)[0]) - 230))
    cores = os.cpu_count()
    print(f"{cores} cores; the app's budget here: server {thread_budget()[0]}, child {thread_budget()[1]} threads")
    print(f"{'':28s} | {'analyze ms':>17s} | {'predict ms':>17s} | {'train tok/s':>12s}")
    print(f"{'':28s} | {'median':>8s} {'p95':>8s} | {'median':>8s} {'p95':>8s} |")
    with tempfile.TemporaryDirectory() as out:
        for serve in sorted({s for s, _ in pairs}):
            torch.set_num_threads(serve)
            print(row(f"server {serve} thread(s), alone", classify_for(predictor, review, args.seconds), None))
        for train in sorted({t for _, t in pairs}):
            worker = start_training(train, Path(out))
            since = worker.snapshot()[1].last("Step")["elapsed_s"]
            time.sleep(args.seconds)
            print(row(f"child {train} thread(s), alone", None, tokens_per_s(worker, since)))
            worker.shutdown()
        for serve, train in pairs:
            torch.set_num_threads(serve)
            worker = start_training(train, Path(out))
            since = worker.snapshot()[1].last("Step")["elapsed_s"]
            times = classify_for(predictor, review, args.seconds)
            print(row(f"server {serve} + child {train}", times, tokens_per_s(worker, since)))
            worker.shutdown()


if __name__ == "__main__":
    main()
