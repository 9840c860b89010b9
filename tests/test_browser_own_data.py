"""Issue 19's own-data journey in headless Chromium: upload a 3-class file, train with the preset the Train
tab picks for it, see the three classes and the file's own rows in the Classify tab, find the model's
mistakes, download the run, upload its checkpoint under another name and classify with it; screenshots at
1366 and 400 px (pytest's tmp dir, copied to /tmp/own-data-*.png)."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from browser_app import MARKS, chromium, serve, sync_api
from small_files import TICKETS, labelled_csv

from sentiment_core import tokenize

pytestmark = MARKS

WIDE, NARROW = {"width": 1366, "height": 900}, {"width": 400, "height": 900}
CLASSES = list(TICKETS)  # billing, technical, account
RUN, AGAIN = "tickets", "tickets-again"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path):
    """The app with the tiny synthetic model as its only shipped one (no IMDB needed) and an empty runs folder."""
    yield from serve(tmp_path_factory.mktemp("own-data-app"), tiny_checkpoint)


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def open_page(browser, url, viewport):
    page = browser.new_page(viewport=viewport, device_scale_factor=1, accept_downloads=True)
    page.set_default_timeout(30_000)
    page.goto(url)
    page.locator("#review textarea").wait_for(state="attached")
    return page


def shoot(page, tmp_path: Path, name: str) -> None:
    """A full-page screenshot in pytest's tmp dir, copied to /tmp/own-data-<name>.png to look at."""
    page.wait_for_timeout(600)  # bars and plots settle
    path = tmp_path / f"own-data-{name}.png"
    page.screenshot(path=path, full_page=True)
    shutil.copy(path, f"/tmp/own-data-{name}.png")


def choose_model(page, name: str) -> None:
    page.get_by_label("Model", exact=True).click()
    page.get_by_role("option", name=re.compile(rf"^{re.escape(name)} \(")).click()
    sync_api.expect(page.get_by_label("Model", exact=True)).to_have_value(re.compile(rf"^{re.escape(name)} \("))
    sync_api.expect(page.locator("#model-summary")).to_contain_text("3 classes (account, billing, technical)")


def assert_three_classes(page, text: str) -> None:
    """``text`` classified: the prediction lists every class of the file."""
    expect = sync_api.expect
    page.locator("#review textarea").fill(text)
    # The content is checked, not the speed (bench/bench_load.py times it): late in a full suite, on 2 busy cores,
    # the answer has come after Playwright's default 5 s.
    expect(page.locator("#info")).to_contain_text(f"from {len(tokenize(text))} tokens", timeout=30_000)
    for label in CLASSES:
        expect(page.locator("#prediction")).to_contain_text(label)


def find_mistakes(page, model: str, rows: int) -> None:
    """Open Mistakes and score the model on its own validation rows, then its test rows: each summary counts
    the split's rows, and the mistakes found name the file's classes."""
    expect = sync_api.expect
    section = page.locator("#errors-section")
    if not page.locator("#find-errors").is_visible():
        section.get_by_text("Mistakes: the reviews this model gets wrong").click()
    for label in ("any", *CLASSES):  # the true-label filter offers the file's classes
        expect(section.get_by_label(label, exact=True)).to_be_attached()
    summary, mistakes = page.locator("#errors-summary"), 0
    for split in ("validation", "test"):
        if split == "validation":
            page.locator("#find-errors").click()
        else:
            section.get_by_label(split, exact=True).check()
        expect(summary).to_contain_text(f"{split} rows wrong", timeout=60_000)
        said = summary.inner_text()
        found = re.search(rf"gets ([\d,]+) of the ([\d,]+) {split} rows wrong", said)
        assert found and model in said, said
        wrong, total = (int(g.replace(",", "")) for g in found.groups())
        assert 0 < total < rows / 5, said  # the file's own split, not IMDB's
        if wrong:  # each kind of mistake names its true and predicted classes
            named = re.findall(rf"\d+ ({'|'.join(CLASSES)}) rows called ({'|'.join(CLASSES)})", said)
            assert named and all(t != p for t, p in named), said
            expect(page.locator("#errors-table")).to_contain_text(re.compile("|".join(CLASSES)))
        mistakes += wrong
    assert mistakes, "no mistake on either split: the summary named no class"


def test_own_file_trained_classified_explored_downloaded_and_uploaded(browser, url, tmp_path):
    expect = sync_api.expect
    data = labelled_csv(tmp_path / "tickets.csv", TICKETS, 300, seed=3)
    rows = pd.read_csv(data)
    page = open_page(browser, url, WIDE)

    # Train tab: the file, the preset it picks, the plan, a run.
    page.get_by_role("tab", name="Train").click()
    page.get_by_label("Your own labelled file").check()
    page.locator("#train-settings input[type=file]").set_input_files(str(data))
    plan = page.locator("#data-plan")
    expect(plan).to_contain_text("Plan for this file", timeout=30_000)  # the file read and counted first
    expect(page.get_by_label("Preset")).to_have_value("small")
    for label in CLASSES:
        expect(plan).to_contain_text(label)
    page.get_by_label("Run name").fill(RUN)
    page.locator("#start").click()
    status = page.locator("#status")
    expect(status).to_contain_text(re.compile(rf"{RUN} (finished|stopped|failed)"), timeout=60_000)
    expect(status).to_contain_text(f"{RUN} finished")
    for label in CLASSES:
        expect(page.locator("#results")).to_contain_text(label)

    # Download the last run: a .zip of the checkpoint and its card.
    page.locator("#download-run").click()
    link = page.locator("#run-bundle td.download a").first
    expect(link).to_be_attached()
    with page.expect_download() as download:
        link.click()
    bundle = tmp_path / "run.zip"
    download.value.save_as(bundle)
    with zipfile.ZipFile(bundle) as z:
        names = z.namelist()
        assert sorted(Path(n).suffix for n in names) == [".md", ".safetensors"], names
        card = z.read(next(n for n in names if n.endswith(".md"))).decode()
        checkpoint = tmp_path / "downloaded" / next(n for n in names if n.endswith(".safetensors"))
        checkpoint.parent.mkdir()
        checkpoint.write_bytes(z.read(checkpoint.name))
    assert all(label in card for label in CLASSES), card[:500]
    shoot(page, tmp_path, "1366-train")

    # Classify tab: the new model, its examples (the file's own rows, every class), three classes predicted.
    page.get_by_role("tab", name="Classify").click()
    choose_model(page, RUN)
    examples = page.locator("#own-examples")
    expect(examples).to_be_visible()
    expect(examples).to_contain_text("billing: ")
    shown = [b.inner_text().strip() for b in examples.locator("button.gallery-item").all()]
    pairs = [s.split(": ", 1) for s in shown if ": " in s]
    assert {label for label, _ in pairs} == set(CLASSES), shown
    for label, start in pairs:  # each example is a row of the file, with its label there
        start = re.sub(r"(\.\.\.|…)$", "", start).strip()  # the page cuts long labels short
        match = rows[rows["text"].str.startswith(start)]
        assert len(match) and label in set(match["label"]), (label, start)
    examples.locator("button.gallery-item").first.click()
    expect(page.locator("#review textarea")).to_have_value(re.compile(re.escape(pairs[0][1][:30])))
    expect(page.locator("#info")).to_contain_text("tokens")
    for label in CLASSES:
        expect(page.locator("#prediction")).to_contain_text(label)
    find_mistakes(page, RUN, len(rows))
    shoot(page, tmp_path, "1366-classify")

    # Upload the downloaded checkpoint under another name: listed, selected, and it classifies.
    page.get_by_text("Your model: download it, or upload one").click()
    page.locator("#upload-model input[type=file]").set_input_files(str(checkpoint))
    page.locator("#upload-name").get_by_role("textbox").fill(AGAIN)
    page.locator("#add-model").click()
    expect(page.locator("#upload-message")).to_contain_text(f"Added as runs/{AGAIN}")
    expect(page.get_by_label("Model", exact=True)).to_have_value(re.compile(rf"^{re.escape(AGAIN)} \("))
    expect(page.locator("#model-summary")).to_contain_text("3 classes (account, billing, technical)")
    assert_three_classes(page, "my invoice shows i was charged twice please refund the payment")
    expect(page.locator("#prediction .output-class")).to_have_text("billing")
    shoot(page, tmp_path, "1366-uploaded")
    page.close()

    # A phone: the finished run in the Train tab; the uploaded model classifies and shows its mistakes.
    phone = open_page(browser, url, NARROW)
    phone.get_by_role("tab", name="Train").click()
    expect(phone.locator("#status")).to_contain_text(f"{RUN} finished")
    shoot(phone, tmp_path, "400-train")
    phone.get_by_role("tab", name="Classify").click()
    choose_model(phone, AGAIN)
    expect(phone.locator("#own-examples")).to_contain_text("billing: ")
    assert_three_classes(phone, "the app crashed again after the update and the screen is broken")
    find_mistakes(phone, AGAIN, len(rows))
    shoot(phone, tmp_path, "400-classify")
    phone.close()
