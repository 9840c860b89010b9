"""Command line: ``python -m sentiment_core train | evaluate | errors | predict | card | pretrain | behaviour``.

Each group of subcommands lives in its own module (``cli_train``, ``cli_checkpoints``,
``cli_pretrain``); the options they share in ``cli_options``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .checkpoint import CheckpointError
from .cli_checkpoints import add_checkpoint_parsers
from .cli_options import repair_utf8
from .cli_pretrain import add_pretrain_parser
from .cli_train import add_train_parser
from .data import DataError
from .predict import EmptyTextError

OFFLINE_HINT = ("hint: offline, or behind a proxy? Download aclImdb_v1.tar.gz elsewhere and pass it with "
                "--data path/to/aclImdb_v1.tar.gz (or an unpacked aclImdb/ folder, or set SENTIMENT_DATA); "
                "--data also takes your own labelled .csv, .tsv, .jsonl or .parquet file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sentiment_core", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    add_checkpoint_parsers(sub)
    add_pretrain_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (CheckpointError, DataError, EmptyTextError, ValueError, RuntimeError, OSError) as exc:
        print(f"error: {repair_utf8(str(exc))[0]}", file=sys.stderr)
        if isinstance(exc, DataError) and str(exc).startswith("could not download"):
            print(OFFLINE_HINT, file=sys.stderr)
        return 1
