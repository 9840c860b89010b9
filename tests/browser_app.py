"""What the browser tests share: their marks, Playwright, the app served on a free port, and Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# On a developer's machine without Chromium or Playwright these tests skip; in CI (.ci/run installs both)
# they must run.
MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                       reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]
if os.environ.get("CI"):
    import playwright.sync_api as sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def serve(root: Path, default: Path, others: Iterable[Path] = ()) -> Iterator[str]:
    """The app over a shipped folder under ``root`` (``default`` as its default model, then ``others``) and an
    empty runs folder, launched as app.py launches it (theme and CSS); yields its address, then closes it."""
    from bench.screenshots import free_port
    from demo import build_demo, launch_options

    shipped = root / "checkpoints"
    shipped.mkdir()
    shutil.copy(default, shipped / "default.safetensors")
    for path in others:
        shutil.copy(path, shipped / path.name)
    demo = build_demo(checkpoint_dir=shipped, runs_dir=root / "runs")
    _, address, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                                **launch_options())
    yield address
    demo.close()


def chromium() -> Iterator:
    """A headless Chromium browser for the module's pages."""
    from bench.screenshots import launch_chromium

    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()
