"""Screenshots of both tabs for the README, taken in headless Chromium (Debian's, no download).

    python bench/screenshots.py [--checkpoint-dir checkpoints] [--out docs]

Serves the app on a free port with a temporary runs folder, classifies an example, trains two
small models (an RNN and a GRU, about a minute on a laptop CPU) so the charts have something to
show, and writes docs/screenshot-classify.png and docs/screenshot-train.png.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Headless and quiet: no sandbox (containers run as root), no GPU, no phoning home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1280, "height": 900}
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_chromium(playwright):
    """A headless Chromium browser from Playwright's sync API."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def set_number(page, label: str, value: float) -> None:
    box = page.get_by_label(f"number input for {label}")
    box.fill(str(value))
    box.press("Enter")


def train_from_page(page, name: str, cell: str, reviews: int, epochs: int) -> None:
    """Fill the Train tab's form, start a run and wait for it to end."""
    from playwright.sync_api import expect

    # A slice, so the "quick" preset: the default "fast" reads all 25,000 reviews and the 50,000 unlabeled ones.
    page.get_by_label("Preset").click()
    page.get_by_role("option", name="quick").click()
    expect(page.get_by_label("Preset")).to_have_value("quick")
    page.get_by_label(cell.upper(), exact=True).check()
    for label, value in [("Training reviews", reviews), ("Validation/test reviews", 500), ("Epochs", epochs),
                         ("Max tokens per review", 150)]:
        set_number(page, label, value)
    page.get_by_label("Run name").fill(name)
    page.locator("#start").click()
    expect(page.locator("#status")).to_contain_text(re.compile(f"{name} (finished|stopped|failed)"), timeout=600_000)
    page.wait_for_timeout(1_500)


def take(url: str, out: Path) -> list[Path]:
    """Drive the app at ``url`` and save the two screenshots into ``out``."""
    from playwright.sync_api import expect, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    classify_png, train_png = out / "screenshot-classify.png", out / "screenshot-train.png"
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
        page.goto(url)
        page.get_by_text("I saw this movie with an open mind").first.click()
        expect(page.locator("#info")).to_contain_text("tokens", timeout=60_000)
        page.wait_for_timeout(1_500)
        page.screenshot(path=classify_png, full_page=True)
        page.get_by_role("tab", name="Train").click()
        train_from_page(page, "rnn-demo", "rnn", 2_000, 3)
        train_from_page(page, "gru-demo", "gru", 2_000, 3)
        page.get_by_label("train loss per step (EMA, this session's runs)").check()
        page.wait_for_timeout(1_500)
        page.screenshot(path=train_png, full_page=True)
        browser.close()
    return [classify_png, train_png]


def main() -> None:
    sys.path.insert(0, str(ROOT))  # run as a script from bench/: the app's package lies in the repo root
    from demo import build_demo, launch_options

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint-dir", default=None, help="shipped models (default: checkpoints/)")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="output folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runs:
        demo = build_demo(checkpoint_dir=args.checkpoint_dir, runs_dir=runs)
        _, url, _ = demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True, **launch_options())
        try:
            for path in take(url, Path(args.out)):
                print(f"wrote {path}")
        finally:
            demo.close()


if __name__ == "__main__":
    main()
