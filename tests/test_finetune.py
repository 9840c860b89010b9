"""Fine-tuning from a language model: the classifier starts from its vocabulary and weights, with
discriminative learning rates, gradual unfreezing and the linear schedule."""

import dataclasses
import itertools
import random

import pytest
import torch

import sentiment_core.training as training
import sentiment_core.training_run as training_run
from sentiment_core import load_checkpoint, preset, train
from sentiment_core.config import ModelConfig, TrainConfig
from sentiment_core.data import Corpus, Reviews, TokenLists
from sentiment_core.events import Status, Step
from sentiment_core.finetune import init_from_lm, param_groups, start_from_lm, unfreeze
from sentiment_core.lm import LanguageModel, LMConfig, init_classifier
from sentiment_core.lm_checkpoint import export_encoder, load_language_model, save_language_model
from sentiment_core.model import SentimentRNN
from sentiment_core.training_run import lr_factor
from sentiment_core.vocab import Vocab

WORDS = {0: ["bad", "awful", "dull"], 1: ["good", "great", "fun"]}


def reviews(n: int, marker: str, seed: int) -> Reviews:
    rng = random.Random(seed)
    items = [[*rng.choices([*WORDS[i % 2], "film", "the", "plot"], k=8), ".", marker] for i in range(n)]
    return Reviews([f"{marker}/{i}" for i in range(n)], [i % 2 for i in range(n)], TokenLists.from_lists(items))


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus(train=reviews(48, "trainmark", 1), val=reviews(16, "valmark", 2), test=reviews(16, "testmark", 3))


def save_lm(path, vocab: Vocab, cell: str = "gru", bidirectional: bool = True, held_out=()):
    """An (untrained) language model file over ``vocab`` that never read the reviews ``held_out``."""
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(cell=cell, embed_dim=8, hidden_dim=16, bidirectional=bidirectional,
                                   vocab_size=len(vocab), cutoffs="8"))
    save_language_model(path, model, vocab, {"seed": 1234, "val_fraction": 0.1}, {}, {}, held_out)
    return path


@pytest.fixture(scope="module")
def lm_path(corpus, tmp_path_factory):
    vocab = Vocab.build(corpus.train.items, min_freq=1)
    return save_lm(tmp_path_factory.mktemp("lm") / "lm.safetensors", vocab, held_out=corpus.val.ids)


def classifier(lm: LanguageModel, **overrides) -> SentimentRNN:
    c = lm.cfg
    return SentimentRNN(ModelConfig(**{**dict(cell=c.cell, embed_dim=c.embed_dim, hidden_dim=c.hidden_dim,
                                              num_layers=1, bidirectional=c.bidirectional,
                                              vocab_size=c.vocab_size), **overrides}))


def assert_starts_from(model: SentimentRNN, lm: LanguageModel) -> None:
    assert torch.equal(model.embedding.weight, lm.embedding.weight)
    assert len(model.layers[0]) == len(lm.rnns)
    for direction, rnn in enumerate(lm.rnns):
        mine = model.layers[0][direction].state_dict()
        assert all(torch.equal(mine[k], v) for k, v in rnn.state_dict().items())


@pytest.mark.parametrize("cell, bidirectional", [("gru", True), ("lstm", True), ("gru", False)])
def test_init_classifier_copies_the_embedding_and_each_direction(cell, bidirectional, tmp_path):
    vocab = Vocab(["<pad>", "<unk>", *(f"w{i}" for i in range(20))])
    lm = load_language_model(save_lm(tmp_path / "lm.safetensors", vocab, cell, bidirectional)).model
    model = classifier(lm)
    with torch.no_grad():
        before = model.fc.weight.clone()
    init_classifier(model, lm)
    assert_starts_from(model, lm)
    assert torch.equal(model.fc.weight, before)  # the head is the classifier's own


@pytest.mark.parametrize("overrides", [dict(num_layers=2), dict(cell="lstm"), dict(hidden_dim=8),
                                       dict(bidirectional=False), dict(vocab_size=30)])
def test_init_classifier_refuses_another_shape(overrides, tmp_path):
    vocab = Vocab(["<pad>", "<unk>", *(f"w{i}" for i in range(20))])
    lm = load_language_model(save_lm(tmp_path / "lm.safetensors", vocab)).model
    with pytest.raises(ValueError, match="does not match the language model"):
        init_classifier(classifier(lm, **overrides), lm)


def test_start_from_lm_takes_the_language_models_vocabulary_and_shape(corpus, lm_path, tmp_path):
    cfg = TrainConfig(pretrained_lm=str(lm_path), output=str(tmp_path / "c.safetensors"))
    vocab, model_cfg, lm, note = start_from_lm(cfg, ModelConfig(cell="lstm", embed_dim=64, num_layers=2,
                                                                pooling="mean"), corpus)
    assert vocab.itos == lm.vocab.itos == load_language_model(lm_path).vocab.itos
    assert (model_cfg.cell, model_cfg.embed_dim, model_cfg.hidden_dim, model_cfg.num_layers,
            model_cfg.bidirectional, model_cfg.pooling) == ("gru", 8, 16, 1, True, "mean")
    assert "cell gru" in note and "embed_dim 8" in note and "num_layers 1" in note
    assert start_from_lm(cfg, model_cfg, corpus)[3] == ""  # nothing to change, nothing to say
    model = SentimentRNN(dataclasses.replace(model_cfg, vocab_size=len(vocab)))
    init_from_lm(model, lm)
    assert_starts_from(model, lm.model)


def test_a_classifier_starts_from_the_encoder_alone(corpus, lm_path, tmp_path):
    encoder = export_encoder(lm_path, tmp_path / "encoder.safetensors")
    vocab, model_cfg, lm, _ = start_from_lm(TrainConfig(pretrained_lm=str(encoder)), ModelConfig(), corpus)
    model = SentimentRNN(dataclasses.replace(model_cfg, vocab_size=len(vocab)))
    init_from_lm(model, lm)
    assert_starts_from(model, load_language_model(lm_path).model)


def test_training_from_a_language_model_starts_from_its_vocabulary_and_weights(corpus, lm_path, tmp_path,
                                                                                monkeypatch):
    initialised = []
    real = training_run.init_from_lm

    def spy(model, lm):
        real(model, lm)
        initialised.append({k: v.detach().clone() for k, v in model.state_dict().items()})

    monkeypatch.setattr(training_run, "init_from_lm", spy)
    # Frozen for longer than the run: the embedding and the recurrence must leave it as they came.
    model_cfg, train_cfg = preset("quick", epochs=1, batch_size=8, warmup_steps=0, pretrained_lm=str(lm_path),
                                  unfreeze_steps=1000, output=str(tmp_path / "ft.safetensors"))
    events = list(train(model_cfg, train_cfg, corpus))
    assert events[-1].status == "finished", events[-1].error
    assert any(isinstance(e, Status) and "the classifier takes the language model's shape" in e.message
               for e in events)
    lm = load_language_model(lm_path)
    ckpt = load_checkpoint(events[-1].path)
    assert ckpt.vocab.itos == lm.vocab.itos
    assert (ckpt.model.cfg.cell, ckpt.model.cfg.embed_dim, ckpt.model.cfg.hidden_dim) == ("gru", 8, 16)
    (start,) = initialised
    assert torch.equal(start["embedding.weight"], lm.model.embedding.weight)
    assert_starts_from(ckpt.model, lm.model)
    assert not torch.equal(ckpt.model.fc.weight, start["fc.weight"])  # only the head trained


def test_param_groups_give_lower_rates_nearer_the_input(lm_path):
    lm = load_language_model(lm_path).model
    model = classifier(lm)
    groups = param_groups(model, 1e-2, 2.5)
    assert [g["lr"] for g in groups] == pytest.approx([1e-2 / 2.5**2, 1e-2 / 2.5, 1e-2])
    assert [{id(p) for p in g["params"]} for g in groups] == [
        {id(p) for p in model.embedding.parameters()}, {id(p) for p in model.layers.parameters()},
        {id(p) for p in model.fc.parameters()}]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))  # every parameter once


def test_unfreeze_trains_the_head_then_the_recurrence_then_the_embeddings(lm_path):
    model = classifier(load_language_model(lm_path).model)

    def trainable():
        return tuple(all(p.requires_grad for p in m.parameters()) for m in (model.embedding, model.layers, model.fc))

    seen = {}
    for step in range(8):
        unfreeze(model, step, 3)
        seen[step] = trainable()
    assert seen == {0: (False, False, True), 1: (False, False, True), 2: (False, False, True),
                    3: (False, True, True), 4: (False, True, True), 5: (False, True, True),
                    6: (True, True, True), 7: (True, True, True)}


def test_training_unfreezes_at_the_right_steps_with_discriminative_rates(corpus, lm_path, tmp_path, monkeypatch):
    calls, groups = [], []
    real_unfreeze, real_groups = training.unfreeze, training_run.param_groups

    def spy_unfreeze(model, step, every):
        real_unfreeze(model, step, every)
        calls.append((step, model.layers[0][0].weight_hh_l0.requires_grad, model.embedding.weight.requires_grad))

    def spy_groups(model, lr, decay):
        groups.append((lr, decay))
        return real_groups(model, lr, decay)

    monkeypatch.setattr(training, "unfreeze", spy_unfreeze)
    monkeypatch.setattr(training_run, "param_groups", spy_groups)
    model_cfg, train_cfg = preset("quick", epochs=1, batch_size=8, warmup_steps=0, pretrained_lm=str(lm_path),
                                  unfreeze_steps=2, lr_decay=2.6, output=str(tmp_path / "ft.safetensors"))
    events = list(train(model_cfg, train_cfg, corpus))
    assert events[-1].status == "finished", events[-1].error
    assert groups == [(train_cfg.lr, 2.6)]
    steps = len([e for e in events if isinstance(e, Step)])
    assert steps >= 5
    assert calls == [(s, s >= 2, s >= 4) for s in range(steps)]


def test_steps_report_the_heads_learning_rate_with_discriminative_rates(corpus, lm_path, tmp_path):
    model_cfg, train_cfg = preset("quick", epochs=1, batch_size=16, warmup_steps=0, schedule="constant",
                                  pretrained_lm=str(lm_path), lr_decay=2.0, output=str(tmp_path / "ft.safetensors"))
    events = list(train(model_cfg, train_cfg, corpus))
    assert events[-1].status == "finished", events[-1].error
    rates = [e.lr for e in events if isinstance(e, Step)]
    assert rates and all(lr == pytest.approx(train_cfg.lr) for lr in rates), rates[:3]


def test_a_language_model_brings_its_own_word_vectors():
    with pytest.raises(ValueError, match="pretrain_embeddings"):
        TrainConfig(pretrained_lm="lm.safetensors", pretrain_embeddings=True)


def test_the_linear_schedule_warms_up_then_decays_to_zero():
    warmup, total = 4, 20
    factors = [lr_factor(s, warmup, total, "linear") for s in range(total + 3)]
    assert factors[:warmup] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert factors[warmup] == 1.0
    assert all(a > b for a, b in itertools.pairwise(factors[warmup : total + 1]))
    assert factors[total] == 0.0 and factors[total + 2] == 0.0  # and stays there
    assert factors[12] == pytest.approx(0.5)  # halfway between the warm-up's end and the last step
    assert lr_factor(0, 0, 10, "linear") == 1.0 and lr_factor(10, 0, 10, "linear") == 0.0
    assert TrainConfig(schedule="linear").schedule == "linear"
    with pytest.raises(ValueError, match="schedule must be one of"):
        TrainConfig(schedule="triangular")


@pytest.mark.parametrize("name, value", [("lr_decay", 0.5), ("lr_decay", 101.0), ("unfreeze_steps", -1),
                                         ("passages", -0.5), ("passages", 11.0)])
def test_fine_tuning_settings_are_bounded(name, value):
    with pytest.raises(ValueError, match=name):
        TrainConfig(**{name: value})
