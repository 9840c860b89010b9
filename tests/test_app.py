"""Unit tests of the web app's handlers, called directly (no server, no browser)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from demo.services import classify as cl
from demo.services.registry import ModelRegistry
from demo.tabs import classify_views as views
from demo.tabs import palette
from sentiment_core import Predictor, Vocab
from sentiment_core.lm import LanguageModel, LMConfig
from sentiment_core.lm_checkpoint import save_language_model

REVIEW = ("An absolute delight from start to finish. The cast is wonderful, the script is sharp and funny, "
          "and the ending is perfect. I loved every minute of it and would happily watch it again.")


@pytest.fixture
def dirs(tmp_path: Path, tiny_checkpoint: Path) -> tuple[Path, Path]:
    """A shipped folder holding the tiny model as default.safetensors, and an empty runs folder."""
    shipped, runs = tmp_path / "checkpoints", tmp_path / "runs"
    shipped.mkdir()
    runs.mkdir()
    shutil.copy(tiny_checkpoint, shipped / "default.safetensors")
    return shipped, runs


@pytest.fixture
def registry(dirs: tuple[Path, Path]) -> ModelRegistry:
    shipped, runs = dirs
    return ModelRegistry(shipped, runs, shipped / "default.safetensors")


# ---------------------------------------------------------------------------------------------
# Classify


def page_outputs(registry: ModelRegistry, model_key: str | None, text: str | None) -> tuple:
    """What the page shows for one text: the label's probabilities (None when empty), then the
    explanation event's outputs (words HTML, running chart, info Markdown)."""
    label = views.label_view(registry, model_key, text)
    probs = {c["label"]: c["confidence"] for c in label.value["confidences"]} if label.value else None
    return (probs, *views.explanation_view(registry, model_key, text))


WORD_SPAN = re.compile(r'<span class="w( [a-z ]+)?"(?: style="background: ([^"]+)")?(?: title="([^"]*)")?>(.*?)</span>')


def shown_words(words_html: str | None) -> list[tuple[str, str, str]]:
    """(word, extra classes, background) of each word the explanation shows, in order."""
    return [(html.unescape(text), (extra or "").strip(), background or "")
            for extra, background, _, text in WORD_SPAN.findall(words_html or "")]


def test_classify_gives_probabilities_explanation_and_running_prediction(registry):
    probs, words, running, info = page_outputs(registry, "shipped/default", REVIEW)
    assert set(probs) == {"negative", "positive"}
    assert probs["negative"] + probs["positive"] == pytest.approx(1.0)
    expected = Predictor.from_checkpoint(registry.entry("shipped/default").path).analyze(REVIEW)
    assert probs == pytest.approx(expected.probabilities)
    # One coloured word per token, the strongest at full strength in its direction's colour.
    shown = shown_words(words)
    assert [w for w, _, _ in shown] == expected.tokens
    top = max(range(len(shown)), key=lambda i: abs(expected.attributions[i]))
    colour = palette.POSITIVE_RGB if expected.attributions[top] > 0 else palette.NEGATIVE_RGB
    assert shown[top][2] == palette.rgba(colour, palette.WORD_ALPHA)
    assert "towards negative" in words and "towards positive" in words  # the legend
    spec = json.loads(running.plot)
    assert [r["tokens read"] for r in spec["data"]["values"]] == expected.running_positions
    assert spec["data"]["values"][-1]["P(positive)"] == pytest.approx(probs["positive"], abs=1e-4)
    label = max(probs, key=probs.get)
    assert info.startswith(f'**<span class="sentiment-{label}">{label}</span>**')
    assert f"{len(expected.tokens)} tokens" in info


def test_words_and_labels_take_the_one_colour_convention(registry):
    assert palette.word_background(1.0) == palette.rgba(palette.POSITIVE_RGB, palette.WORD_ALPHA)
    assert palette.word_background(-0.5) == palette.rgba(palette.NEGATIVE_RGB, 0.5 * palette.WORD_ALPHA)
    assert palette.word_background(0.0) == "transparent"
    label = views.label_view(registry, "shipped/default", REVIEW)
    top = label.value["label"]
    assert label.color == palette.tint(top) and palette.BY_LABEL[top] in (palette.POSITIVE_RGB, palette.NEGATIVE_RGB)
    assert views.label_view(registry, "shipped/default", "").value in (None, {})


def test_markup_in_a_review_is_shown_as_typed(registry):
    _, words, _, info = page_outputs(registry, "shipped/default", "A <b>great</b> film & a *fine* cast")
    shown = [w for w, _, _ in shown_words(words)]
    assert "<b>" not in words.split('class="words-text"', 1)[1] and "&lt;" in words
    assert shown == registry.predictor("shipped/default").read("A <b>great</b> film & a *fine* cast").tokens
    assert "<b>" not in info


def test_words_the_model_does_not_know_are_counted_marked_and_called_out(registry):
    predictor = registry.predictor("shipped/default")
    known = cl.known_words(predictor, ["a", "film", ",", "qqzxv", "😀"])
    assert known == [True, True, None, False, False]  # punctuation is no word
    assert views.coverage([True] * 9 + [False]) == "The model knows 9 of 10 words here."
    assert "weigh the prediction with care" in views.coverage([True] * 6 + [False] * 4)
    plain = views.coverage([True] + [False] * 4)
    assert plain.startswith("**The model knows only 1 of 5 words here: the prediction means little.**")
    assert "means little" in views.coverage([None, None])
    _, words, _, info = page_outputs(registry, "shipped/default", "😀😀😀 🎬🍿")
    assert "The model knows only 0 of 5 words here: the prediction means little" in info
    assert all("unknown" in extra for _, extra, _ in shown_words(words))
    _, words, _, info = page_outputs(registry, "shipped/default", REVIEW)
    assert "means little" not in info and "care" not in info and "The model knows" in info
    assert not any("unknown" in extra for _, extra, _ in shown_words(words))


def test_wording_counts_and_lists_words_only(registry):
    _, _, _, info = page_outputs(registry, "shipped/default", "10/10")  # one token, not a word: read as typed
    assert re.search(r"from 1 token\b", info)
    _, _, _, info = page_outputs(registry, "shipped/default", "Great, great, great, wonderful, awful, bad, dull.")
    assert ", ," not in info and "*,*" not in info


@pytest.mark.parametrize("text", ["", "   \n\t ", None])
def test_empty_text_clears_outputs_with_a_message(registry, text):
    assert page_outputs(registry, "shipped/default", text) == (None, views.WORDS_EMPTY, None, cl.EMPTY_MESSAGE)


def test_missing_or_vanished_model_gives_a_message_not_an_exception(registry, tmp_path):
    assert page_outputs(registry, None, REVIEW)[0] is not None  # no choice made: the default model
    empty = ModelRegistry(tmp_path / "none", tmp_path / "none-runs")
    assert page_outputs(empty, None, REVIEW) == (None, views.WORDS_EMPTY, None, cl.NO_MODEL_MESSAGE)
    outputs = page_outputs(registry, "runs/never-trained", REVIEW)
    assert outputs[:3] == (None, views.WORDS_EMPTY, None) and "gone" in outputs[3]
    assert page_outputs(registry, "<b>x</b>", REVIEW)[3].count("&lt;b&gt;") == 1  # shown, not taken as HTML


def test_megabyte_paste_answers_quickly_and_marks_the_cut(registry):
    text = "The plot drags but the actors are great. " * 26_000  # about 1 MB
    assert len(text) > 1_000_000
    registry.predictor("shipped/default")  # load outside the timing
    start = time.perf_counter()
    probs, words, _, info = page_outputs(registry, "shipped/default", text)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"a 1 MB paste took {elapsed:.1f} s"
    assert probs is not None and "Long text" in info
    max_tokens = registry.predictor("shipped/default").max_tokens
    shown = shown_words(words)
    assert len(shown) == max_tokens + 1  # the kept tokens and one "…" where the middle was cut
    assert shown[max_tokens - max_tokens // 2][:2] == ("…", "gap")


def test_explanation_scales_by_the_strongest_word_and_marks_gaps():
    assert views.explanation(["good", "bad", "film"], [2.0, -1.0, 0.0]) == [("good", 1.0), ("bad", -0.5), ("film", 0.0)]
    assert views.explanation(["a", "b"], [0.0, 0.0]) == [("a", 0.0), ("b", 0.0)]
    assert views.explanation(["a", "b"], [1.0, 1.0], gap_at=1) == [("a", 1.0), ("…", None), ("b", 1.0)]


def test_examples_cite_real_reviews_and_cover_both_labels(imdb_archive):
    examples = cl.load_examples()
    real = [e for e in examples if e["source"].startswith("aclImdb/test/")]
    assert len(real) >= 3 and len(examples) - len(real) >= 3
    assert {e["label"] for e in real} == {e["label"] for e in examples} == {"negative", "positive"}
    for e in real:
        assert ("/pos/" in e["source"]) == (e["label"] == "positive")
        assert 80 <= len(e["text"].split()) <= 200


# ---------------------------------------------------------------------------------------------
# Models


def test_model_list_skips_corrupt_files_and_reports_them(registry, dirs):
    shipped, runs = dirs
    (shipped / "broken.safetensors").write_bytes(b"not a checkpoint at all")
    (runs / "empty.safetensors").write_bytes(b"")
    entries, problems = registry.scan()
    assert [e.key for e in entries] == ["shipped/default"]
    assert len(problems) == 2
    assert any("broken.safetensors" in p and "not a safetensors checkpoint" in p for p in problems)
    assert any("empty.safetensors" in p and "truncated or empty" in p for p in problems)
    assert registry.choices() == [(entries[0].label, "shipped/default")]
    assert registry.default_key() == "shipped/default"


def test_a_language_model_in_a_models_folder_is_neither_listed_nor_reported(registry, dirs):
    """A pretrained language model reads text and classifies nothing: the model list leaves it out quietly."""
    shipped, runs = dirs
    vocab = Vocab(["<pad>", "<unk>", *(f"w{i}" for i in range(20))])
    model = LanguageModel(LMConfig(embed_dim=8, hidden_dim=8, vocab_size=len(vocab)))
    for folder in (shipped, runs):
        save_language_model(folder / "lm.safetensors", model, vocab, {}, {}, {}, [])
    entries, problems = registry.scan()
    assert [e.key for e in entries] == ["shipped/default"] and problems == []


def test_a_header_of_the_wrong_shape_dropped_into_runs_is_listed_and_the_others_keep_serving(registry, dirs,
                                                                                              tiny_checkpoint):
    _, runs = dirs
    blob = tiny_checkpoint.read_bytes()
    size = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + size])
    header["__metadata__"]["model_config"] = "[]"
    raw = json.dumps(header).encode()
    (runs / "odd.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw + blob[8 + size :])
    entries, problems = registry.scan()
    assert [e.key for e in entries] == ["shipped/default"]
    assert len(problems) == 1 and "odd.safetensors" in problems[0] and "model_config" in problems[0]
    for _ in range(2):  # every request, not only the first
        assert page_outputs(registry, "shipped/default", REVIEW)[0] is not None


def test_new_runs_appear_and_predictors_are_cached_per_file_version(registry, dirs, tiny_checkpoint):
    _, runs = dirs
    before = registry.signature()
    shutil.copy(tiny_checkpoint, runs / "mine.safetensors")
    assert registry.signature() != before
    assert "runs/mine" in [key for _, key in registry.choices()]
    first = registry.predictor("runs/mine")
    assert registry.predictor("runs/mine") is first  # switching back is immediate
    os.utime(runs / "mine.safetensors", ns=(time.time_ns(), time.time_ns() + 10**9))
    assert registry.predictor("runs/mine") is not first  # a re-saved checkpoint is reloaded


def test_model_summary_and_card_describe_the_checkpoint(registry):
    entry = registry.entry("shipped/default")
    summary = entry.summary()
    assert "bidirectional GRU" in summary and "parameters" in summary and "accuracy" in summary
    assert summary.startswith("**default (trained as tiny)**: ")  # the file's name, and the name it was trained as
    assert registry.card("shipped/default").startswith("# Model card: tiny")
    assert "(shipped; biGRU" in entry.label


# ---------------------------------------------------------------------------------------------
# app.py


def test_app_options_come_from_flags_or_environment(monkeypatch):
    import app

    assert "demo" not in vars(app)  # importing builds nothing
    monkeypatch.setenv("SENTIMENT_DATA", "download")  # a valid data setting (checked, not fetched) with or without IMDB
    monkeypatch.setenv("SENTIMENT_MAX_TRAIN_SAMPLES", "500")
    monkeypatch.setenv("SENTIMENT_DISABLE_TRAINING", "1")
    monkeypatch.setenv("SENTIMENT_RUNS_DIR", "/srv/runs")
    args = app.parse_args([])
    assert (args.max_train_samples, args.no_training, args.runs_dir, args.host, args.port) == (
        500, True, "/srv/runs", None, None)  # host/port None: Gradio reads GRADIO_SERVER_NAME/PORT
    monkeypatch.delenv("SENTIMENT_DISABLE_TRAINING")
    args = app.parse_args(["--host", "0.0.0.0", "--port", "8080", "--max-train-samples", "100", "--share"])
    assert (args.host, args.port, args.max_train_samples, args.share, args.no_training) == (
        "0.0.0.0", 8080, 100, True, False)
    monkeypatch.setenv("SENTIMENT_TRAINING_PASSWORD", "pw")
    assert app.parse_args([]).training_password == "pw"
    assert app.parse_args(["--threads", "2", "--train-threads", "3"]).train_threads == 3
    for bad in (["--threads", "0"], ["--train-threads", "x"], ["--max-train-samples", "-1"]):
        with pytest.raises(SystemExit):
            app.parse_args(bad)


def test_app_data_option_takes_an_archive_a_folder_or_download(monkeypatch, imdb_archive, tmp_path, capsys):
    import app

    monkeypatch.delenv("SENTIMENT_DATA", raising=False)
    assert app.parse_args([]).data == "download"
    assert app.parse_args(["--data", str(imdb_archive)]).data == str(imdb_archive)
    monkeypatch.setenv("SENTIMENT_DATA", str(imdb_archive))
    assert app.parse_args([]).data == str(imdb_archive)
    assert app.parse_args(["--data", "download"]).data == "download"
    (tmp_path / "aclImdb" / "train").mkdir(parents=True)
    (tmp_path / "aclImdb" / "test").mkdir()
    assert app.parse_args(["--data", str(tmp_path)]).data == str(tmp_path)  # a folder holding aclImdb/
    for bad, message in ((str(tmp_path / "missing.tar.gz"), "IMDB data not found"),
                         (str(tmp_path / "aclImdb" / "train"), "without train/ and test/")):
        with pytest.raises(SystemExit):
            app.parse_args(["--data", bad])
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        app.parse_args(["--help"])
    assert "$SENTIMENT_DATA" in capsys.readouterr().out
