"""The app in headless Chromium: typing, examples, and a training run started and stopped from the page."""

from __future__ import annotations

import io
import os
import re
import shutil
from pathlib import Path

import pytest

from sentiment_core import tokenize

CHROMIUM = Path("/usr/bin/chromium")
# On a developer's machine without Chromium these tests skip; in CI (.ci/run installs it) they must run.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                       reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]
if os.environ.get("CI"):
    import playwright.sync_api as sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path):
    from demo import build_demo
    from demo.screenshots import free_port

    root = tmp_path_factory.mktemp("browser-app")
    shipped = root / "checkpoints"
    shipped.mkdir()
    shutil.copy(tiny_checkpoint, shipped / "default.safetensors")
    demo = build_demo(checkpoint_dir=shipped, runs_dir=root / "runs")
    _, address, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    yield address
    demo.close()


@pytest.fixture(scope="module")
def browser():
    from demo.screenshots import launch_chromium

    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)
    page.goto(url)
    page.locator("#review textarea").wait_for()
    yield page
    page.close()


def token_count(page) -> int:
    match = re.search(r"from ([\d,]+) tokens", page.locator("#info").inner_text())
    return int(match.group(1).replace(",", "")) if match else -1


def test_typing_updates_the_prediction_without_losing_keystrokes(page):
    expect = sync_api.expect
    expect(page.locator("#info")).to_contain_text("Type or paste")
    text = "A wonderful film, moving and funny. The cast is great and I loved the ending."
    page.locator("#review textarea").press_sequentially(text, delay=15)
    expect(page.locator("#prediction")).to_contain_text(re.compile("positive|negative"))
    # The last update reads the whole text: no keystroke was dropped while earlier calls ran.
    expect(page.locator("#info")).to_contain_text(f"from {len(tokenize(text))} tokens", timeout=30_000)
    expect(page.locator("#words")).to_contain_text("wonderful")
    page.get_by_role("button", name="Clear").click()
    expect(page.locator("#info")).to_contain_text("Type or paste")


def test_clicking_an_example_classifies_it(page):
    expect = sync_api.expect
    page.get_by_text("Two hours of my life I will never get").first.click()
    example = "Two hours of my life I will never get back. Dull, predictable and badly acted."
    expect(page.locator("#review textarea")).to_have_value(example)
    expect(page.locator("#info")).to_contain_text(f"from {len(tokenize(example))} tokens")
    expect(page.locator("#prediction")).to_contain_text(re.compile("positive|negative"))
    expect(page.locator("#running canvas, #running svg").first).to_be_visible()


def coloured_pixels(png: bytes) -> int:
    """Pixels of clearly saturated colour: plotted lines and markers, not the grey axes and grid."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("HSV")
    return sum(1 for _, s, v in image.getdata() if s > 90 and v > 80)


def test_training_from_the_page_shows_loss_points_and_stops(page):
    expect = sync_api.expect
    page.get_by_role("tab", name="Train").click()
    for label, value in [("Training reviews", 800), ("Validation/test reviews", 100), ("Embedding size", 16),
                         ("Hidden size", 16), ("Epochs", 30), ("Max tokens per review", 100), ("Batch size", 16)]:
        box = page.get_by_label(f"number input for {label}")
        box.fill(str(value))
        box.press("Enter")
    page.get_by_label("Run name").fill("from the browser")
    start, stop, status = page.locator("#start"), page.locator("#stop"), page.locator("#status")
    expect(stop).to_be_disabled()
    plot = page.locator("#loss-plot")
    blank = coloured_pixels(plot.screenshot())
    start.click()
    expect(status).to_contain_text(re.compile(r"step \d+/"), timeout=60_000)
    expect(stop).to_be_enabled()
    expect(start).to_be_disabled()
    page.wait_for_timeout(2_000)  # a tick or two to draw
    assert coloured_pixels(plot.screenshot()) > blank + 50, "no loss points were drawn"
    # Reloading the page neither stops the run nor loses its history.
    page.reload()
    page.get_by_role("tab", name="Train").click()
    expect(status).to_contain_text(re.compile(r"Training from-the-browser .* step \d+/"))
    page.wait_for_timeout(1_500)
    assert coloured_pixels(plot.screenshot()) > blank + 50, "the reopened page lost the loss history"
    stop.click()
    expect(status).to_contain_text("from-the-browser stopped", timeout=60_000)
    expect(start).to_be_enabled()
    expect(page.locator("#results")).to_contain_text("validation")
    # The stopped run's checkpoint is in the Classify tab's model selector.
    page.get_by_role("tab", name="Classify").click()
    page.get_by_label("Model").click()
    expect(page.get_by_role("option", name=re.compile("from-the-browser"))).to_be_visible()
