"""Accuracy of a checkpoint on the full 25,000-review IMDB test set, through the CLI.

Run: python bench/bench_accuracy.py [--checkpoint checkpoints/default.safetensors]
(the same as `python -m sentiment_core evaluate --checkpoint ...`).
"""

from __future__ import annotations

import sys

from common import ROOT  # noqa: F401 - puts the project on sys.path and points at the shared archive

from sentiment_core.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["evaluate", *sys.argv[1:]]))
