"""Start the web app: ``python app.py`` serves it on http://127.0.0.1:7860 with the shipped model.

    python app.py [--host 0.0.0.0] [--port 7860] [--share] [--runs-dir runs]
                  [--max-train-samples N] [--no-training]

Every option also has an environment variable (GRADIO_SERVER_NAME, GRADIO_SERVER_PORT,
SENTIMENT_RUNS_DIR, SENTIMENT_MAX_TRAIN_SAMPLES, SENTIMENT_DISABLE_TRAINING=1, ...), which is how
a Hugging Face Space configures it. ``demo`` is built on first access from those variables, for
tools that import this file and look for it (``gradio app.py`` reload mode).
"""

from __future__ import annotations

import argparse
import logging
import os

from demo import build_demo, launch_options

MAX_UPLOAD = "20mb"  # the batch tab refuses files over 5 MB with its own message; this stops huge ones early
# A training run and several classifications share this process. On a small machine each torch
# op's threads then outnumber the cores and spin-wait on each other: measured on 2 busy cores, a
# 270-token explanation took 5.7 s with torch's 2 threads and 0.56 s with 1.
SMALL_MACHINE = 4


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


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
                        help="folder where runs trained in the app are saved (default: runs/; $SENTIMENT_RUNS_DIR)")
    parser.add_argument("--model", default=os.environ.get("SENTIMENT_MODEL"),
                        help="model selected at start (default: checkpoints/default.safetensors; $SENTIMENT_MODEL)")
    parser.add_argument("--max-train-samples", type=int, default=_env_int("SENTIMENT_MAX_TRAIN_SAMPLES"),
                        help="cap on training and evaluation reviews per run, for public servers "
                             "($SENTIMENT_MAX_TRAIN_SAMPLES)")
    parser.add_argument("--no-training", action="store_true", default=_env_flag("SENTIMENT_DISABLE_TRAINING"),
                        help="classify only: the Train tab says training is disabled ($SENTIMENT_DISABLE_TRAINING=1)")
    parser.add_argument("--threads", type=int, default=_env_int("SENTIMENT_TORCH_THREADS"),
                        help="torch CPU threads for the whole server ($SENTIMENT_TORCH_THREADS; default: 1 on "
                             f"machines with up to {SMALL_MACHINE} cores, else torch's choice)")
    return parser.parse_args(argv)


def _build(args: argparse.Namespace):
    return build_demo(checkpoint_dir=args.checkpoint_dir, runs_dir=args.runs_dir, default_model=args.model,
                      allow_training=not args.no_training, max_train_samples=args.max_train_samples)


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
    threads = args.threads or (1 if (os.cpu_count() or 1) <= SMALL_MACHINE else None)
    if threads:
        import torch

        torch.set_num_threads(threads)
    demo = _build(args)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share or None, max_file_size=MAX_UPLOAD,
                **launch_options())


if __name__ == "__main__":
    main()
