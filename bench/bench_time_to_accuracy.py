"""Time to accuracy: a preset run as the app's Start button runs it, cold and then warm.

    cold  an empty cache: the archive is read and tokenized, the word vectors are computed
    warm  the same cache again: tokens and word vectors come from disk

Each run goes through ``demo.services.worker.TrainingWorker``, the app's own path: a spawned child with
the app's thread budget and niceness. Times are wall-clock seconds from pressing Start; the
test set is scored once, after the run. Prints, per run, each epoch's elapsed time and
validation accuracy, the test accuracy, and where the time went.

Run: python bench/bench_time_to_accuracy.py --preset fast [--preset quick] [--runs cold,warm]
     [--set epochs=2 --set max_tokens=300] [--data PATH] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from common import ROOT  # noqa: F401  (puts the repository on sys.path, sets $SENTIMENT_DATA)

from demo.services.worker import Run, TrainingWorker, thread_budget
from sentiment_core import preset
from sentiment_core.config import PRESETS
from sentiment_core.report import format_seconds, render, timings_table

POLL_S = 0.1


def run_once(worker: TrainingWorker, name: str, overrides: dict, cache_dir: str, out_dir: str) -> dict:
    """One run of a preset; its epochs (wall time, validation accuracy), test accuracy and phases."""
    output = os.path.join(out_dir, f"{name}-{time.time_ns()}.safetensors")
    model_cfg, train_cfg = preset(name, **overrides, cache_dir=cache_dir, output=output)
    run = Run(name, output, name, {"epochs": train_cfg.epochs})
    start = time.perf_counter()
    worker.start(run, model_cfg, train_cfg, {"name": name, "preset": name, "command": "bench"})
    epochs: list[tuple[int, float, float]] = []
    while True:
        _, snapshot = worker.snapshot()
        now = time.perf_counter() - start
        for event in snapshot.of_kind("EpochEnd")[len(epochs):]:
            epochs.append((event["epoch"], now, event["val"]["accuracy"]))
        if not snapshot.running:
            break
        time.sleep(POLL_S)
    worker.join()
    total = time.perf_counter() - start
    _, snapshot = worker.snapshot()
    finished = snapshot.last("Finished") or {}
    if snapshot.status != "finished":
        raise SystemExit(f"{name}: the run {snapshot.status}: {snapshot.error or snapshot.stage}")
    return {"epochs": epochs, "total": total, "val": finished["val"]["accuracy"], "test": finished["test"]["accuracy"],
            "test_count": finished["test"]["count"], "timings": snapshot.of_kind("Timing")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", action="append", choices=sorted(PRESETS), help="repeatable (default: fast)")
    parser.add_argument("--runs", default="cold,warm", help="cold, warm or both (a warm run alone reuses --cache-dir)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting for every run (JSON values: --set epochs=2)")
    parser.add_argument("--data", default=os.environ["SENTIMENT_DATA"],
                        help="IMDB archive or folder (default: $SENTIMENT_DATA)")
    parser.add_argument("--cache-dir", default="", help="for --runs warm: a cache an earlier run filled")
    parser.add_argument("--threads", type=int, default=0, help="torch threads of the child (default: the app's)")
    args = parser.parse_args()
    overrides = {"data": args.data}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except ValueError:
            overrides[key] = value
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    if not runs or set(runs) - {"cold", "warm"}:
        raise SystemExit("--runs takes cold, warm or cold,warm")
    worker = TrainingWorker(threads=args.threads or thread_budget()[1])
    print(f"{os.cpu_count()} cores; training child: {worker.threads} torch thread(s), as the app runs it; "
          f"data {args.data}; overrides {overrides}")
    table = [["preset", "run", "Start to finish", "validation", "test (reviews)"]]
    with tempfile.TemporaryDirectory(prefix="bench-tta-") as tmp:
        for name in args.preset or ["fast"]:
            cache_dir = args.cache_dir or os.path.join(tmp, f"cache-{name}")
            for kind in runs:
                result = run_once(worker, name, overrides, cache_dir, tmp)
                print(f"\n{name}, {kind}:")
                for epoch, seconds, val in result["epochs"]:
                    print(f"  epoch {epoch}: {seconds:7.1f} s after Start, validation accuracy {val:.2%}")
                print(f"  finished {result['total']:.1f} s after Start: validation {result['val']:.2%}, "
                      f"test {result['test']:.2%} ({result['test_count']:,} reviews)")
                print("\n" + timings_table(result["timings"], style="text"))
                table.append([name, kind, format_seconds(result["total"]), f"{result['val']:.2%}",
                              f"{result['test']:.2%} ({result['test_count']:,})"])
    print("\n" + render(table, "markdown", align="llrrr"))


if __name__ == "__main__":
    main()
