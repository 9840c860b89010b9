"""Start the web app: ``python app.py`` serves it on http://127.0.0.1:7860 with the shipped model.

    python app.py [--host 0.0.0.0] [--port 7860] [--share] [--runs-dir runs] [--data aclImdb_v1.tar.gz]
                  [--max-train-samples N] [--no-training] [--training-password SECRET]

Every option also has an environment variable (GRADIO_SERVER_NAME, GRADIO_SERVER_PORT,
SENTIMENT_RUNS_DIR, SENTIMENT_DATA, SENTIMENT_MAX_TRAIN_SAMPLES, SENTIMENT_DISABLE_TRAINING=1,
SENTIMENT_TRAINING_PASSWORD, ...), which is how a Hugging Face Space configures it. ``demo`` is
built on first access from those variables, for tools that import this file and look for it
(``gradio app.py`` reload mode).

Imports of Gradio and torch wait until they are needed: a training run's child process
re-imports this file, and must not load a web framework it never uses.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys


def _count(minimum: int):
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value

    return parse


def _data(text: str) -> str:
    """An argparse type: 'download', or an IMDB archive or aclImdb/ folder that a run can read."""
    from demo.services import datasource

    data = datasource.setting(text)
    trouble = datasource.problem(data)
    if trouble:
        raise argparse.ArgumentTypeError(trouble)
    return data


def _size(text: str) -> int:
    """An argparse type: a size in bytes, such as 2GB, 500MB or 0 (none)."""
    from demo.services.quota import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Movie-review sentiment web app (classify, explain, train).")
    parser.add_argument("--host", default=None,
                        help="address to listen on (default: $GRADIO_SERVER_NAME, else 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=None,
                        help="port (default: $GRADIO_SERVER_PORT, else the first free one from 7860)")
    parser.add_argument("--share", action="store_true", help="also serve a temporary public gradio.live link")
    parser.add_argument("--checkpoint-dir", default=os.environ.get("SENTIMENT_CHECKPOINT_DIR"),
                        help="folder of shipped models (default: checkpoints/; $SENTIMENT_CHECKPOINT_DIR)")
    parser.add_argument("--runs-dir", default=os.environ.get("SENTIMENT_RUNS_DIR"),
                        help="folder where runs trained in the app are saved (default: $SENTIMENT_RUNS_DIR, else "
                             "runs/ on persistent storage, /data or $SENTIMENT_PERSISTENT_DIR, when it is writable, "
                             "with the caches beside it; else runs/ here)")
    parser.add_argument("--data", type=_data, default=os.environ.get("SENTIMENT_DATA") or "download",
                        help="IMDB reviews for training runs: an aclImdb_v1.tar.gz archive, an unpacked aclImdb/ "
                             "folder, or 'download' (the official 84 MB archive, fetched on the first run into "
                             "~/.cache/sentiment_core; $SENTIMENT_CACHE_DIR moves it) (default: $SENTIMENT_DATA, "
                             "else download)")
    parser.add_argument("--model", default=os.environ.get("SENTIMENT_MODEL"),
                        help="model selected at start (default: checkpoints/default.safetensors; $SENTIMENT_MODEL)")
    parser.add_argument("--max-train-samples", type=_count(0),
                        default=os.environ.get("SENTIMENT_MAX_TRAIN_SAMPLES") or None,
                        help="cap on training and evaluation reviews per run, for public servers "
                             "($SENTIMENT_MAX_TRAIN_SAMPLES)")
    parser.add_argument("--no-training", action="store_true", default=_env_flag("SENTIMENT_DISABLE_TRAINING"),
                        help="classify only: the Train tab says training is disabled ($SENTIMENT_DISABLE_TRAINING=1)")
    parser.add_argument("--training-password", default=os.environ.get("SENTIMENT_TRAINING_PASSWORD") or None,
                        help="when set, starting and stopping a training run needs it, for public servers "
                             "($SENTIMENT_TRAINING_PASSWORD)")
    parser.add_argument("--train-data-dir", default=os.environ.get("SENTIMENT_TRAIN_DATA_DIR") or None,
                        help="a folder of labelled .csv/.tsv/.jsonl/.parquet files the Train tab may train on by name "
                             "(default: none, files are uploaded; $SENTIMENT_TRAIN_DATA_DIR)")
    parser.add_argument("--runs-quota", type=_size, default=os.environ.get("SENTIMENT_RUNS_QUOTA") or "2GB",
                        help="disk the runs folder may fill (checkpoints, cards, data copies) before the oldest "
                             "unpinned runs are removed, e.g. 2GB, 500MB, 0 for none; shipped models are never "
                             "counted ($SENTIMENT_RUNS_QUOTA; default 2GB)")
    parser.add_argument("--threads", type=_count(1), default=os.environ.get("SENTIMENT_TORCH_THREADS") or None,
                        help="torch CPU threads of the web server ($SENTIMENT_TORCH_THREADS; default: from the "
                             "measured budget, see the README)")
    parser.add_argument("--train-threads", type=_count(1), default=os.environ.get("SENTIMENT_TRAIN_THREADS") or None,
                        help="torch CPU threads of a training run's process ($SENTIMENT_TRAIN_THREADS; default: "
                             "from the measured budget)")
    return parser.parse_args(argv)


def _build(args: argparse.Namespace):
    from demo import build_demo
    from demo.services import storage
    from demo.services.public import is_public
    from demo.services.worker import TrainingWorker

    cache = storage.default_cache_dir()
    if not args.runs_dir and cache is not None:
        # A Space's persistent storage keeps the download and token caches too (training children inherit it).
        os.environ.setdefault("SENTIMENT_CACHE_DIR", str(cache))

    return build_demo(checkpoint_dir=args.checkpoint_dir, runs_dir=args.runs_dir, default_model=args.model,
                      allow_training=not args.no_training, max_train_samples=args.max_train_samples,
                      training_password=args.training_password, worker=TrainingWorker(threads=args.train_threads),
                      data=args.data, train_data_dir=args.train_data_dir, runs_quota=args.runs_quota,
                      public=is_public(args.host or os.environ.get("GRADIO_SERVER_NAME"), args.share,
                                       space=bool(os.environ.get("SPACE_ID"))))


def _exit_on_sigterm(signum, frame) -> None:
    # Raising SystemExit in the main thread runs the atexit hooks: a training child is stopped
    # (keeping its best checkpoint) and temporary files are removed, instead of dying unannounced.
    sys.exit(128 + signum)


def __getattr__(name: str):
    # Build ``demo`` only when someone asks for it: importing this file starts nothing.
    if name == "demo":
        globals()["demo"] = _build(parse_args([]))
        return globals()["demo"]
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> None:
    global demo  # the launched app, where ``gradio app.py`` reload mode looks for it
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("demo", "sentiment_core"):
        logging.getLogger(name).setLevel(logging.INFO)
    import torch

    from demo import launch_options
    from demo.services.uploads import MAX_UPLOAD_MB  # the batch tab refuses files over 5 MB with its own message
    from demo.services.worker import thread_budget

    torch.set_num_threads(args.threads or thread_budget()[0])
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    demo = _build(args)
    # Gradio's own startup lines would tell the user to set share=True in launch(): say --share instead.
    demo.launch(server_name=args.host, server_port=args.port, share=args.share or None, quiet=not args.share,
                prevent_thread_lock=True, max_file_size=f"{MAX_UPLOAD_MB}mb", **launch_options())
    if not args.share:
        print(startup_lines(demo.local_url), flush=True)
    demo.block_thread()


def startup_lines(local_url: str) -> str:
    """What the app prints once it serves, without a public link."""
    return f"* Running on local URL:  {local_url}\n* To create a public link, start the app with --share."


if __name__ == "__main__":
    main()
