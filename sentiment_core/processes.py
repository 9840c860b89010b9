"""Child processes that die with their parent (tokenizer workers, the app's training runs and scorings),
and that yield the CPU to the web server (``yield_cpu``).

On Linux the kernel can send SIGKILL to a process whose parent dies (``prctl(PR_SET_PDEATHSIG)``);
otherwise a thread in the child exits it once its parent is gone (an orphan is re-parented, so its
parent pid changes, within half a second). Either way, a parent killed with SIGKILL leaves no
orphan behind.

The kernel's signal has a catch: it fires when the *thread* that started the child ends, not the
process. A child started from a short-lived thread (a web server's request thread starting a
training run) must rely on the watching thread alone, or it dies when that thread is recycled.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
BACKGROUND_NICENESS = 10  # a background job (a training run, a scoring) yields the CPU to the web server


def yield_cpu(niceness: int = BACKGROUND_NICENESS) -> None:
    """Lower this process's priority, so visitors' requests come first (nothing where ``os.nice`` is missing)."""
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice (Windows)
        os.nice(niceness)


def _set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where that isn't available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int, interval: float = 0.5, end: Callable[[int], object] = os._exit) -> None:
    """Exit once the parent is gone."""
    while os.getppid() == parent:
        time.sleep(interval)
    end(1)


def die_with_parent(parent: int, kernel_signal: bool = True) -> None:
    """Make this process end when ``parent`` (the pid that started it) dies, however it dies.

    ``kernel_signal=False`` when the starting thread may end before the parent process does.
    """
    if kernel_signal and _set_parent_death_signal():
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)
        return
    threading.Thread(target=_watch_parent, args=(parent,), name="watch-parent", daemon=True).start()
