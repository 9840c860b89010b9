"""Gradio web app over ``sentiment_core``: classify and explain reviews, train and compare models.

    from demo import build_demo
    build_demo(runs_dir="runs").launch()

``demo.services`` holds the work and imports no Gradio (a training child process imports
``demo.services.worker`` alone); ``demo.tabs`` lays out the pages; ``demo.ui`` composes them.
"""

__all__ = ["build_demo", "launch_options"]


def __getattr__(name: str):
    if name in __all__:
        from . import ui

        return getattr(ui, name)
    raise AttributeError(name)
