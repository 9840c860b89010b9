"""What a new user met first (issue 19, part 9): each behaviour pinned down."""

from __future__ import annotations

import urllib.request

import pandas as pd

import app
from demo.services import batch
from demo.tabs.classify_views import label_percent
from sentiment_core import cli
from tests.test_classify_batch import uploads, write  # noqa: F401  (a fixture)


def test_batch_rows_say_how_many_of_their_words_the_model_knows(registry, uploads, tmp_path):  # noqa: F811
    texts = ["A wonderful film, I loved it.", "Ein wunderbarer Film, ich habe ihn geliebt.", "😍😍😍 🔥🔥"]
    path = write(uploads / "mixed.txt", "\n".join(texts) + "\n")
    table, csv_path, message = batch.classify_file(registry, "shipped/default", path, tmp_path / "out", uploads)
    known = table["known words"].tolist()
    assert "little known" not in known[0]
    assert known[1].endswith("⚠ little known") and known[2].endswith("⚠ little known")
    saved = pd.read_csv(csv_path)
    assert saved["known_words"].iloc[0] > 0.5 > saved["known_words"].iloc[1]
    assert "knows under half the words of 2 of them" in message


def test_the_info_line_rounds_a_probability_as_the_label_does():
    assert label_percent(0.995) == "100%"  # Math.round(99.5) in the page's label
    assert label_percent(0.994) == "99%"
    assert label_percent(0.5) == "50%"


def test_the_startup_line_names_the_apps_share_option():
    lines = app.startup_lines("http://127.0.0.1:7860/")
    assert "--share" in lines and "share=True" not in lines and "http://127.0.0.1:7860/" in lines


def test_the_cli_says_how_to_work_offline_when_the_download_fails(tmp_path, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.delenv("SENTIMENT_DATA", raising=False)
    code = cli.main(["train", "--preset", "quick", "--cache-dir", str(tmp_path / "cache"),
                     "--output", str(tmp_path / "m.safetensors")])
    err = capsys.readouterr().err
    assert code == 1 and "could not download" in err and "--data path/to/aclImdb_v1.tar.gz" in err
