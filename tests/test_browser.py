"""The app in headless Chromium: typing, examples, colours, unknown words, plot titles at two widths, the
model box, and a training run started, watched from two pages and stopped from the page."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from browser_app import MARKS, chromium, serve, sync_api

from demo.tabs import palette
from sentiment_core import Predictor, tokenize
from sentiment_core.mistakes import error_table

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [*MARKS, pytest.mark.imdb]  # the app over the tiny IMDB model, training on IMDB as a user would


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, imdb_checkpoint: Path):
    # the shipped vanilla RNN and LSTM beside the default, to compare with
    yield from serve(tmp_path_factory.mktemp("browser-app"), imdb_checkpoint,
                     [ROOT / "checkpoints" / f"{name}.safetensors" for name in ("tutorial-rnn", "lstm")])


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


WIDE, NARROW = {"width": 1366, "height": 900}, {"width": 400, "height": 900}


def open_page(browser, url, viewport=WIDE):
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(30_000)
    page.goto(url)
    page.locator("#review textarea").wait_for(state="attached")  # hidden when the page opens on the Train tab
    return page


@pytest.fixture
def page(browser, url):
    page = open_page(browser, url)
    yield page
    page.close()


def rgb(css: str) -> tuple[int, ...]:
    """(r, g, b) of a computed CSS colour such as 'rgba(0, 158, 115, 0.8)'."""
    return tuple(int(float(v)) for v in re.findall(r"[\d.]+", css)[:3])


def boxes_overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


# Measured in one go: a plot redrawn by a poll is briefly without its canvas or its menu.
MEASURE_PLOT = """id => {
    const root = document.getElementById(id);
    const drawing = root.querySelector("canvas, svg.marks");
    const parts = [...root.querySelectorAll("[data-testid=block-label], .vega-embed summary")];
    const box = e => {
        const r = e.getBoundingClientRect();
        return {x: r.x, y: r.y, width: r.width, height: r.height};
    };
    return drawing && parts.length === 2 && drawing.getBoundingClientRect().height > 0
        ? {area: box(drawing), parts: parts.map(box)} : null;
}"""


def assert_titles_clear(page, *plot_ids: str) -> None:
    """No plot's title (nor its menu button) covers any part of its drawing."""
    for plot_id in plot_ids:
        measured = page.wait_for_function(MEASURE_PLOT, arg=plot_id).json_value()
        for part in measured["parts"]:
            assert not boxes_overlap(part, measured["area"]), (plot_id, part, measured["area"])


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


def test_colours_follow_one_convention_with_a_legend(page):
    expect = sync_api.expect
    page.locator("#review textarea").fill("A wonderful film, moving and funny. Dull plot, awful ending, great cast.")
    expect(page.locator("#info")).to_contain_text("tokens")
    top = page.locator("#prediction .output-class").inner_text().strip()
    page.wait_for_timeout(500)  # the bars grow into place
    bar = page.locator(f"#prediction meter[aria-label={top}]").screenshot()
    gradio_blue = (147, 197, 253)
    assert colour_pixels(bar, palette.BY_LABEL[top]) > 50 and colour_pixels(bar, gradio_blue) == 0
    assert rgb(page.locator(f"#info .sentiment-{top}").evaluate("e => getComputedStyle(e).color")) == (
        palette.BY_LABEL[top])
    expect(page.locator("#words .words-legend")).to_contain_text("towards negative")
    assert rgb(page.locator("#words .swatch.positive").evaluate("e => getComputedStyle(e).backgroundColor")) == (
        palette.POSITIVE_RGB)
    words = page.locator("#words .words-text .w:not(.gap)").evaluate_all(
        "spans => spans.map(s => [s.title, getComputedStyle(s).backgroundColor])")
    signed = [(float(title.split()[0]), rgb(colour)) for title, colour in words if abs(float(title.split()[0])) > 0.01]
    assert signed and {score > 0 for score, _ in signed} == {True, False}, words
    for score, colour in signed:
        assert colour == (palette.POSITIVE_RGB if score > 0 else palette.NEGATIVE_RGB), (score, colour)
    # The running prediction's halves are labelled in their colours (no purple or Gradio red anywhere).
    shot = page.locator("#running canvas").first.screenshot()
    assert colour_pixels(shot, palette.POSITIVE_RGB) > 20 and colour_pixels(shot, palette.NEGATIVE_RGB) > 20


def test_text_the_model_cannot_read_is_called_out(page):
    expect = sync_api.expect
    page.locator("#review textarea").fill("😀😀😀 🎬🍿")
    expect(page.locator("#info")).to_contain_text("The model knows only 0 of 5 words here: the prediction means "
                                                  "little.")
    expect(page.locator("#words .w.unknown")).to_have_count(5)
    page.locator("#review textarea").fill("Der Film war wirklich schlecht und langweilig, die Schauspieler waren "
                                          "schrecklich.")
    expect(page.locator("#info")).to_contain_text("the prediction means little")
    page.locator("#review textarea").fill("A wonderful film, I loved the cast and the ending.")
    expect(page.locator("#info")).to_contain_text(re.compile(r"The model knows \d+ of \d+ words here\."))
    expect(page.locator("#info")).not_to_contain_text("means little")


@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1366px", "400px"])
def test_plot_titles_never_cover_the_plot(browser, url, viewport):
    page = open_page(browser, url, viewport)
    page.get_by_text("Two hours of my life I will never get").first.click()
    sync_api.expect(page.locator("#info")).to_contain_text("tokens")
    assert_titles_clear(page, "running")
    page.close()


@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1366px", "400px"])
def test_every_model_on_the_review_draws_one_gradient_line_each(browser, url, viewport):
    expect = sync_api.expect
    page = open_page(browser, url, viewport)
    page.get_by_text("Two hours of my life I will never get").first.click()
    expect(page.locator("#info")).to_contain_text("tokens")
    page.get_by_text("Inside the model: every model on this review").click()
    table = page.locator("#compare-table")
    for name in ("default (selected)", "lstm", "tutorial-rnn"):
        expect(table.get_by_text(name, exact=True).first).to_be_attached()
    expect(table).to_contain_text("88.2%")  # each model's test accuracy beside it
    expect(page.locator("#gradient-caption")).to_contain_text("vanishing gradient")
    assert_titles_clear(page, "running", "gradient")
    page.wait_for_timeout(500)
    shot = page.locator("#gradient canvas").first.screenshot()
    drawn = [colour_pixels(shot, rgb(", ".join(str(int(colour[i:i + 2], 16)) for i in (1, 3, 5))))
             for colour, _ in palette.SERIES[:4]]
    assert min(drawn[:3]) > 20 and drawn[3] == 0, drawn  # three lines (and legend keys), no fourth
    page.close()


def test_a_mistake_clicked_in_the_explorer_is_classified_and_explained(page, imdb_checkpoint):
    expect = sync_api.expect
    page.get_by_text("Mistakes: the reviews this model gets wrong").click()
    page.locator("#find-errors").click()
    expect(page.locator("#errors-summary")).to_contain_text("Click a row", timeout=120_000)
    ids = page.locator("#errors-table").get_by_text(re.compile(r"^(pos|neg)/\d+_\d+$"))
    expect(ids.first).to_be_attached()
    cell = next(c for c in ids.all() if c.is_visible())
    row = next(r for r in error_table(imdb_checkpoint, "val").rows if r.id == cell.inner_text())  # cached by now
    cell.click()
    expect(page.locator("#review textarea")).to_have_value(row.text)
    tokens = len(Predictor.from_checkpoint(imdb_checkpoint).read(row.text).tokens)
    expect(page.locator("#info")).to_contain_text(f"from {tokens:,} tokens")
    expect(page.locator("#prediction")).to_contain_text(row.predicted)  # the mistake, shown in the classifier
    expect(page.locator("#words .words-text")).to_contain_text(tokenize(row.text)[0])


def test_the_model_box_accepts_only_listed_models(page):
    expect = sync_api.expect
    box = page.get_by_label("Model", exact=True)
    before = box.input_value()
    box.click()
    box.fill("my-model")
    box.press("Enter")
    page.locator("#review textarea").click()  # leave the box
    expect(box).to_have_value(before)
    page.locator("#review textarea").fill("A fine film.")
    expect(page.locator("#info")).to_contain_text("tokens")
    assert "gone" not in page.locator("body").inner_text()
    # The card shows its angle brackets (Markdown used to swallow "<unk>").
    page.get_by_text("Model card").first.click()
    expect(page.locator("#card")).to_contain_text("outside the training vocabulary are all read as one token, <unk>")
    predicted_negative = page.locator("#card .confusion th").nth(1)
    expect(predicted_negative).to_have_text("predicted negative")
    assert rgb(predicted_negative.evaluate("e => getComputedStyle(e).color")) == palette.NEGATIVE_RGB


def test_a_batch_error_clears_the_previous_results(page, tmp_path):
    expect = sync_api.expect
    page.get_by_text("Batch: classify a file of reviews").click()
    good, bad = tmp_path / "reviews.txt", tmp_path / "broken.txt"
    good.write_text("Loved it.\nHated it.\nFine.\n")
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    page.locator("#upload input[type=file]").set_input_files(str(good))
    expect(page.locator("#batch-message")).to_contain_text("Classified 3 reviews")
    expect(page.locator("#batch-table")).to_contain_text("Hated it.")
    shown = {label: [cell for cell in page.locator("#batch-table").get_by_text(label, exact=True).all()
                     if cell.is_visible()] for label in palette.BY_LABEL}  # (a hidden row sizes the columns)
    assert sum(len(cells) for cells in shown.values()) == 3  # a prediction per review, each in its colour
    for label, cells in shown.items():
        for cell in cells:
            assert rgb(cell.evaluate("e => getComputedStyle(e).color")) == palette.BY_LABEL[label]
    page.locator("#upload").get_by_label("Clear").click()
    page.locator("#upload input[type=file]").set_input_files(str(bad))
    expect(page.get_by_text("broken.txt looks like a binary file").first).to_be_visible()
    expect(page.locator("#batch-message")).not_to_contain_text("Classified")
    expect(page.locator("#batch-table")).not_to_contain_text("Hated it.")


def colour_pixels(png: bytes, colour: tuple[int, int, int], tolerance: int = 12) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(1 for pixel in image.getdata() if all(abs(a - b) <= tolerance for a, b in zip(pixel, colour)))


def coloured_pixels(png: bytes) -> int:
    """Pixels of clearly saturated colour: plotted lines and markers, not the grey axes and grid."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("HSV")
    return sum(1 for _, s, v in image.getdata() if s > 90 and v > 80)


def choose_preset(page, name: str) -> None:
    page.get_by_label("Preset").click()
    page.get_by_role("option", name=name).click()
    sync_api.expect(page.get_by_label("Preset")).to_have_value(name)


def test_training_from_the_page_shows_loss_points_and_stops(browser, page, url):
    expect = sync_api.expect
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#data")).to_contain_text("aclImdb_v1.tar.gz")  # which data a run reads
    # The tab opens on "fast" (every review, word vectors from the 50k unlabeled ones); a slice runs "quick".
    expect(page.get_by_label("Preset")).to_have_value("fast")
    choose_preset(page, "quick")
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
    epochs = page.get_by_label("number input for Epochs")
    expect(epochs).to_be_disabled()  # the running run's settings, read-only
    page.wait_for_timeout(2_000)  # a tick or two to draw
    assert coloured_pixels(plot.screenshot()) > blank + 50, "no loss points were drawn"
    # Reloading the page neither stops the run nor loses its history, and it opens on the Train tab with
    # the run's settings; so does another browser.
    page.reload()
    expect(page.get_by_role("tab", name="Train")).to_have_attribute("aria-selected", "true")
    expect(status).to_contain_text(re.compile(r"Training from-the-browser .* step \d+/"))
    other = open_page(browser, url, NARROW)
    expect(other.get_by_role("tab", name="Train")).to_have_attribute("aria-selected", "true")
    for shown in (page, other):
        expect(shown.get_by_label("number input for Epochs")).to_have_value("30")
        expect(shown.get_by_label("number input for Epochs")).to_be_disabled()
        expect(shown.get_by_label("Run name")).to_have_value("from-the-browser")
        expect(shown.get_by_label("Run name")).to_be_disabled()
    page.wait_for_timeout(1_500)
    assert coloured_pixels(plot.screenshot()) > blank + 50, "the reopened page lost the loss history"
    expect(page.locator("#accuracy-plot canvas").first).to_be_visible(timeout=60_000)  # an epoch has ended
    assert_titles_clear(page, "loss-plot", "accuracy-plot")
    assert_titles_clear(other, "loss-plot", "accuracy-plot")
    other.close()
    stop.click()
    expect(page.locator("#notice")).to_contain_text("best checkpoint so far is kept")
    expect(status).to_contain_text("from-the-browser stopped", timeout=60_000)
    expect(start).to_be_enabled()
    expect(epochs).to_be_enabled()  # editable again
    expect(page.get_by_label("Run name")).to_have_value("")
    expect(page.locator("#results")).to_contain_text("validation")
    predicted_positive = page.locator("#results .confusion th").nth(2)
    assert rgb(predicted_positive.evaluate("e => getComputedStyle(e).color")) == palette.POSITIVE_RGB
    expect(page.locator("#compare-plot canvas").first).to_be_visible()
    assert_titles_clear(page, "compare-plot")
    # The stopped run's checkpoint is in the Classify tab's model selector, and classifies.
    page.get_by_role("tab", name="Classify").click()
    page.get_by_label("Model", exact=True).click()
    page.get_by_role("option", name=re.compile("from-the-browser")).click()
    expect(page.locator("#model-summary")).to_contain_text("from-the-browser")
    page.locator("#review textarea").fill("A fine film.")
    expect(page.locator("#info")).to_contain_text("tokens")


@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1366px", "400px"])
def test_behaviour_tab_loads_a_failing_example_and_runs_a_template(browser, url, viewport, imdb_checkpoint):
    from sentiment_core.behaviour import run_suite

    expect = sync_api.expect
    page = open_page(browser, url, viewport)
    page.get_by_role("tab", name="Behaviour").click()
    page.locator("#behaviour-run").click()
    expect(page.locator("#behaviour-table")).to_contain_text("negation of positive", timeout=120_000)
    expect(page.locator("#behaviour-table")).to_contain_text("an example that fails")
    predictor = Predictor.from_checkpoint(imdb_checkpoint)  # the default model, whose examples show first
    dev = run_suite(predictor.predict_batch, predictor.labels, "dev")
    sentence = next(e.text for t in dev.tests for e in t.examples)
    cells = page.locator("#behaviour-examples").get_by_text(sentence, exact=True)
    expect(cells.first).to_be_attached()
    next(c for c in cells.all() if c.is_visible()).click()
    expect(page.get_by_role("tab", name="Classify")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#review textarea")).to_have_value(sentence)
    expect(page.locator("#info")).to_contain_text(f"from {len(tokenize(sentence))} tokens")
    page.get_by_role("tab", name="Behaviour").click()
    page.locator("#template textarea").fill("This {thing} is not {pos_adj}.")
    page.locator("#run-template").click()
    expect(page.locator("#template-summary")).to_contain_text("fills fail", timeout=60_000)
    page.close()
