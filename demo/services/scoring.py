"""A model's mistakes, scored outside the web server: ``error_table`` in a child process at low priority.

    table = SCORER.table(checkpoint, "val", data, progress)   # an ErrorTable; DataError if it cannot be scored

Scoring a split reads, tokenizes and classifies up to 25,000 reviews: a minute or more of CPU the first
time. In the web server's process it competed with every visitor's ``/classify`` for the interpreter
and both cores: with five scorings queued, 20 REST clients sending ``/classify`` 5 times a second waited
433 ms at p95 against 243 ms without (``bench/bench_load.py --phases rest,rest-errors``). In a fresh
interpreter niced by 10 (``processes.yield_cpu``), with one torch thread, the server's threads come first and the
scoring takes the CPU they leave.

The child sends JSON lines on stdout: ``{"progress": [stage, done, total]}`` at most every
``PROGRESS_INTERVAL_S``, then ``{"table": ...}`` (``mistakes.table_to_json``) or ``{"refused": message}``.
It reads and writes ``error_table``'s disk cache, so a table is computed once per checkpoint and split.
A child that runs past ``SECONDS`` is killed; one scoring runs at a time (``turns.Turns``), ``WAITING``
more may wait, and any beyond that are told to try again.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from sentiment_core.data import DataError
from sentiment_core.mistakes import ErrorTable, table_from_json
from sentiment_core.processes import die_with_parent, yield_cpu

from .turns import Turns, start_child

SECONDS = 900  # a test split of 25,000 reviews, tokenized afresh, takes about 3 minutes on one niced thread
WAITING = 4
PROGRESS_INTERVAL_S = 0.25

Progress = Callable[[str, int, int], None]


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def main() -> None:
    """``python -m demo.services.scoring``: one request as JSON on stdin, JSON lines on stdout."""
    request = json.loads(sys.stdin.readline())
    die_with_parent(request["parent"], kernel_signal=False)  # started from a request thread, which may end first
    yield_cpu()
    import torch

    from sentiment_core import CheckpointError
    from sentiment_core.mistakes import error_table, table_to_json

    torch.set_num_threads(1)
    last = (0.0, "")

    def progress(stage: str, done: int, total: int) -> None:  # each stage's first and last line, and the rest thinned
        nonlocal last
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL_S or stage != last[1] or done >= total:
            last = (now, stage)
            _emit({"progress": [stage, done, total]})

    try:
        table = error_table(request["checkpoint"], request["split"], data=request["data"], progress=progress)
    except (DataError, CheckpointError, OSError, ValueError) as exc:
        _emit({"refused": str(exc)})
        return
    _emit({"table": table_to_json(table)})


class Scorer:
    """Runs ``error_table`` in child processes, one at a time, with ``waiting`` more queued at most."""

    def __init__(self, seconds: float = SECONDS, waiting: int = WAITING) -> None:
        self.seconds = seconds
        self.turns = Turns(waiting, seconds, "Other visitors' mistakes are being scored; try again in a few minutes.")

    def table(self, checkpoint: str | os.PathLike, split: str, data: str = "",
              progress: Progress = lambda stage, done, total: None) -> ErrorTable:
        """The errors table of ``checkpoint`` on ``split``; ``DataError`` saying why there is none, or ``Busy``.
        An exception ``progress`` raises kills the child and propagates."""
        with self.turns.take():
            return self._run(str(checkpoint), split, data, progress)

    def _run(self, checkpoint: str, split: str, data: str, progress: Progress) -> ErrorTable:
        request = {"checkpoint": checkpoint, "split": split, "data": data, "parent": os.getpid()}
        process = start_child("demo.services.scoring")
        timed_out = threading.Event()
        watchdog = threading.Timer(self.seconds, lambda: (timed_out.set(), process.kill()))
        watchdog.start()
        try:
            process.stdin.write(json.dumps(request).encode() + b"\n")
            process.stdin.close()
            for line in process.stdout:
                message = json.loads(line)
                if "progress" in message:
                    progress(*message["progress"])
                elif "refused" in message:
                    raise DataError(message["refused"])
                else:
                    return table_from_json(message["table"], checkpoint)
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
            process.wait()
            process.stdout.close()
        if timed_out.is_set():
            raise DataError(f"scoring took longer than {self.seconds / 60:g} minutes and was stopped")
        raise DataError(f"the scoring process ended without an answer (exit code {process.returncode})")


SCORER = Scorer()  # the app's one queue of scorings


if __name__ == "__main__":
    main()
