"""Leakage guard: validation and test reviews never feed the vocabulary, the word vectors or the
language model, and fine-tuning refuses a language model that has read this run's validation reviews."""

import random
from collections.abc import Sequence

import pytest

import sentiment_core.lm_text as lm_text
import sentiment_core.training_run as training_run
from sentiment_core import load_checkpoint, preset, train
from sentiment_core.config import ModelConfig, TrainConfig
from sentiment_core.data import Corpus, Reviews, TokenLists
from sentiment_core.finetune import start_from_lm
from sentiment_core.lm import LanguageModel, LMConfig
from sentiment_core.lm_checkpoint import load_language_model, save_language_model
from sentiment_core.pretrain import PretrainConfig, pretrain
from sentiment_core.vocab import Vocab


def reviews(n: int, marker: str, labels: list[int], seed: int) -> Reviews:
    """Short reviews of common sentiment words; every one carries ``marker`` and no other split's."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        words = ["good", "great", "fun"] if labels[i % len(labels)] == 1 else ["bad", "awful", "dull"]
        items.append([*rng.choices([*words, "film", "the", "plot"], k=8), marker, marker])
    return Reviews([f"{marker}/{i}" for i in range(n)], [labels[i % len(labels)] for i in range(n)], items)


def test_only_training_text_builds_the_vocabulary_and_only_training_and_unlabeled_text_the_vectors(
        tmp_path, monkeypatch):
    corpus = Corpus(train=reviews(40, "trainmark", [0, 1], 1), val=reviews(12, "valmark", [0, 1], 2),
                    test=reviews(12, "testmark", [0, 1], 3), unlabeled=reviews(30, "unlabeledmark", [-1], 4))
    seen: list[list[str]] = []
    real = training_run.ppmi_svd_vectors

    def spy(docs, *args, **kwargs):
        docs = [list(d) for d in docs]
        seen.extend(docs)
        return real(docs, *args, **kwargs)

    monkeypatch.setattr(training_run, "ppmi_svd_vectors", spy)
    model_cfg, train_cfg = preset("quick", embed_dim=8, hidden_dim=8, epochs=1, batch_size=8, warmup_steps=0,
                                  pretrain_embeddings=True, output=str(tmp_path / "leak.safetensors"))
    events = list(train(model_cfg, train_cfg, corpus))
    assert events[-1].status == "finished", events[-1].error

    vocab = set(load_checkpoint(events[-1].path).vocab.itos)
    assert "trainmark" in vocab and not {"valmark", "testmark"} & vocab
    vector_words = {t for doc in seen for t in doc}
    assert {"trainmark", "unlabeledmark"} <= vector_words
    assert not {"valmark", "testmark"} & vector_words


class Unreadable(Sequence):
    """A split's texts that fail the test when anything reads them."""

    def __len__(self):
        raise AssertionError("pretraining read the test split")

    def __getitem__(self, i):
        raise AssertionError("pretraining read the test split")


def tokenized(r: Reviews) -> Reviews:
    return Reviews(r.ids, r.labels, TokenLists.from_lists(r.items))


def test_the_language_model_reads_only_training_and_unlabeled_text(tmp_path, monkeypatch):
    test = reviews(12, "testmark", [0, 1], 3)
    corpus = Corpus(train=tokenized(reviews(40, "trainmark", [0, 1], 1)),
                    val=tokenized(reviews(12, "valmark", [0, 1], 2)), test=Reviews(test.ids, test.labels, Unreadable()),
                    unlabeled=tokenized(reviews(30, "unlabeledmark", [-1], 4)))
    counted: list[str] = []

    class SpyVocab(Vocab):
        @classmethod
        def build(cls, tokenized, *args, **kwargs):
            counted.extend(t for tokens in tokenized for t in tokens)
            return super().build(tokenized, *args, **kwargs)

    read = {True: [], False: []}  # token ids the model read, in training and in evaluation
    real_forward = LanguageModel.forward

    def spy_forward(self, direction, tokens, targets, state=None):
        read[self.training].extend([*tokens.flatten().tolist(), *targets.flatten().tolist()])
        return real_forward(self, direction, tokens, targets, state)

    monkeypatch.setattr(lm_text, "Vocab", SpyVocab)
    monkeypatch.setattr(LanguageModel, "forward", spy_forward)
    lm_cfg = LMConfig(embed_dim=8, hidden_dim=8, cutoffs="6")
    cfg = PretrainConfig(epochs=2, batch_size=4, bptt=8, min_freq=1, warmup_steps=0, device="cpu",
                         output=str(tmp_path / "lm.safetensors"))
    events = list(pretrain(lm_cfg, cfg, corpus))
    assert events[-1].status == "finished", events[-1].error

    assert {"trainmark", "unlabeledmark"} <= set(counted) and not {"valmark", "testmark"} & set(counted)
    vocab = load_language_model(events[-1].path).vocab
    assert {"trainmark", "unlabeledmark"} <= set(vocab.itos) and not {"valmark", "testmark"} & set(vocab.itos)
    # Every training and unlabeled word is in the vocabulary (min_freq 1), so an <unk> in what the model
    # trained on could only be another split's marker; validation (scored in eval mode) has them.
    trained = {vocab.itos[i] for i in read[True]}
    assert {"trainmark", "unlabeledmark"} <= trained and "<unk>" not in trained
    assert "<unk>" in {vocab.itos[i] for i in read[False]}


def save_lm(path, held_out) -> str:
    """An untrained language model file over the leakage reviews' words that never read the reviews ``held_out``."""
    vocab = Vocab.build([["good", "great", "fun", "bad", "awful", "dull", "film", "the", "plot", "trainmark"]])
    model = LanguageModel(LMConfig(embed_dim=8, hidden_dim=8, vocab_size=len(vocab), cutoffs="6"))
    save_language_model(path, model, vocab, {"seed": 1234, "val_fraction": 0.1}, {}, {}, held_out)
    return str(path)


def test_fine_tuning_refuses_a_language_model_that_read_validation_reviews(tmp_path):
    corpus = Corpus(train=reviews(40, "trainmark", [0, 1], 1), val=reviews(12, "valmark", [0, 1], 2),
                    test=reviews(12, "testmark", [0, 1], 3))
    # Pretrained with another split (seed, share or label kind): 4 of this run's validation reviews were its text.
    lm = save_lm(tmp_path / "lm.safetensors", [*corpus.val.ids[:8], "valmark/99"])
    with pytest.raises(ValueError, match="has read 4 of this run's 12 validation reviews"):
        start_from_lm(TrainConfig(pretrained_lm=lm), ModelConfig(), corpus)
    model_cfg, train_cfg = preset("quick", epochs=1, pretrained_lm=lm, output=str(tmp_path / "ft.safetensors"))
    done = list(train(model_cfg, train_cfg, corpus))[-1]
    assert done.status == "failed" and "validation reviews" in done.error
    assert not (tmp_path / "ft.safetensors").exists()
    # Its held-out slice covering this run's validation slice is fine, whatever else it held out.
    lm = save_lm(tmp_path / "lm2.safetensors", [*corpus.val.ids, "valmark/99"])
    start_from_lm(TrainConfig(pretrained_lm=lm), ModelConfig(), corpus)


def test_pretraining_refuses_a_labelled_file(tmp_path):
    # Fine-tuning on a labelled file skips the held-out check: only an IMDB-pretrained model can be offered.
    table = tmp_path / "reviews.csv"
    table.write_text("text,label\n" + "".join(f"review {i},{'pos' if i % 2 else 'neg'}\n" for i in range(40)))
    with pytest.raises(ValueError, match="not a labelled file"):
        PretrainConfig(data=str(table), output=str(tmp_path / "lm.safetensors"))
