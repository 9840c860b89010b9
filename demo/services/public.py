"""Public mode: training on a public server without a password, within caps (no Gradio here).

A server is public when it binds a non-local address (as on a Hugging Face Space) or serves a
``--share`` link. Without a training password it trains in public mode:

    each run          at most the ``public_max`` of each setting (``sentiment_core.config``: the one
                      table of bounds has the public caps as a tighter column), and WALL_S seconds
                      from Start (then it is stopped and keeps its best checkpoint)
    each visitor      one run, then COOLDOWN_S seconds before the next (by browser token and address)
    Stop              only the visitor whose browser token started the run

The browser token is a random string kept in the visitor's browser (``gr.BrowserState``); an API
caller sends any string of its own as the ``password`` argument, and Stop needs the same string.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import math
import threading
import time
from typing import Any

from sentiment_core import ModelConfig, TrainConfig

from .user_input import UserInputError

WALL_S = 300  # a public run is stopped this long after Start: 5 minutes on a 2-core Space
COOLDOWN_S = 600  # after starting a run, a visitor waits this long before the next
MIN_TOKEN = 16  # characters of a browser token: a guessable one would let others stop the run
MAX_TOKEN = 200
LOCAL_HOSTS = ("", "127.0.0.1", "localhost", "::1")


def is_public(host: str | None, share: bool = False, space: bool = False) -> bool:
    """Whether the app is reachable by strangers: a ``--share`` link, a Space, or a non-loopback address."""
    if share or space:
        return True
    host = (host or "").strip()
    if host in LOCAL_HOSTS:
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost
        return True


def caps() -> dict[str, int | float]:
    """Each setting's public maximum, from the config fields' ``public_max``."""
    return {f.name: f.metadata["public_max"] for cls in (ModelConfig, TrainConfig) for f in dataclasses.fields(cls)
            if "public_max" in f.metadata}


def cap_configs(model_cfg: ModelConfig, train_cfg: TrainConfig) -> tuple[ModelConfig, TrainConfig, list[str]]:
    """The configs with every setting over its public maximum lowered to it (0 = all counts as over), and a
    note per setting lowered."""
    notes, limits = [], caps()
    changed: list[dict[str, Any]] = [{}, {}]
    for i, cfg in enumerate((model_cfg, train_cfg)):
        for f in dataclasses.fields(cfg):
            if f.name in limits:
                value, most = getattr(cfg, f.name), limits[f.name]
                if value > most or (value == 0 and f.name.startswith("max_")):
                    changed[i][f.name] = most
                    notes.append(f"{f.name} {value:,} → {most:,} (public mode)")
    return dataclasses.replace(model_cfg, **changed[0]), dataclasses.replace(train_cfg, **changed[1]), notes


def describe(wall_s: float = WALL_S, cooldown_s: float = COOLDOWN_S) -> str:
    """The Train tab's line on public mode and its caps."""
    from .form import FORM  # the page's names of the settings

    labels = {f.name: f.label.lower() for f in FORM}
    listed = ", ".join(f"{labels.get(name, name.replace('_', ' '))} {value:,}" for name, value in caps().items())
    return (f"**Public mode**: anyone may train here, within caps. Each run: at most {listed}, and "
            f"{wall_s / 60:g} minutes from Start (then it stops and keeps its best checkpoint). One run per "
            f"visitor every {cooldown_s / 60:g} minutes; only the browser that started a run can stop it. "
            "Runs and models are visible to every visitor.")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PublicTraining:
    """Who may start and stop runs in public mode, and the wall-time stop of each run."""

    def __init__(self, worker: Any, wall_s: float = WALL_S, cooldown_s: float = COOLDOWN_S) -> None:
        self.worker, self.wall_s, self.cooldown_s = worker, wall_s, cooldown_s
        self._lock = threading.Lock()
        self._last_start: dict[str, float] = {}  # token digest or client address -> monotonic time of a Start
        self._owner: tuple[str, str] | None = None  # (run name, token digest) of the latest run

    @staticmethod
    def token(given: Any) -> str:
        """The visitor's browser token, refused when missing or unfit."""
        if not isinstance(given, str) or not MIN_TOKEN <= len(given) <= MAX_TOKEN:
            raise UserInputError("This public server needs your browser's run token to start or stop a run: reload "
                                 f"the page (API callers: send a string of {MIN_TOKEN}-{MAX_TOKEN} characters of your "
                                 "own as password, and the same one to stop).")
        return given

    def admit(self, given: Any, client: str, now: float | None = None) -> str:
        """The token digest of a visitor allowed to start a run now; ``UserInputError`` while it must wait."""
        digest, now = _digest(self.token(given)), time.monotonic() if now is None else now
        with self._lock:
            last = max(self._last_start.get(digest, -math.inf), self._last_start.get(client, -math.inf))
        left = last + self.cooldown_s - now
        if left > 0:
            raise UserInputError(f"In public mode each visitor starts one run every {self.cooldown_s / 60:g} minutes: "
                                 f"try again in {math.ceil(left / 60)} min.")
        return digest

    def started(self, run_name: str, digest: str, client: str, now: float | None = None) -> None:
        """Record a run's start by its visitor and arm its wall-time stop."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._last_start[digest] = self._last_start[client] = now
            self._owner = (run_name, digest)
            cutoff = now - self.cooldown_s
            self._last_start = {k: t for k, t in self._last_start.items() if t > cutoff}
        timer = threading.Timer(self.wall_s, self._time_up, args=(run_name,))
        timer.daemon = True
        timer.start()

    def may_stop(self, given: Any) -> bool:
        """Whether ``given`` is the token that started the latest run."""
        if not isinstance(given, str) or not given:
            return False
        with self._lock:
            owner = self._owner
        return owner is not None and hmac.compare_digest(owner[1], _digest(given))

    def _time_up(self, run_name: str) -> None:
        run = self.worker.snapshot()[1]
        if run is not None and run.name == run_name and run.running:
            self.worker.stop()
