"""The Gradio app: ``build_demo(...)`` composes the Classify, Behaviour and Train tabs and the page-wide events.

Each tab is built by its own module (``tabs.classify``, ``tabs.train``), bound to this demo's model
registry and training worker (``services``), which ``build_demo`` owns: nothing is shared between two
demos built in one process.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import gradio as gr

from sentiment_core import DEFAULT_CHECKPOINT
from sentiment_core.config import default_cache_dir

from . import rest_calls
from .services import datasource, quota, storage
from .services.registry import ModelRegistry
from .services.worker import TrainingWorker
from .tabs import palette
from .tabs.behaviour import build_behaviour_tab
from .tabs.behaviour_views import CSS as BEHAVIOUR_CSS
from .tabs.classify import build_classify_tab
from .tabs.train import DISABLED, build_train_tab

ROOT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 1.0
# Gradio's upload and output cache: every half hour, files older than an hour are deleted (a run trains on
# its own copy of an upload, made when Start is pressed; a batch result is downloadable for an hour).
DELETE_CACHE = (1800, 3600)
# Events waiting in the queue, all pages together (Gradio bounds the whole queue, not each event): past it a
# visitor is told the queue is full. Each long event also has its own concurrency limit (1 unless set).
QUEUE_MAX = 200
# Sessions whose state the server keeps, the least recently used dropped first (Gradio's default: 10,000).
# Each holds about 50 KB (rest_calls.LightSessionState), and a stranger can open one a call by sending a new
# session hash: 2,000 bound that to 100 MB, and are a hundred times the visitors a 2-vCPU Space serves at once.
SESSIONS = 2000

INTRO = """\
# Movie-review sentiment with recurrent networks
Type a review and see what an RNN, LSTM or GRU trained on IMDB movie reviews makes of it, word by word;
or train your own in the **Train** tab and compare it with the shipped model."""

CSS = """
.status-box { min-height: 3.2em; }
.words-legend { font-size: var(--text-sm); color: var(--body-text-color-subdued); margin-bottom: var(--spacing-md); }
.words-text { line-height: 2.1; }
.words-text .w { padding: 0.15em 0.3em; border-radius: var(--radius-sm); }
.words-box .unknown { text-decoration: underline dotted 2px; text-underline-offset: 0.25em; }
/* A plot's title sits above the plot, not on it (Gradio floats it over the top of the chart), and the
   chart's menu (...) moves up beside it. */
.chart { position: relative; }
.chart label[data-testid="block-label"] { position: static; max-width: calc(100% - 2.5em);
  margin-bottom: var(--spacing-md); }
.chart .vega-embed { position: static !important; }
/* Wide tables (a card's metrics) scroll sideways on a phone instead of breaking words letter by letter. */
#card, #results { overflow-x: auto; }
#card th, #card td, #results th, #results td { white-space: nowrap; }
/* Tables of several columns keep their words whole and scroll sideways instead ("confid/ence"). */
#compare-table, #errors-table, #batch-table { overflow-x: auto; }
#compare-table th, #errors-table th, #batch-table th { word-break: keep-all; overflow-wrap: normal; }
#compare-table th *, #errors-table th *, #batch-table th * { white-space: nowrap; }
/* On a phone the two Train columns stack: the run (Start, Stop, its status and charts) comes first,
   so Stop and the status are never a long scroll below the settings. */
@media (max-width: 767px) {
  #train-run { order: -1; }
  #train-run .chart { min-height: 0; }
}
""" + palette.CSS + BEHAVIOUR_CSS


def launch_options() -> dict[str, Any]:
    """Theme, CSS and the session store's size for ``demo.launch`` (Gradio 6 takes them there, not in ``gr.Blocks``)."""
    return {"theme": gr.themes.Soft(primary_hue="blue"), "css": CSS, "state_session_capacity": SESSIONS}


def _cleanup(worker_ref: weakref.ref, batch_dir: Path) -> None:
    """At exit: end a run cleanly (it keeps its best checkpoint) and remove this app's temporary files."""
    worker = worker_ref()
    if worker is not None:
        worker.shutdown()
    shutil.rmtree(batch_dir, ignore_errors=True)


def _keep_disk(worker: TrainingWorker, runs_dir: Path, runs_quota: int) -> None:
    """The runs folder within its quota (the run going kept) and the caches within their bounds."""
    snapshot = worker.snapshot()[1]
    quota.enforce(runs_dir, runs_quota, keep=[snapshot.path] if snapshot is not None and snapshot.running else [])
    quota.bound_caches(Path(default_cache_dir()))


def build_demo(
    checkpoint_dir: str | os.PathLike | None = None,
    runs_dir: str | os.PathLike | None = None,
    default_model: str | os.PathLike | None = None,
    allow_training: bool = True,
    max_train_samples: int | None = None,
    training_password: str | None = None,
    worker: TrainingWorker | None = None,
    data: str | None = None,
    train_data_dir: str | os.PathLike | None = None,
    runs_quota: int = quota.DEFAULT_RUNS_QUOTA,
    public: bool = False,
) -> gr.Blocks:
    """The whole app. Nothing heavy happens here: models load on first use, data when training starts.

    checkpoint_dir: shipped models (default: the repo's ``checkpoints/``); runs_dir: where runs
    trained in the app are saved (default: ``runs/``); default_model: the model selected at
    first (default: ``checkpoint_dir/default.safetensors``); allow_training: build the Train
    tab's controls; max_train_samples: cap on training (and evaluation) reviews per run;
    training_password: when set, Start and Stop need it; worker: the training worker (default:
    a new one with this machine's thread budget); data: where training runs read the IMDB reviews,
    an archive, an ``aclImdb/`` folder or ``download`` (default: ``$SENTIMENT_DATA``, else ``download``);
    train_data_dir: a folder whose labelled files the Train tab may name (default: none; files are uploaded);
    runs_quota: bytes the runs folder may hold before its oldest unpinned runs are removed (0: no quota);
    public: strangers can reach the app (``services.public.is_public``): without a password, training is on
    in public mode, within caps.
    """
    rest_calls.install()  # plain REST calls (no session) skip Gradio's per-call copy of every block's config
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else DEFAULT_CHECKPOINT.parent
    runs_dir = Path(runs_dir) if runs_dir else storage.default_runs_dir()  # persistent storage when there is one
    default_model = Path(default_model) if default_model else checkpoint_dir / DEFAULT_CHECKPOINT.name
    cap = max_train_samples or None
    data = datasource.setting(data)
    registry = ModelRegistry(checkpoint_dir, runs_dir, default_model)
    worker = worker or TrainingWorker()
    worker.restore(runs_dir)  # runs a restart cut short show as interrupted, their best checkpoint carded
    quota.clean_start(runs_dir)
    worker.after_run.append(lambda: _keep_disk(worker, runs_dir, runs_quota))
    _keep_disk(worker, runs_dir, runs_quota)
    # The server's pid in the name lets the next instance remove this folder if this one is killed.
    batch_dir = Path(tempfile.mkdtemp(prefix=f"{quota.BATCH_PREFIX}{os.getpid()}-"))
    # A weak reference lets the demos that tests build and drop be collected.
    atexit.register(_cleanup, weakref.ref(worker), batch_dir)

    with gr.Blocks(title="Movie-review sentiment", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(INTRO)
        seen = gr.State({})  # per page: the versions it has drawn, so polls send only changes
        timer = gr.Timer(POLL_SECONDS)
        with gr.Tabs() as tabs:
            with gr.Tab("Classify", id="classify"):
                models = build_classify_tab(registry, seen, batch_dir, data)
            with gr.Tab("Behaviour", id="behaviour") as behaviour_tab:
                build_behaviour_tab(registry, behaviour_tab, tabs, models.c.text)
            train = None
            with gr.Tab("Train", id="train"):
                if allow_training:
                    train = build_train_tab(worker, registry, runs_dir, seen, cap, training_password, data,
                                            Path(train_data_dir) if train_data_dir else None, public)
                else:
                    gr.Markdown(DISABLED)

        demo.load(models.describe, [models.c.model], [models.c.model_summary, models.c.card],
                  api_visibility="private")
        if train is not None:
            demo.load(train.landing, None, [tabs], queue=False, show_progress="hidden", api_visibility="private")
            demo.load(**train.refresh_event()).then(**models.refresh_event())
            timer.tick(**train.refresh_event(), concurrency_limit=None).then(**models.refresh_event())
        else:
            demo.load(**models.refresh_event())
            timer.tick(**models.refresh_event(), concurrency_limit=None)
    demo.queue(max_size=QUEUE_MAX)
    demo.worker = worker
    return demo
