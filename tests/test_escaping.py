"""Hostile class, file and run names are shown as typed in every view: no tag, link or emphasis comes alive."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from markdown_it import MarkdownIt

from demo.services import own_data
from demo.services.registry import ModelRegistry
from demo.services.worker import Run
from demo.tabs import insight as insight_tab
from demo.tabs.train_views import results_markdown
from sentiment_core import report
from sentiment_core.card import render_card
from sentiment_core.checkpoint import save_checkpoint
from sentiment_core.config import ModelConfig, TrainConfig
from sentiment_core.data import LabelledTable
from sentiment_core.evaluation import Metrics
from sentiment_core.mistakes import ErrorRow, ErrorTable
from sentiment_core.model import SentimentRNN
from sentiment_core.vocab import Vocab

HOSTILE = ["<img src=x>", '<a href="http://evil.example/">click</a>', "<script>alert(1)</script>", "a`b``c",
           "**bold**", "x|y", "two\nlines"]
CONFUSION = [[3 if t == p else 1 for p in range(len(HOSTILE))] for t in range(len(HOSTILE))]
LIVE = {"img", "a", "script", "iframe", "strong", "em", "del", "s"}  # none of the views below bolds on its own


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)

    def handle_data(self, data) -> None:
        self.text.append(data)


def rendered(markdown: str) -> _Tags:
    """What a browser gets from ``markdown``: Markdown with raw HTML allowed and tables, as Gradio renders it."""
    parser = _Tags()
    parser.feed(MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown))
    return parser


def assert_inert(markdown: str, names: list[str] = HOSTILE, live: set[str] = LIVE) -> None:
    """No tag of ``live`` in the page, and every name in its text as typed (a line break as a space)."""
    page = rendered(markdown)
    assert not live & set(page.tags), (set(page.tags) & live, markdown)
    shown = " ".join("".join(page.text).split())
    for name in names:
        assert " ".join(name.split()) in shown, (name, markdown)


def test_tables_show_hostile_class_names_as_typed():
    metrics = Metrics.from_confusion(0.5, CONFUSION).to_dict()
    assert_inert(report.confusion_table(CONFUSION, labels=HOSTILE))
    assert_inert(report.class_table(metrics, HOSTILE))
    rows = [ErrorRow(name, name, HOSTILE[0], 0.2, 0.8, 5, f"text {name}") for name in HOSTILE]
    assert_inert(report.errors_table(rows))
    table = report.class_table(metrics, HOSTILE)
    assert all(line.count("|") - line.count("\\|") == 6 for line in table.splitlines()), table  # no cell split


def test_train_results_show_hostile_class_names_as_typed():
    metrics = Metrics.from_confusion(0.5, CONFUSION).to_dict()
    run = Run("<img src=x>", "runs/x.safetensors", "quick", {})
    run.events = [{"kind": "Started", "classes": HOSTILE},
                  {"kind": "Finished", "status": "finished", "val": metrics, "test": metrics, "path": "x"}]
    assert_inert(results_markdown(run))


@pytest.fixture
def hostile_checkpoint(tmp_path: Path) -> Path:
    vocab = Vocab.build([["good", "bad", "film"]])
    torch.manual_seed(0)
    model = SentimentRNN(ModelConfig(vocab_size=len(vocab), embed_dim=4, hidden_dim=4, num_classes=len(HOSTILE)))
    metrics = Metrics.from_confusion(0.5, CONFUSION).to_dict()
    (tmp_path / "runs").mkdir()
    return save_checkpoint(tmp_path / "runs" / "evil <img src=x> **run**.safetensors", model, vocab,
                           TrainConfig(data=str(tmp_path / "<a href=x>.csv")), {"val": metrics, "test": metrics},
                           {"name": "<script>alert(1)</script> `run`", "dataset": "<img src=x>.csv"}, labels=HOSTILE)


def test_the_card_and_the_model_summary_show_hostile_names_as_typed(hostile_checkpoint, tmp_path):
    assert_inert(render_card(hostile_checkpoint), [*HOSTILE, "<script>alert(1)</script> `run`"])
    registry = ModelRegistry(tmp_path / "none", tmp_path / "runs", tmp_path / "none" / "default.safetensors")
    entry = registry.scan()[0][0]
    # The summary bolds the model's name itself; the names must still read as typed.
    assert_inert(entry.summary(), ["<script>alert(1)</script> `run`", "evil <img src=x> **run**", *HOSTILE],
                 LIVE - {"strong"})
    assert_inert(registry.card(entry.key), HOSTILE)


def test_the_data_check_summary_shows_hostile_names_as_typed(tmp_path):
    table = LabelledTable(path=tmp_path / "f.csv", format="csv", fingerprint="0", text_column="<img src=x>",
                          label_column="a`b", split_column="**s**", classes=HOSTILE,
                          labels=list(range(len(HOSTILE))), splits=None)
    assert_inert(own_data.summary(table, "<a href=x>f</a>.csv"), [*HOSTILE, "<a href=x>f</a>.csv", "a`b"],
                 LIVE - {"strong"})


def test_the_mistakes_summary_shows_hostile_names_as_typed():
    metrics = Metrics.from_confusion(0.5, CONFUSION)
    table = ErrorTable("c.safetensors", "test", HOSTILE, metrics, 0, [])
    assert_inert(insight_tab.summary(table, "runs/<img src=x>", 0, 0), ["runs/<img src=x>"], LIVE - {"strong"})
    assert not LIVE & set(rendered(insight_tab.confusions(table, "reviews")).tags)
