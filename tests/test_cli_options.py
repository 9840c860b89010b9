"""Every command-line value is checked where it enters: bad numbers, outputs and bytes."""

import json
import os
import subprocess
import sys

import pytest
import torch

import sentiment_core.cli as cli
import sentiment_core.cli_checkpoints as cli_checkpoints
import sentiment_core.cli_train as cli_train
from sentiment_core.checkpoint import save_checkpoint
from sentiment_core.config import ModelConfig, TrainConfig
from sentiment_core.data import DataError, TokenCache, load_corpus
from sentiment_core.evaluation import Metrics, load_split
from sentiment_core.model import SentimentRNN
from sentiment_core.training import Finished
from sentiment_core.vocab import Vocab

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def random_checkpoint(tmp_path):
    """An untrained model whose run pretrained word vectors, as the shipped default's did."""
    vocab = Vocab.build([["good", "bad", "film", "great", "awful", "the", "a"]])
    torch.manual_seed(0)
    model = SentimentRNN(ModelConfig(vocab_size=len(vocab), embed_dim=4, hidden_dim=4))
    cfg = TrainConfig(pretrain_embeddings=True, max_tokens=50)
    metrics = {"val": Metrics.from_counts(0.7, 1, 1, 1, 1).to_dict()}
    return save_checkpoint(tmp_path / "r.safetensors", model, vocab, cfg, metrics, {"name": "r"})


def no_data(*args, **kwargs):
    raise AssertionError("the data was loaded")


@pytest.mark.parametrize("args, option, problem", [
    (["evaluate", "--batch-size", "0"], "--batch-size", "at least 1"),
    (["evaluate", "--batch-size", "-1"], "--batch-size", "at least 1"),
    (["evaluate", "--batch-size", "lots"], "--batch-size", "expected a whole number"),
    (["evaluate", "--max-samples", "-5"], "--max-samples", "at least 0"),
    (["predict", "--max-tokens", "-1", "hi"], "--max-tokens", "at least 0"),
    (["predict", "--max-tokens", "10000000", "hi"], "--max-tokens", "at most 5000"),
    (["train", "--clip-grad-norm", "-1"], "--clip-grad-norm", "at least 0"),
    (["train", "--lr", "nan"], "--lr", "finite"),
    (["train", "--lr", "-0.1"], "--lr", "above 0"),
    (["train", "--weight-decay", "-1"], "--weight-decay", "at least 0"),
    (["train", "--dropout", "1.5"], "--dropout", "below 1"),
    (["train", "--val-fraction", "0"], "--val-fraction", "above 0"),
    (["train", "--max-tokens", "-1"], "--max-tokens", "at least 0"),
    (["train", "--max-tokens", "1000000000"], "--max-tokens", "at most 5000"),
    (["train", "--vocab-size", "0"], "--vocab-size", "at least 1"),
    (["train", "--epochs", "0"], "--epochs", "at least 1"),
    (["train", "--batch-size", "5000"], "--batch-size", "at most 4096"),
    (["train", "--embed-dim", "30000"], "--embed-dim", "at most 4096"),
    (["train", "--num-layers", "2.5"], "--num-layers", "expected a whole number"),
])
def test_bad_numbers_are_usage_errors_before_anything_runs(args, option, problem, capsys, monkeypatch):
    monkeypatch.setattr(cli_train, "load_corpus", no_data)
    monkeypatch.setattr(cli_checkpoints, "load_split", no_data)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert option in err and problem in err, err


def test_vocab_size_sets_the_vocabulary_the_run_builds(tmp_path, monkeypatch):
    seen = {}

    def capture(cfg, progress=None):
        seen["cfg"] = cfg
        raise DataError("enough: the config is what this test checks")

    monkeypatch.setattr(cli_train, "load_corpus", capture)
    output = str(tmp_path / "v.safetensors")
    assert cli.main(["train", "--preset", "quick", "--vocab-size", "500", "--output", output]) == 1
    assert seen["cfg"].vocab_size == 500


@pytest.mark.parametrize("output", ["model.md", "model", "model.safetensors.md"])
def test_train_refuses_an_output_that_is_not_a_safetensors_file(output, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli_train, "load_corpus", no_data)
    assert cli.main(["train", "--output", str(tmp_path / output)]) == 1
    assert "output must be a .safetensors file" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_train_refuses_to_replace_a_checkpoint_or_a_non_card_before_loading_data(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli_train, "load_corpus", no_data)
    old = tmp_path / "old.safetensors"
    old.write_bytes(b"last week's model")
    assert cli.main(["train", "--output", str(old)]) == 1
    err = capsys.readouterr().err
    assert "exists" in err and "--overwrite" in err and old.read_bytes() == b"last week's model"
    (tmp_path / "foo.md").write_text("# my notes\n")
    assert cli.main(["train", "--output", str(tmp_path / "foo.safetensors")]) == 1
    assert "not a model card" in capsys.readouterr().err
    assert (tmp_path / "foo.md").read_text() == "# my notes\n"


def test_card_refuses_to_overwrite_a_checkpoint_named_md(random_checkpoint, capsys):
    md = random_checkpoint.with_suffix(".md")
    random_checkpoint.rename(md)
    before = md.read_bytes()
    assert cli.main(["card", str(md)]) == 1
    assert "overwritten by its own card" in capsys.readouterr().err and md.read_bytes() == before


@pytest.mark.imdb  # which of the archive's splits are read (never its unlabeled reviews)
def test_evaluate_reads_only_the_split_it_scores(random_checkpoint, capsys, monkeypatch):
    asked = []
    real = TokenCache.load

    def load(self, needed, progress=None):
        asked.append(sorted(needed))
        assert "unsup" not in needed, "the unlabeled reviews were loaded"
        return real(self, needed) if progress is None else real(self, needed, progress)

    monkeypatch.setattr(TokenCache, "load", load)
    assert cli.main(["evaluate", "--checkpoint", str(random_checkpoint), "--split", "val", "--max-samples", "40",
                     "--json"]) == 0
    assert '"count": 40' in capsys.readouterr().out
    assert cli.main(["evaluate", "--checkpoint", str(random_checkpoint), "--max-samples", "30", "--json"]) == 0
    assert '"count": 30' in capsys.readouterr().out
    assert asked == [["train"], ["test"]]


@pytest.mark.imdb  # the archive's split ids, picked without load_corpus (a labelled file's are its own)
def test_load_split_picks_the_reviews_load_corpus_picks():
    cfg = TrainConfig(max_train_samples=10, max_eval_samples=60, seed=7)
    corpus = load_corpus(cfg)
    assert load_split(cfg, "val").ids == corpus.val.ids and load_split(cfg, "test").ids == corpus.test.ids


def run_cli(args, stdin=b""):
    return subprocess.run([sys.executable, "-m", "sentiment_core", *args], cwd=ROOT, input=stdin,
                          capture_output=True, timeout=300)


def test_invalid_utf8_in_arguments_and_stdin_is_replaced_with_a_note(random_checkpoint):
    result = run_cli(["predict", "--checkpoint", os.fsencode(random_checkpoint), b"great film \xff\xfe!"])
    assert result.returncode == 0, result.stderr.decode()
    assert "great film \ufffd\ufffd!" in result.stdout.decode("utf-8")
    assert b"replaced with U+FFFD" in result.stderr
    result = run_cli(["predict", "--checkpoint", str(random_checkpoint), "--json", "--file", "-"],
                     stdin=b"good \xc3\x28 film\n\nawful\n")
    assert result.returncode == 0, result.stderr.decode()
    assert len(result.stdout.splitlines()) == 2 and b"replaced with U+FFFD" in result.stderr


def test_a_stop_before_training_began_is_not_a_success(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli_train, "load_corpus", lambda cfg, progress=None: None)
    monkeypatch.setattr(cli_train, "train", lambda *args, **kwargs: iter([Finished("stopped")]))
    assert cli.main(["train", "--output", str(tmp_path / "s.safetensors")]) == 130
    assert "no checkpoint was written" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_predict_from_a_file_skips_lines_with_no_words(random_checkpoint):
    done = run_cli(["predict", "--checkpoint", str(random_checkpoint), "--file", "-", "--json"],
                   stdin=b"A fine film.\n<br /><br />\n   \nDull.\n")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["text"] for line in done.stdout.decode().splitlines()] == ["A fine film.", "Dull."]
