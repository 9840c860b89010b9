"""Adversarial training on embeddings: the perturbation's size and direction, and a run that uses it."""

import csv

import pytest
import torch

from sentiment_core import ModelConfig, TrainConfig, load_checkpoint, preset, train
from sentiment_core.adversarial import doubled_batch, perturbation
from sentiment_core.card import render_card
from sentiment_core.evaluation import loss_function
from sentiment_core.model import SentimentRNN
from sentiment_core.predict import Predictor
from tests.conftest import synthetic_reviews


def tiny_model(num_classes: int = 2) -> SentimentRNN:
    torch.manual_seed(0)
    return SentimentRNN(ModelConfig(vocab_size=50, embed_dim=8, hidden_dim=8, num_classes=num_classes,
                                    dropout=0.0, pooling="max+last")).eval()


def batch(num_classes: int = 2):
    tokens = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 12, 0, 0], [13, 14, 0, 0, 0]])
    lengths = torch.tensor([5, 3, 2])
    labels = torch.tensor([1, 0, 1]) if num_classes == 2 else torch.tensor([2, 0, 1])
    return tokens, lengths, labels if num_classes > 2 else labels.float()


@pytest.mark.parametrize("num_classes", [2, 3])
def test_the_step_has_the_asked_share_of_each_reviews_norm_and_none_on_padding(num_classes):
    model = tiny_model(num_classes)
    tokens, lengths, target = batch(num_classes)
    delta = perturbation(model, tokens, lengths, target, loss_function(num_classes), 0.05)
    embedded = model.embedding(tokens).detach()
    for row, n in enumerate(lengths.tolist()):
        assert delta[row, :n].norm() == pytest.approx(0.05 * embedded[row, :n].norm(), rel=1e-4)
        assert not delta[row, n:].any()
    assert not delta.requires_grad and all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("num_classes", [2, 3])
def test_the_step_raises_the_loss_more_than_a_random_one_of_its_size(num_classes):
    model = tiny_model(num_classes)
    tokens, lengths, target = batch(num_classes)
    loss_fn = loss_function(num_classes)
    delta = perturbation(model, tokens, lengths, target, loss_fn, 0.05)
    with torch.no_grad():
        clean = loss_fn(model(tokens, lengths), target)
        adversarial = loss_fn(model(tokens, lengths, perturb=delta), target)
        noise = torch.randn(delta.shape, generator=torch.Generator().manual_seed(0))
        noise = noise * (delta.norm() / noise.norm())
        random = loss_fn(model(tokens, lengths, perturb=noise), target)
    assert adversarial > clean and adversarial - clean > abs(random - clean)


def test_frozen_embeddings_still_give_a_direction():
    model = tiny_model()
    model.embedding.weight.requires_grad_(False)
    tokens, lengths, target = batch()
    assert perturbation(model, tokens, lengths, target, loss_function(2), 0.02).norm() > 0


def test_the_doubled_batch_reads_the_clean_rows_then_the_perturbed_ones():
    tokens, lengths, labels = batch()
    delta = torch.ones(3, 5, 8)
    t, n, y, d = doubled_batch(tokens, lengths, labels, delta)
    assert torch.equal(t, torch.cat([tokens, tokens])) and torch.equal(n, torch.cat([lengths, lengths]))
    assert torch.equal(y, torch.cat([labels, labels]))
    assert not d[:3].any() and torch.equal(d[3:], delta)


def test_a_run_with_adversarial_training_and_batch_augmentations_learns_and_its_card_says_so(synthetic_data,
                                                                                             tmp_path):
    model_cfg, train_cfg = preset("quick", data=str(synthetic_data), embed_dim=32, hidden_dim=32, epochs=2,
                                  max_tokens=150, batch_size=32, adversarial=0.02, identity_swaps=0.5,
                                  tie_identity_terms=True, unpunctuated=0.3, output=str(tmp_path / "a.safetensors"))
    events = list(train(model_cfg, train_cfg))
    done = events[-1]
    assert done.status == "finished", done.error
    assert done.test["accuracy"] > 0.68
    ckpt = load_checkpoint(done.path)
    assert ckpt.train_config.adversarial == 0.02 and ckpt.train_config.identity_swaps == 0.5
    card = render_card(done.path)
    assert "Adversarial training on the word embeddings" in card and "Identity-term swaps" in card
    assert 'The final ".", "!" or "?" of a training text was dropped with probability 0.3' in card
    # The synthetic reviews have no identity term: the run says how many it found.
    assert any(getattr(e, "message", "").startswith("identity-term swaps: 0 terms") for e in events)
    assert any(getattr(e, "message", "") == "identity terms tied: no group has two terms in the vocabulary, so "
               "nothing is tied" for e in events)


def test_a_run_with_tied_identity_terms_reads_a_sentence_the_same_whichever_term_it_names(tmp_path):
    # Reviews that name a Christian family when positive and a Muslim one when negative: a bias to learn.
    path = tmp_path / "biased.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "split"])
        for text, label, split in synthetic_reviews():
            term = "Christian" if label == "positive" else "Muslim"
            writer.writerow([f"{text} It follows a {term} family.", label, split])
    model_cfg, train_cfg = preset("quick", data=str(path), embed_dim=16, hidden_dim=16, epochs=2, max_tokens=150,
                                  batch_size=32, tie_identity_terms=True, output=str(tmp_path / "t.safetensors"))
    events = list(train(model_cfg, train_cfg))
    done = events[-1]
    assert done.status == "finished", done.error
    assert any(getattr(e, "message", "").startswith("identity terms tied: 2 terms") for e in events)
    ckpt = load_checkpoint(done.path)
    assert ckpt.train_config.tie_identity_terms
    assert "Tied identity terms" in render_card(done.path)
    rows = ckpt.model.embedding.weight[[ckpt.vocab.stoi["christian"], ckpt.vocab.stoi["muslim"]]]
    assert torch.equal(rows[0], rows[1])
    christian, muslim = Predictor(ckpt).predict_batch(["It follows a Christian family.", "It follows a Muslim family."])
    assert christian == muslim


@pytest.mark.parametrize("name", ["adversarial", "identity_swaps"])
@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_the_shares_are_bounded(name, value):
    with pytest.raises(ValueError, match=name):
        TrainConfig(**{name: value})
