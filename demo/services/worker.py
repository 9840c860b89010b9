"""Training runs in a child process, watched from the app (no Gradio here).

    worker = TrainingWorker()
    worker.start(Run(name, path, preset, settings), model_cfg, train_cfg, info)
    worker.snapshot()   # (version, copy of the latest run) for any page, opened at any time
    worker.stop()       # the child stops at the next batch; a child that doesn't is terminated

Each run is a fresh ``spawn``-ed process: it shares no GIL, random state or torch settings with
the web server, and a crash, a hang or an out-of-memory kill of it leaves the server serving.
The child sends every training event over a pipe; a thread in the app records them in the run's
history, and enforces Stop:

    stop during data reading / tokenizing / word vectors   child ends within STOP_PREPARING_S,
                                                            else it is terminated; no checkpoint
    stop during training                                    child acknowledges at the next batch,
                                                            then validates and saves its best
                                                            checkpoint; silent for STOP_GRACE_S:
                                                            terminated (saves are atomic)
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentiment_core.card import write_card
from sentiment_core.config import ModelConfig, TrainConfig, to_dict

from . import child, run_state

log = logging.getLogger(__name__)

STOP_PREPARING_S = 1.5  # a stop before training: the child must be gone by then
STOP_GRACE_S = 5.0  # a stop during training: the child must acknowledge it by then
FINAL_SAVE_S = 300.0  # after acknowledging, time to validate and save the best checkpoint
TERMINATE_S = 2.0  # after SIGTERM, before SIGKILL


@dataclass
class Run:
    """One training run: its settings and everything the trainer has reported so far."""

    name: str
    path: str
    preset: str
    settings: dict[str, Any]
    examples: str = "reviews"  # what the run's data calls one example: reviews of IMDB, rows of a labelled file
    status: str = "preparing"  # preparing | training | finished | stopped | failed
    stage: str = "starting"  # a line about data loading, empty once training runs
    events: list[dict[str, Any]] = field(default_factory=list)  # each event's to_dict(), in order
    error: str = ""
    stop_requested: bool = False
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None

    @property
    def running(self) -> bool:
        return self.status in ("preparing", "training")

    def last(self, kind: str) -> dict[str, Any] | None:
        return next((e for e in reversed(self.events) if e["kind"] == kind), None)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]

    def copy(self) -> Run:
        return dataclasses.replace(self, events=list(self.events), settings=dict(self.settings))


class TrainingBusyError(RuntimeError):
    """A training run is already in progress."""


@dataclass
class _Job:
    """The process behind the latest run, and what the watcher knows of it."""

    run: Run
    process: Any  # multiprocessing Process (spawn context)
    conn: Any  # receiving end of the child's pipe
    stop: Any  # multiprocessing Event the child polls between batches
    stepped: bool = False  # a training step has run: a stop now keeps a checkpoint
    acknowledged: bool = False  # the child has seen the stop and is saving
    deadline: float | None = None  # monotonic time after which the child is terminated
    terminated: bool = False
    saved: str = ""  # the best checkpoint written so far
    data: str = ""  # the data setting the run reads (a labelled file's copy in the runs folder, or IMDB's)


def thread_budget(cores: int | None = None) -> tuple[int, int]:
    """(torch threads of the web server, of a training child) for a machine with ``cores`` cores.

    Measured on 2 cores (``bench/bench_threads.py``, figures in the README): one thread each keeps
    classification as fast as on an idle machine and training at full speed, while two threads
    in either process make both spin-wait on the shared cores, 2-3x slower. Larger machines give
    the training child every core but the server's (not measured: no such machine here).
    """
    cores = cores or os.cpu_count() or 1
    if cores <= 2:
        return 1, 1
    serve = 1 if cores <= 4 else 2
    return serve, cores - serve


class TrainingWorker:
    """Runs one training child process at a time and keeps every run's history for the pages."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or thread_budget()[1]
        self._lock = threading.Lock()
        self._runs: list[Run] = []  # this app session's runs, oldest first
        self._job: _Job | None = None
        self._watcher: threading.Thread | None = None
        self._version = 0  # bumped on every change, so pages redraw only when something happened
        self._context = mp.get_context("spawn")  # fork would copy the server's threads and locks
        self.after_run: list[Callable[[], None]] = []  # called (in the watcher thread) once a run has ended

    # -- control -----------------------------------------------------------------------------------

    def start(self, run: Run, model_cfg: ModelConfig, train_cfg: TrainConfig, info: dict[str, Any]) -> Run:
        """Start ``run`` in a new child process; ``TrainingBusyError`` if one is already running."""
        with self._lock:
            if self._runs and self._runs[-1].running:
                raise TrainingBusyError(f"run '{self._runs[-1].name}' is in progress")
            stop = self._context.Event()
            receive, send = self._context.Pipe(duplex=False)
            spec = {"model": to_dict(model_cfg), "train": to_dict(train_cfg), "info": info, "threads": self.threads,
                    "parent": os.getpid()}
            process = self._context.Process(target=child.main, args=(spec, send, stop), name=f"train-{run.name}")
            process.start()
            send.close()  # the child holds the only writing end: its exit ends the pipe
            self._job = job = _Job(run, process, receive, stop, data=train_cfg.data)
            self._runs.append(run)
            self._version += 1
            run_state.save(run, "")
            self._watcher = threading.Thread(target=self._watch, args=(job,), name=f"watch-{run.name}", daemon=True)
            self._watcher.start()
        return run

    def data_in_use(self) -> list[str]:
        """The data setting of the run in progress (none if no run is going)."""
        with self._lock:
            job = self._job
            return [job.data] if job is not None and job.run.running and job.data else []

    def stop(self) -> bool:
        """Ask the current run to stop; False if nothing is running."""
        with self._lock:
            job = self._job
            if job is None or not job.run.running or job.run.stop_requested:
                return job is not None and job.run.running
            # Set under the lock: a run that starts right after must not receive this stop.
            job.run.stop_requested = True
            job.stop.set()
            job.deadline = time.monotonic() + (STOP_GRACE_S if job.stepped else STOP_PREPARING_S)
            self._version += 1
        return True

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the current run has ended and been recorded; True if it has."""
        watcher = self._watcher
        if watcher is not None:
            watcher.join(timeout)
            return not watcher.is_alive()
        return True

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop the current run (it saves its best checkpoint) and wait for it, e.g. at exit."""
        self.stop()
        if not self.join(timeout):
            job = self._job
            if job is not None and job.process.is_alive():
                job.process.kill()
            self.join(TERMINATE_S)

    def restore(self, runs_dir: str | Path) -> None:
        """Show the runs a restart interrupted (``run_state.recover``) as this session's first runs."""
        runs = [Run(**run_state.run_fields(state)) for state in run_state.recover(runs_dir)]
        with self._lock:
            self._runs[:0] = runs
            self._version += 1

    # -- state for the pages -----------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The current child's process id, while it runs."""
        job = self._job
        return job.process.pid if job is not None and job.process.is_alive() else None

    def snapshot(self) -> tuple[int, Run | None]:
        """(version, a copy of the latest run): safe to read while the watcher appends."""
        with self._lock:
            return self._version, (self._runs[-1].copy() if self._runs else None)

    def runs(self) -> list[Run]:
        """Copies of every run of this app session, oldest first."""
        with self._lock:
            return [r.copy() for r in self._runs]

    # -- the watcher thread ------------------------------------------------------------------------

    def _record(self, job: _Job, event: dict[str, Any]) -> None:
        """Apply one message of the child to its run."""
        run, kind = job.run, event["kind"]
        with self._lock:
            if kind == "Stage":  # data-loading progress: a status line, not history
                run.stage = event["message"]
            elif kind == "StopAck":  # it has stopped stepping and is saving: give it time
                job.acknowledged = True
                job.deadline = time.monotonic() + FINAL_SAVE_S
            else:
                run.events.append(event)
                if kind == "Status":  # a slow preparation step, e.g. computing word vectors
                    run.stage = event["message"]
                elif kind == "Started":
                    run.status, run.stage = "training", ""
                elif kind == "Step" and not job.stepped:
                    job.stepped = True
                    if run.stop_requested and not job.acknowledged:
                        job.deadline = time.monotonic() + STOP_GRACE_S
                elif kind == "CheckpointSaved":
                    job.saved = event["path"]
                elif kind == "Finished":
                    run.status, run.error, run.ended_at = event["status"], event["error"], time.time()
                    if event.get("stage"):
                        run.stage = event["stage"]
                if kind in run_state.RECORDED:
                    run_state.save(run, job.saved)
            self._version += 1

    def _watch(self, job: _Job) -> None:
        try:
            while True:
                if job.deadline is not None and time.monotonic() > job.deadline and job.process.is_alive():
                    self._terminate(job)
                try:
                    if job.conn.poll(0.1):
                        self._record(job, job.conn.recv())
                except (EOFError, OSError):  # the child has exited and its pipe is closed
                    break
                except Exception:  # a message cut short by a kill mid-send: the child is gone or going
                    log.exception("unreadable message from training run %s", job.run.name)
                    break
        finally:
            job.process.join(TERMINATE_S)
            if job.process.is_alive():
                job.process.kill()
                job.process.join()
            job.conn.close()
            self._ended(job)

    def _terminate(self, job: _Job) -> None:
        log.warning("training run %s did not stop in time; terminating its process", job.run.name)
        job.terminated = True
        job.deadline = None
        job.process.terminate()
        job.process.join(TERMINATE_S)
        if job.process.is_alive():
            job.process.kill()

    def _ended(self, job: _Job) -> None:
        """The child is gone: make sure its run says how it ended, and card what it saved."""
        run = job.run
        if run.running:
            if job.terminated and run.stop_requested:
                status, error = "stopped", ""
                stage = "stopped; the best checkpoint so far is kept" if job.saved else (
                    "stopped before training began; no checkpoint was saved")
            else:
                status, stage = "failed", run.stage
                error = f"the training process {run_state.exit_reason(job.process.exitcode)}"
                if job.saved:
                    error += f"; the best checkpoint so far is kept at {job.saved}"
            with self._lock:
                run.status, run.error, run.stage, run.ended_at = status, error, stage, time.time()
                run.events.append({"kind": "Finished", "status": status, "path": job.saved, "val": {}, "test": {},
                                   "elapsed_s": time.time() - run.started_at, "error": error})
                run_state.save(run, job.saved)
                self._version += 1
        if job.saved and Path(job.saved).is_file():
            try:
                write_card(job.saved)
            except Exception:  # the checkpoint is fine; only its Markdown card is missing
                log.exception("could not write the model card of %s", job.saved)
        with self._lock:
            self._version += 1
        for hook in list(self.after_run):
            try:
                hook()
            except Exception:  # housekeeping: the run itself has ended well or not, as recorded
                log.exception("an after-run hook failed")
