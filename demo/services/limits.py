"""Per-client rate limits: password guesses, error scorings, data checks (no Gradio here).

    PASSWORD.check(client)          # raises RateLimited while the client must wait
    PASSWORD.record(client)         # a wrong guess counts; five in a minute and the client waits a minute
    ERRORS.hit(client)              # check and count in one: each scoring asked for counts

A client is what ``client_key`` makes of a request's peer address and headers (the tabs pass them in).
The counts live in this process's memory: a restart forgets them, which costs an attacker a restart.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from .user_input import UserInputError

MAX_CLIENTS = 10_000  # clients remembered per limit; the longest idle are forgotten first


class RateLimited(UserInputError):
    """Too many attempts from one client: the message says how long to wait."""


@dataclass
class RateLimit:
    """At most ``count`` events per ``window_s`` seconds per client; past that, the client waits ``wait_s``."""

    what: str  # "password attempts", for the message
    count: int
    window_s: float
    wait_s: float
    _events: dict[str, deque] = field(default_factory=dict, repr=False)
    _blocked: dict[str, float] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait(self, client: str, now: float | None = None) -> float:
        """Seconds ``client`` must still wait (0: it may go on)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return max(0.0, self._blocked.get(client, 0.0) - now)

    def check(self, client: str, now: float | None = None) -> None:
        """Raise ``RateLimited`` while ``client`` must wait."""
        left = self.wait(client, now)
        if left > 0:
            raise RateLimited(f"Too many {self.what} from your address ({self.count} in {self.window_s:.0f} s): "
                              f"try again in {math.ceil(left)} s.")

    def record(self, client: str, now: float | None = None) -> None:
        """Count one event of ``client``; the one that reaches ``count`` within the window starts its wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            events = self._events.pop(client, None) or deque()
            self._events[client] = events  # most recently active last
            while events and now - events[0] > self.window_s:
                events.popleft()
            events.append(now)
            if len(events) >= self.count:
                self._blocked[client] = now + self.wait_s
                events.clear()
            while len(self._events) > MAX_CLIENTS:
                self._events.pop(next(iter(self._events)))
            for gone in [c for c, until in self._blocked.items() if until <= now]:
                del self._blocked[gone]

    def forget(self) -> None:
        """Forget every client's events and waits (a fresh start, as after a restart)."""
        with self._lock:
            self._events.clear()
            self._blocked.clear()

    def hit(self, client: str, now: float | None = None) -> None:
        """``check``, then ``record``: every call counts."""
        self.check(client, now)
        self.record(client, now)


def client_key(peer: str | None, forwarded_for: str | None = None) -> str:
    """Who is asking: the peer address; behind a proxy on this machine or a private network (a Space's),
    the first address of its ``X-Forwarded-For``. A public peer's header is ignored: anyone can send one."""
    peer = peer or "unknown"
    try:
        behind_proxy = ipaddress.ip_address(peer).is_private or ipaddress.ip_address(peer).is_loopback
    except ValueError:
        behind_proxy = False
    if behind_proxy and forwarded_for:
        first = forwarded_for.split(",")[0].strip()
        try:
            return str(ipaddress.ip_address(first))
        except ValueError:
            pass
    return peer


# Wrong training passwords: five a minute, then a minute's wait (80 guesses a second were possible).
PASSWORD = RateLimit("wrong password attempts", count=5, window_s=60, wait_s=60)
# Scoring a model's mistakes takes seconds to minutes of CPU when not cached.
ERRORS = RateLimit("error scorings", count=6, window_s=60, wait_s=60)
# A data check reads a whole labelled file in a child process.
DATA_CHECKS = RateLimit("data checks", count=10, window_s=60, wait_s=60)
