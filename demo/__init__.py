"""Gradio web app over ``sentiment_core``: classify and explain reviews, train and compare models.

    from demo import build_demo
    build_demo(runs_dir="runs").launch()
"""

from .ui import build_demo, launch_options

__all__ = ["build_demo", "launch_options"]
