"""The models the app offers: shipped checkpoints and runs trained in the app, with cached predictors.

A model's key is ``shipped/<stem>``, ``runs/<stem>`` or ``given/<stem>`` (a default model from
elsewhere); what each model is, read from its header, is a ``model_entry.ModelEntry``. Listing reads
only checkpoint headers (cached per file version); predictors are loaded on first use and cached per path and mtime, so
switching models is immediate and a re-saved checkpoint is reloaded.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentiment_core import CheckpointError, Predictor
from sentiment_core import markdown as md
from sentiment_core.card import render_card
from sentiment_core.checkpoint import read_metadata
from sentiment_core.checkpoint_header import LanguageModelNotClassifier

# What one model is (labels, positive class, training data, summaries) lives in model_entry; the names
# stay importable from here.
from .model_entry import POLARITY, ModelEntry, Stamp, TrainingData

__all__ = ["META_CACHE_SIZE", "POLARITY", "RACY_S", "SCAN_TTL_S", "ModelEntry", "ModelRegistry", "Stamp",
           "TrainingData"]

log = logging.getLogger(__name__)

SCAN_TTL_S = 2.0  # a file rewritten in place (no folder change) is seen within this long
RACY_S = 1.0  # a folder changed this recently is rescanned on the next call (its mtime may not move again)
META_CACHE_SIZE = 256  # checkpoint headers kept; those of files that are gone are dropped at each scan


@dataclass(frozen=True)
class _Snapshot:
    """One scan of the folders: what was found, and until when it holds."""

    state: tuple  # the folders' and default model's (mtime_ns, size) when scanned
    fresh_until: float  # time.monotonic() after which the folders are scanned again
    entries: list[ModelEntry]
    problems: list[str]
    files: tuple  # (key, stamp) of every checkpoint file, usable or not
    default: str | None


class ModelRegistry:
    """Lists checkpoints in the shipped and runs folders and hands out cached predictors.

    The list is a snapshot, rescanned only when a folder's modification time changes (a checkpoint
    added, removed or saved by rename) or after ``scan_ttl_s`` (a file rewritten in place): a request
    costs a few ``stat`` calls, never a listing of the folders.
    """

    def __init__(self, checkpoint_dir: str | os.PathLike, runs_dir: str | os.PathLike,
                 default_model: str | os.PathLike | None = None, cache_size: int = 6,
                 scan_ttl_s: float = SCAN_TTL_S):
        self.folders = {"shipped": Path(checkpoint_dir), "runs": Path(runs_dir)}
        self.default_model = Path(default_model) if default_model else None
        self.cache_size = cache_size
        self.scan_ttl_s = scan_ttl_s
        self._meta: OrderedDict[Stamp, dict[str, Any] | CheckpointError] = OrderedDict()
        self._predictors: OrderedDict[Stamp, Predictor] = OrderedDict()
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()
        self._scan_lock = threading.Lock()  # one rescan at a time; readers keep the last snapshot meanwhile

    def _files(self) -> list[tuple[str, Path]]:
        out = []
        for origin, folder in self.folders.items():
            if folder.is_dir():
                out += [(f"{origin}/{p.stem}", p) for p in sorted(folder.glob("*.safetensors"))]
        # A default model given from elsewhere (``--model path``) is listed too.
        model = self.default_model
        if model is not None and model.is_file() and all(model.resolve() != p.resolve() for _, p in out):
            out.insert(0, (f"given/{model.stem}", model))
        return out

    @staticmethod
    def _stamp(path: Path) -> Stamp | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return str(path.resolve()), st.st_mtime_ns, st.st_size

    def _folder_state(self) -> tuple:
        """What tells a snapshot is stale: each folder's and the default model's modification time."""
        state = []
        for path in (*self.folders.values(), self.default_model):
            try:
                st = path.stat() if path is not None else None
            except OSError:
                st = None
            state.append(None if st is None else (st.st_mtime_ns, st.st_size))
        return tuple(state)

    def _metadata(self, path: Path, stamp: Stamp) -> dict[str, Any] | CheckpointError:
        with self._lock:
            cached = self._meta.get(stamp)
        if cached is None:
            try:
                cached = read_metadata(path)
            except LanguageModelNotClassifier as exc:
                cached = exc
            except CheckpointError as exc:
                log.warning("skipping unusable checkpoint %s", exc)
                cached = exc
            with self._lock:
                self._meta[stamp] = cached
        return cached

    def _rescan(self, state: tuple, now: float) -> _Snapshot:
        files, entries, problems = [], [], []
        for key, path in self._files():
            stamp = self._stamp(path)
            if stamp is None:  # removed between listing and reading
                continue
            files.append((key, stamp))
            meta = self._metadata(path, stamp)
            if isinstance(meta, LanguageModelNotClassifier):  # a pretrained reader, for the Train tab: not listed
                continue
            if isinstance(meta, CheckpointError):
                problems.append(f"{md.code(path.name)} in {key.split('/')[0]}: {md.text(meta.problem)}")
            else:
                entries.append(ModelEntry(key, path, meta, stamp))
        default = None
        if self.default_model is not None:
            target = self._stamp(self.default_model)
            default = next((e.key for e in entries if target and e.stamp == target), None)
        with self._lock:
            # Headers of files that are gone or rewritten go; the rest stay, at most META_CACHE_SIZE.
            current = {stamp for _, stamp in files}
            for stamp in [s for s in self._meta if s not in current]:
                del self._meta[stamp]
            while len(self._meta) > META_CACHE_SIZE:
                self._meta.popitem(last=False)
        # A folder changed within the last RACY_S may change again within its clock's tick, unseen: recheck soon.
        changed = max((s[0] for s in state[: len(self.folders)] if s is not None), default=0) / 1e9
        fresh_until = now + (0.0 if time.time() - changed < RACY_S else self.scan_ttl_s)
        return _Snapshot(state, fresh_until, entries, problems, tuple(files),
                         default or (entries[0].key if entries else None))

    def _current(self) -> _Snapshot:
        """The snapshot of the folders, rescanned when they changed or it is older than the TTL."""
        state = self._folder_state()
        snap = self._snapshot
        if snap is not None and snap.state == state and time.monotonic() < snap.fresh_until:
            return snap
        with self._scan_lock:
            snap = self._snapshot
            if snap is None or snap.state != state or time.monotonic() >= snap.fresh_until:
                snap = self._snapshot = self._rescan(state, time.monotonic())
        return snap

    def refresh(self) -> None:
        """Forget the snapshot: the next call rescans the folders."""
        self._snapshot = None

    def signature(self) -> tuple:
        """Changes whenever a checkpoint is added, removed or rewritten: cheap to poll."""
        return self._current().files

    def scan(self) -> tuple[list[ModelEntry], list[str]]:
        """Usable models (shipped first) and one message per unusable file."""
        snap = self._current()
        return list(snap.entries), list(snap.problems)

    def choices(self) -> list[tuple[str, str]]:
        """(label, key) pairs for a dropdown."""
        return [(e.label, e.key) for e in self.scan()[0]]

    def default_key(self) -> str | None:
        """The default model's key if it is usable, else the first usable model, else None."""
        return self._current().default

    def entry(self, key: str) -> ModelEntry:
        """The usable model named ``key``; KeyError if there is none (any more)."""
        for e in self._current().entries:
            if e.key == key:
                return e
        raise KeyError(key)

    def predictor(self, key: str) -> Predictor:
        """A loaded predictor for ``key``, from the cache when the file hasn't changed.

        The file itself is checked on every call (one ``stat``), so a checkpoint saved over is
        reloaded at once, whatever the age of the list.
        """
        entry = self.entry(key)
        path = Path(entry.stamp[0])
        try:
            st = path.stat()
        except OSError:
            raise KeyError(key) from None
        stamp = (entry.stamp[0], st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp in self._predictors:
                self._predictors.move_to_end(stamp)
                return self._predictors[stamp]
        predictor = Predictor.from_checkpoint(path)
        with self._lock:
            self._predictors[stamp] = predictor
            while len(self._predictors) > self.cache_size:
                self._predictors.popitem(last=False)
        return predictor

    def card(self, key: str) -> str:
        """The full Markdown model card of ``key``."""
        path = self.entry(key).path
        try:
            return render_card(path)
        except (CheckpointError, KeyError, TypeError, ValueError) as exc:
            # A header from an older or hand-made checkpoint may lack fields the card prints.
            return f"The card of {md.code(path.name)} could not be rendered ({type(exc).__name__}: {exc})."

    def history(self, key: str) -> list[dict[str, Any]]:
        """Per-epoch train/validation history recorded in the checkpoint (may be empty)."""
        return self.entry(key).history
