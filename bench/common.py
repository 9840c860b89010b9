"""Shared bits of the benchmarks: the data slice and simple statistics."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SENTIMENT_DATA", str(ROOT.parent / "shared" / "data" / "aclImdb_v1.tar.gz"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: list[float], unit: str, scale: float = 1.0) -> str:
    return (f"median {statistics.median(values) * scale:,.1f} {unit}, p95 {percentile(values, 95) * scale:,.1f} {unit}"
            f" (n={len(values)})")
