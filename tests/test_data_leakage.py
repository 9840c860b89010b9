"""Leakage guard: validation and test reviews never feed the vocabulary or the word vectors."""

import random

import sentiment_core.training as training
from sentiment_core import load_checkpoint, preset, train
from sentiment_core.data import Corpus, Reviews


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
    real = training.ppmi_svd_vectors

    def spy(docs, *args, **kwargs):
        docs = [list(d) for d in docs]
        seen.extend(docs)
        return real(docs, *args, **kwargs)

    monkeypatch.setattr(training, "ppmi_svd_vectors", spy)
    model_cfg, train_cfg = preset("quick", embed_dim=8, hidden_dim=8, epochs=1, batch_size=8, warmup_steps=0,
                                  pretrain_embeddings=True, output=str(tmp_path / "leak.safetensors"))
    events = list(train(model_cfg, train_cfg, corpus))
    assert events[-1].status == "finished", events[-1].error

    vocab = set(load_checkpoint(events[-1].path).vocab.itos)
    assert "trainmark" in vocab and not {"valmark", "testmark"} & vocab
    vector_words = {t for doc in seen for t in doc}
    assert {"trainmark", "unlabeledmark"} <= vector_words
    assert not {"valmark", "testmark"} & vector_words
