"""The Train tab's data check, outside the web server: a child process per check, one check at a time.

    table = CHECKER.check(path, text_column, label_column)   # a LabelledTable, or a DataError

Checking a labelled file reads every row of it, and the file is a stranger's: the reading is
bounded by the caps of ``sentiment_core.data.limits`` (rows, bytes a cell, bytes in all, Parquet's
footer), but a file can still lie about itself (a Parquet dictionary page understating its size),
so the reading happens in a child interpreter whose heap is limited (``RLIMIT_DATA``, counted from
what its imports already take: a limit on address space, ``RLIMIT_AS``, breaks importing torch on
machines with many cores, where OpenBLAS reserves more) and whose time is limited (killed after
``CHECK_SECONDS``). A child that runs out of memory or time takes nothing with it but itself.

One check runs at a time for the whole app; ``CHECKS_WAITING`` more may wait their turn, and any
beyond that are told the check is busy. The child also runs the split training would make
(``splits.table_splits`` with the default settings), so a file the check accepts is one training
accepts: all rows marked ``test``, or a class with no training row, is refused here.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from sentiment_core.data import DataError, LabelledTable
from sentiment_core.data.limits import CHECK_MEMORY, CHECK_SECONDS, CHECKS_WAITING, MAX_CLASSES_DEFAULT
from sentiment_core.processes import die_with_parent

from .turns import Busy, Turns, start_child

CheckBusy = Busy  # too many data checks at once: the visitor should try again



def _heap_in_use() -> int:
    """Bytes of this process's data segment (``VmData``): what its imports already hold."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


def limit_memory(extra: int) -> None:
    """Let this process's heap grow by at most ``extra`` bytes from here (``RLIMIT_DATA``)."""
    limit = _heap_in_use() + extra
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def _child(request: dict[str, Any]) -> dict[str, Any]:
    """A check in the child: the table's fields, or what is wrong with the file."""
    import pyarrow.parquet  # noqa: F401 - imported before the limit, like torch: only the reading is bounded

    from sentiment_core.config import TrainConfig
    from sentiment_core.data.splits import table_splits
    from sentiment_core.data.table import inspect_table

    path = request["path"]
    limit_memory(request["memory"])
    try:
        table = inspect_table(path, *request["columns"], max_classes=request["max_classes"])
        table_splits(table, TrainConfig())  # what training would refuse is refused now
        return {"ok": {**vars(table), "path": str(table.path)}}
    except DataError as exc:
        return {"refused": str(exc)}
    except MemoryError:
        return {"refused": f"{path}: reading it needs more than {request['memory'] / 2**20:,.0f} MiB of memory"}
    except Exception as exc:  # anything else is a bug or a file this reader chokes on: still an answer
        return {"refused": f"{path}: could not be read ({type(exc).__name__}: {str(exc)[:200]})"}


def main() -> None:
    """``python -m demo.services.data_check``: one request as JSON on stdin, its answer as JSON on stdout."""
    request = json.loads(sys.stdin.read())
    die_with_parent(request["parent"], kernel_signal=False)  # started from a request thread, which may end first
    answer = _child(request)
    sys.stdout.write(json.dumps(answer))


class DataChecker:
    """Runs data checks in child processes, one at a time, with ``waiting`` more queued at most."""

    def __init__(self, memory: int = CHECK_MEMORY.value, seconds: float = CHECK_SECONDS.value,
                 waiting: int = CHECKS_WAITING.value) -> None:
        self.memory, self.seconds = memory, seconds
        self.turns = Turns(waiting, seconds, "The data check is busy with other files; try again in a minute.")

    def check(self, path: str | Path, text_column: str = "", label_column: str = "", split_column: str = "",
              max_classes: int = MAX_CLASSES_DEFAULT.value) -> LabelledTable:
        """The checked table of ``path``; a ``DataError`` saying what is wrong, or ``CheckBusy``."""
        with self.turns.take():
            return self._run(str(path), (text_column, label_column, split_column), max_classes)

    def _run(self, path: str, columns: tuple[str, str, str], max_classes: int) -> LabelledTable:
        request = {"path": path, "columns": columns, "max_classes": max_classes, "memory": self.memory,
                   "parent": os.getpid()}
        # Arrow's default allocator (mimalloc) reserves 1 GiB at its first allocation, which a heap limit
        # refuses outright; the system allocator takes what it uses.
        process = start_child("demo.services.data_check", {"ARROW_DEFAULT_MEMORY_POOL": "system"})
        try:
            out, _ = process.communicate(json.dumps(request).encode(), timeout=self.seconds)
        except subprocess.TimeoutExpired:
            raise DataError(f"{path}: checking it took longer than {self.seconds:g} s; use a smaller file") from None
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        try:
            answer = json.loads(out)
        except ValueError:  # killed: out of memory in a way Python could not catch
            raise DataError(f"{path}: reading it needs more than {self.memory / 2**20:,.0f} MiB of memory") from None
        if "ok" not in answer:
            raise DataError(answer["refused"])
        return LabelledTable(**{**answer["ok"], "path": Path(answer["ok"]["path"])})


CHECKER = DataChecker()  # the app's one queue of data checks


if __name__ == "__main__":
    main()
