"""``python -m sentiment_core errors``: the misclassified reviews, most confident first, and its bad input."""

from __future__ import annotations

import json

import pytest

import sentiment_core.cli_checkpoints as cli_checkpoints
from sentiment_core.cli import main
from sentiment_core.mistakes import error_table

ARGS = ["--split", "val", "--max-samples", "200"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cli-errors-cache"))


@pytest.fixture(scope="module")
def table(tiny_checkpoint, cache_dir):
    return error_table(tiny_checkpoint, "val", cache_dir=cache_dir, max_samples=200)


def test_json_lists_the_top_errors_most_confident_first(tiny_checkpoint, cache_dir, table, capsys):
    assert main(["errors", "--checkpoint", str(tiny_checkpoint), *ARGS, "--cache-dir", cache_dir,
                 "--top", "5", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["id"] for row in rows] == [row.id for row in table.rows[:5]]
    assert all(row["label"] != row["predicted"] for row in rows)
    assert [row["confidence"] for row in rows] == sorted((row["confidence"] for row in rows), reverse=True)
    assert rows[0]["text"] == table.rows[0].text  # the whole raw review, not a snippet


def test_text_output_says_what_it_shows_and_filters(tiny_checkpoint, cache_dir, table, capsys):
    assert main(["errors", "--checkpoint", str(tiny_checkpoint), *ARGS, "--cache-dir", cache_dir,
                 "--label", "positive", "--min-length", "100", "--top", "0"]) == 0
    out = capsys.readouterr().out
    expected = table.select(label="positive", min_tokens=100)
    assert (f"{len(table.rows)} errors in 200 reviews (accuracy {table.metrics.accuracy:.2%}); all {len(expected)}, "
            "most confident first with true label positive, 100 to any tokens:") in out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:3] == ["#", "id", "truth"])
    body = lines[start + 2:]
    assert len(body) == len(expected) > 0
    assert [line.split()[1:4] for line in body] == [[row.id, "positive", "negative"] for row in expected]


def test_least_confident_first(tiny_checkpoint, cache_dir, table, capsys):
    assert main(["errors", "--checkpoint", str(tiny_checkpoint), *ARGS, "--cache-dir", cache_dir,
                 "--least-confident", "--top", "3", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["id"] for row in rows] == [row.id for row in table.rows[::-1][:3]]


@pytest.mark.parametrize(("args", "problem"), [
    (["--split", "train"], "invalid choice: 'train'"),
    (["--top", "-1"], "must be from 0 to"),
    (["--top", "many"], "expected a whole number"),
    (["--min-length", "1.5"], "expected a whole number"),
    (["--max-samples", "-5"], "at least 0"),
    (["--batch-size", "0"], "at least 1"),
])
def test_bad_options_are_usage_errors_before_anything_runs(args, problem, capsys, monkeypatch):
    monkeypatch.setattr(cli_checkpoints, "error_table", lambda *a, **k: pytest.fail("the table was computed"))
    with pytest.raises(SystemExit) as exit_info:
        main(["errors", *args])
    assert exit_info.value.code == 2
    assert problem in capsys.readouterr().err


def test_lengths_the_wrong_way_round_and_a_missing_checkpoint_are_one_line_errors(tmp_path, capsys, monkeypatch):
    with monkeypatch.context() as patched:
        patched.setattr(cli_checkpoints, "error_table", lambda *a, **k: pytest.fail("the table was computed"))
        assert main(["errors", "--min-length", "50", "--max-length", "10"]) == 2
        assert "error: --min-length 50 is above --max-length 10" in capsys.readouterr().err
        assert main(["errors", "--label", "neutral"]) == 2  # checked against the checkpoint's labels
        assert "error: --label 'neutral' is not a label of" in capsys.readouterr().err
    assert main(["errors", "--checkpoint", str(tmp_path / "missing.safetensors")]) == 1
    assert "no such file" in capsys.readouterr().err
