"""More than two classes, end to end: head and loss, explanations, checkpoint, Predictor, CLI, rating bins."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_data import make_imdb_folder

from sentiment_core import CheckpointError, Predictor, load_checkpoint, preset, train
from sentiment_core.card import render_card
from sentiment_core.checkpoint import save_checkpoint
from sentiment_core.config import ModelConfig, TrainConfig
from sentiment_core.data import DataError, load_corpus, rating_class
from sentiment_core.model import SentimentRNN
from sentiment_core.vocab import Vocab

ROOT = Path(__file__).resolve().parent.parent
CLASSES = {"angry": "awful dreadful hate", "calm": "fine quiet plain", "happy": "great wonderful love"}


def three_class_csv(path: Path, n: int = 600) -> Path:
    names = list(CLASSES)
    texts = [f"A {CLASSES[names[i % 3]].split()[i % 2]} day, {CLASSES[names[i % 3]].split()[2]} it {i}."
             for i in range(n)]
    pd.DataFrame({"text": texts, "mood": [names[i % 3] for i in range(n)]}).to_csv(path, index=False)
    return path


def model(num_classes: int, **kw) -> SentimentRNN:
    torch.manual_seed(0)
    return SentimentRNN(ModelConfig(vocab_size=50, num_classes=num_classes, embed_dim=8, hidden_dim=6, **kw)).eval()


def test_two_classes_keep_one_logit_more_get_one_each():
    tokens, lengths = torch.randint(2, 50, (4, 7)), torch.tensor([7, 5, 3, 1])
    assert model(2).fc.out_features == 1 and model(2)(tokens, lengths).shape == (4,)
    assert model(5).fc.out_features == 5 and model(5)(tokens, lengths).shape == (4, 5)
    assert model(5).infer(tokens, lengths).shape == (4, 5)
    assert torch.allclose(model(5).infer(tokens, lengths), model(5)(tokens, lengths), atol=1e-5)
    with torch.no_grad():  # an inference path, as the Predictor calls it
        assert model(3).prefix_logits(tokens[0], torch.tensor([1, 4, 7])).shape == (3, 3)
    with pytest.raises(ValueError, match="num_classes must be at least 2"):
        ModelConfig(num_classes=1)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("target", [0, 2])
def test_path_gradients_of_a_class_score_match_autograd(cell, target):
    net = model(3, cell=cell, pooling="max+last")
    embedded = net.embedding(torch.randint(2, 50, (9,))).detach()
    alphas = torch.tensor([0.0, 0.3, 1.0])
    scores, grads = net.path_gradients(embedded, alphas, target)
    path = (alphas[:, None, None] * embedded).requires_grad_(True)
    logits = net.classify(path, torch.full((3,), 9))
    expected = logits[:, target] - logits.mean(dim=-1)  # the class's logit against the mean logit
    (grad,) = torch.autograd.grad(expected.sum(), path)
    assert torch.allclose(scores, expected.detach(), atol=1e-5)
    assert torch.allclose(grads, (grad * embedded).sum(-1), atol=1e-5)
    with pytest.raises(ValueError, match="target must be a class index"):
        net.path_gradients(embedded, alphas, 3)


def test_checkpoint_keeps_the_label_names_and_checks_their_count(tmp_path):
    net, vocab = model(3), Vocab(["<pad>", "<unk>", *(f"w{i}" for i in range(48))])
    path = save_checkpoint(tmp_path / "m.safetensors", net, vocab, labels=["neg", "neu", "pos"])
    assert load_checkpoint(path).labels == ["neg", "neu", "pos"]
    with pytest.raises(ValueError, match="needs its label names"):
        save_checkpoint(tmp_path / "x.safetensors", net, vocab)
    with pytest.raises(CheckpointError, match="header field labels must be 3 distinct label names"):
        save_checkpoint(tmp_path / "x.safetensors", net, vocab, labels=["neg", "pos"])
    bad = {"val": {"loss": 1.0, "accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5, "count": 4,
                   "confusion": [[1, 1], [1, 1]]}}
    with pytest.raises(CheckpointError, match=r"metrics\.val\.confusion must be 3 x 3 counts"):
        save_checkpoint(tmp_path / "x.safetensors", net, vocab, metrics=bad, labels=["a", "b", "c"])


@pytest.fixture(scope="module")
def mood_run(tmp_path_factory):
    """A 3-class GRU trained on a made-up CSV (a few seconds), its events and its data."""
    folder = tmp_path_factory.mktemp("mood")
    data = three_class_csv(folder / "moods.csv")
    model_cfg, train_cfg = preset("quick", data=str(data), label_column="mood", epochs=3, max_tokens=50, embed_dim=16,
                                  hidden_dim=16, output=str(folder / "mood.safetensors"),
                                  cache_dir=str(folder / "cache"))
    events = list(train(model_cfg, train_cfg))
    return events, data, folder


def test_a_three_class_model_trains_and_reports_every_class(mood_run):
    events, _, _ = mood_run
    started, done = events[next(i for i, e in enumerate(events) if e.kind == "Started")], events[-1]
    assert started.classes == ["angry", "calm", "happy"] and done.status == "finished", done.error
    assert done.test["accuracy"] > 0.9 and done.test["macro_f1"] > 0.9
    assert len(done.test["confusion"]) == 3 and len(done.test["class_recall"]) == 3
    ckpt = load_checkpoint(done.path)
    assert ckpt.labels == ["angry", "calm", "happy"] and ckpt.model_config.num_classes == 3
    assert "moods.csv (600 rows" in ckpt.info["dataset"]


def test_predictor_explains_the_predicted_class(mood_run):
    predictor = Predictor.from_checkpoint(mood_run[0][-1].path)
    probs = predictor.predict("A wonderful day, love it.")
    assert list(probs) == ["angry", "calm", "happy"] and sum(probs.values()) == pytest.approx(1.0)
    assert max(probs, key=probs.get) == "happy"
    analysis = predictor.analyze("A wonderful day, love it. Not awful.")
    assert analysis.target == max(analysis.probabilities, key=analysis.probabilities.get)
    assert set(analysis.running_probabilities) == set(CLASSES)
    assert analysis.running == analysis.running_probabilities[analysis.target]
    assert analysis.running[-1] == pytest.approx(analysis.probabilities[analysis.target], abs=1e-5)
    assert len(analysis.attributions) == len(analysis.tokens) and analysis.completeness_error < 0.2
    wonderful = analysis.tokens.index("wonderful")
    angry = predictor.integrated_gradients(analysis.tokens, target="angry")
    assert angry.target == "angry" and angry.scores[wonderful] < analysis.attributions[wonderful]
    assert predictor.gradient_by_position("A wonderful day", target="calm").probabilities.keys() == probs.keys()
    with pytest.raises(ValueError, match="unknown label 'sad'"):
        predictor.running(analysis.tokens, target="sad")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sentiment_core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_cli_prints_labels_and_per_class_tables(mood_run):
    events, _, folder = mood_run
    path = events[-1].path
    out = run_cli("predict", "--checkpoint", path, "--json", "A dreadful day, hate it.")
    assert out.returncode == 0, out.stderr
    line = json.loads(out.stdout)
    assert line["label"] == "angry" and set(line) == {"text", "label", "angry", "calm", "happy"}
    # Without --data, a checkpoint of a labelled file is scored on that file's own test split.
    out = run_cli("evaluate", "--checkpoint", path, "--cache-dir", str(folder / "cache"))
    assert out.returncode == 0, out.stderr
    assert "truth \\ predicted  angry  calm  happy" in out.stdout and "per class" in out.stdout
    assert "macro precision" in out.stdout
    out = run_cli("errors", "--checkpoint", path, "--cache-dir", str(folder / "cache"), "--label", "sad")
    assert out.returncode == 2 and "is not a label of" in out.stderr and "(angry, calm, happy)" in out.stderr
    card = render_card(path)
    assert "3-class text classifier (angry / calm / happy)" in card and "| predicted angry |" in card
    assert "Per class (test):" in card and "moods.csv (600 rows" in card and "IMDB" not in card


def test_scoring_data_with_a_class_the_checkpoint_lacks_is_an_error(mood_run, tmp_path):
    events, data, _ = mood_run
    frame = pd.read_csv(data)
    frame.loc[frame.index[-60:], "mood"] = "sleepy"
    other = tmp_path / "other.csv"
    frame.to_csv(other, index=False)
    out = run_cli("evaluate", "--checkpoint", events[-1].path, "--data", str(other), "--cache-dir", str(tmp_path))
    assert out.returncode == 1 and "the data has class 'sleepy', which the checkpoint doesn't know" in out.stderr


def test_rating_bins_come_from_the_file_names(tmp_path):
    assert [rating_class(f"neg/1_{r}") for r in (1, 2, 3, 4)] == [0, 0, 1, 1]
    assert [rating_class(f"pos/1_{r}") for r in (7, 8, 9, 10)] == [2, 2, 3, 3]
    with pytest.raises(DataError, match="no star rating"):
        rating_class("unsup/1_0")
    folder = make_imdb_folder(tmp_path / "src", per_class=10)  # positive reviews rated 8, negative 2
    corpus = load_corpus(TrainConfig(data=str(folder), cache_dir=str(tmp_path), imdb_labels="rating-bins",
                                     val_fraction=0.2))
    assert corpus.classes == ["1-2", "3-4", "7-8", "9-10"]
    assert {corpus.classes[y] for y in corpus.test.labels} == {"1-2", "7-8"}
    assert all(corpus.classes[y] == ("7-8" if rid.startswith("pos") else "1-2")
               for rid, y in zip(corpus.train.ids, corpus.train.labels))
    polarity = load_corpus(TrainConfig(data=str(folder), cache_dir=str(tmp_path), val_fraction=0.2))
    assert polarity.train.ids == corpus.train.ids  # the same split: the labels differ, not the reviews
