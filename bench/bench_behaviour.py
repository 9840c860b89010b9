"""The behavioural suite's summary figures for every shipped checkpoint, both halves, and the time taken.

Runs the dev and held-out halves on each checkpoint of checkpoints/ and any given on the command
line; a checkpoint whose labels are not negative and positive is listed as skipped. Prints one row
per checkpoint and half: mean failure rates (tests expecting a label, negation tests,
identity-term invariance, all tests) and the seconds the half took (prediction included).
Run: python bench/bench_behaviour.py [extra.safetensors ...] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import ROOT

from sentiment_core import Predictor
from sentiment_core.behaviour import HALVES, SUITE_VERSION, applies_to, run_suite
from sentiment_core.behaviour.runner import SUMMARY_GROUPS
from sentiment_core.report import render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="*", type=Path, help="more checkpoints to run")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    paths = list(dict.fromkeys([*sorted((ROOT / "checkpoints").glob("*.safetensors")), *args.checkpoints]))
    print(f"behaviour suite {SUITE_VERSION}; torch {torch.__version__}, "
          f"{threads} thread{'' if threads == 1 else 's'}\n")
    rows = [["checkpoint", "half", *(title for _, title, _ in SUMMARY_GROUPS), "cases", "seconds"]]
    for path in paths:
        predictor = Predictor.from_checkpoint(path)
        if not applies_to(predictor.labels):
            print(f"skipped {path.name}: labels {', '.join(predictor.labels)}")
            continue
        for half in HALVES:
            start = time.perf_counter()
            result = run_suite(predictor.predict_batch, predictor.labels, half)
            elapsed = time.perf_counter() - start
            rates = [getattr(result.summary, key) for key, _, _ in SUMMARY_GROUPS]
            rows.append([path.stem, half, *(f"{rate:.1%}" for rate in rates), f"{result.cases:,}", f"{elapsed:.1f}"])
    print(render(rows, style="text", align="ll" + "r" * (len(rows[0]) - 2)))


if __name__ == "__main__":
    main()
