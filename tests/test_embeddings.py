"""PPMI-SVD word vectors from unlabeled text."""

import dataclasses
import random

import numpy as np
import torch

import sentiment_core.training_run as training_run
from sentiment_core import preset, train
from sentiment_core.data import Reviews, load_unlabeled, read_raw, resolve_source, token_cache_dir
from sentiment_core.embeddings import VectorCache, cooccurrence, ppmi_matrix, ppmi_svd_vectors
from sentiment_core.training import Status, Timing
from sentiment_core.vocab import Vocab


def test_cooccurrence_counts_both_orders_within_the_window_and_not_across_reviews():
    rows, cols, weights = cooccurrence([[2, 3, 4], [5]], vocab_size=6, window=2)
    pairs = {(int(r), int(c)): float(w) for r, c, w in zip(rows, cols, weights)}
    assert pairs == {(2, 3): 1.0, (3, 2): 1.0, (3, 4): 1.0, (4, 3): 1.0, (2, 4): 0.5, (4, 2): 0.5}


def test_cooccurrence_merges_a_pair_seen_in_both_orders():
    # "2 3" then "3 2": the pair (2, 3) occurs twice at distance 1, once at distance 2 (2 .. 2 and 3 .. 3).
    rows, cols, weights = cooccurrence([[2, 3, 2, 3]], vocab_size=5, window=2)
    pairs = [(int(r), int(c), float(w)) for r, c, w in zip(rows, cols, weights)]
    assert pairs == [(2, 2, 1.0), (2, 3, 3.0), (3, 2, 3.0), (3, 3, 1.0)]  # unique pairs, both orders merged


def dense_ppmi(docs, vocab_size, window, alpha):
    """PPMI by the textbook formula on a dense matrix, independent of the sparse implementation."""
    counts = np.zeros((vocab_size, vocab_size))
    for doc in docs:
        for i, w in enumerate(doc):
            for j in range(max(0, i - window), min(len(doc), i + window + 1)):
                if j != i and w >= 2 and doc[j] >= 2:  # <pad> and <unk> are left out
                    counts[w, doc[j]] += 1.0 / abs(i - j)
    total = counts.sum()
    p_joint = counts / total
    p_word = counts.sum(axis=1) / total
    context = counts.sum(axis=0) ** alpha
    p_context = context / context.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(p_joint / np.outer(p_word, p_context))
    return np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)


def test_ppmi_matches_a_dense_computation():
    rng = random.Random(3)
    docs = [[rng.choice([1, 2, 3, 4, 5, 6, 7]) for _ in range(rng.randint(1, 12))] for _ in range(40)]
    for window, alpha in [(2, 0.75), (3, 1.0)]:
        sparse = ppmi_matrix(docs, vocab_size=8, window=window, context_smoothing=alpha).to_dense().numpy()
        expected = dense_ppmi(docs, 8, window, alpha)
        assert np.count_nonzero(expected) > 10
        np.testing.assert_allclose(sparse, expected, rtol=1e-5, atol=1e-6)


def test_words_in_the_same_contexts_get_similar_vectors():
    rng = random.Random(0)
    docs = []
    for _ in range(400):
        # "good"/"great" share contexts; so do "car"/"truck"; the two groups never meet.
        docs.append(["the", "film", "was", rng.choice(["good", "great"]), "and", "fun"])
        docs.append(["he", "drove", "a", rng.choice(["car", "truck"]), "to", "work"])
    vocab = Vocab.build(docs)
    vectors = ppmi_svd_vectors(docs, vocab, dim=4, window=2)
    assert vectors.shape == (len(vocab), 4)
    assert torch.count_nonzero(vectors[:2]) == 0  # <pad> and <unk>
    unit = torch.nn.functional.normalize(vectors, dim=1)

    def sim(a, b):
        return float(unit[vocab.stoi[a]] @ unit[vocab.stoi[b]])

    assert sim("good", "great") > 0.9 and sim("car", "truck") > 0.9
    assert sim("good", "car") < 0.5


def test_unlabeled_reviews_load_and_are_cached(imdb_archive, tmp_path, monkeypatch):
    import sentiment_core.data.cache as cache

    source = resolve_source(str(imdb_archive))
    calls = []
    monkeypatch.setattr(cache, "tokenize_texts", lambda texts, progress: calls.append(len(texts)) or
                        [t.split()[:5] for t in texts])  # fast stand-in: the cache is what is under test
    first = load_unlabeled(source, str(tmp_path))
    assert len(first) == 50_000 and set(first.labels) == {-1} and calls == [50_000]
    assert first.items[0] == read_raw(source, ("unsup",))["unsup"].items[0].split()[:5]
    # The second load reads the cache file, not the archive, and tokenizes nothing.
    assert (token_cache_dir(source, str(tmp_path)) / "unsup.tokens").is_file()
    assert load_unlabeled(source, str(tmp_path)).items == first.items and calls == [50_000]


def test_training_with_pretrained_embeddings_reports_and_learns(tmp_path, synthetic_data):
    from sentiment_core import load_corpus

    model_cfg, train_cfg = preset("quick", data=str(synthetic_data), pretrain_embeddings=True, epochs=2,
                                  output=str(tmp_path / "p.safetensors"))
    corpus = load_corpus(dataclasses.replace(train_cfg, pretrain_embeddings=False))
    # The training text stands in for unlabeled reviews (IMDB's 50k take a minute to tokenize).
    corpus = dataclasses.replace(corpus, unlabeled=Reviews(corpus.train.ids, [-1] * len(corpus.train),
                                                           corpus.train.items))
    events = list(train(model_cfg, train_cfg, corpus))
    status = [e for e in events if isinstance(e, Status)]
    assert status and "1,200 training and unlabeled reviews" in status[0].message  # all 600, twice
    assert events[-1].status == "finished" and events[-1].val["accuracy"] > 0.7


def test_the_vector_cache_keeps_vectors_by_text_vocabulary_and_settings(tmp_path, caplog):
    cache = VectorCache(tmp_path / "vectors")
    vocab = Vocab(["<pad>", "<unk>", "good", "bad"])
    key = cache.key("text-a", vocab, dim=4, seed=0)
    # Every input of the computation changes the key.
    assert len({key, cache.key("text-b", vocab, 4, 0), cache.key("text-a", vocab, 8, 0),
                cache.key("text-a", vocab, 4, 1), cache.key("text-a", Vocab(["<pad>", "<unk>", "good"]), 4, 0),
                cache.key("text-a", Vocab(vocab.itos, lowercase=False), 4, 0)}) == 6
    assert cache.get(key, (4, 4)) is None  # nothing cached yet
    vectors = torch.randn(4, 4)
    cache.put(key, vectors)
    assert torch.equal(cache.get(key, (4, 4)), vectors)
    assert [p.name for p in (tmp_path / "vectors").iterdir()] == [f"{key}.safetensors"]  # no temp file left
    # The wrong shape, or a damaged file, is a miss: deleted with a warning, never an error.
    assert cache.get(key, (5, 4)) is None and not cache.path(key).exists()
    cache.put(key, vectors)
    cache.path(key).write_bytes(cache.path(key).read_bytes()[:40])
    assert cache.get(key, (4, 4)) is None and not cache.path(key).exists()
    assert "unusable" in caplog.text


def test_a_second_run_takes_its_word_vectors_from_the_cache(tmp_path, monkeypatch, synthetic_data):
    from sentiment_core import load_corpus

    model_cfg, train_cfg = preset("quick", data=str(synthetic_data), pretrain_embeddings=True, epochs=1,
                                  max_train_samples=400, max_eval_samples=100, cache_dir=str(tmp_path / "cache"))
    corpus = load_corpus(dataclasses.replace(train_cfg, pretrain_embeddings=False))
    corpus = dataclasses.replace(corpus, unlabeled=Reviews(corpus.train.ids, [-1] * len(corpus.train),
                                                           corpus.train.items))
    computed = []
    real = training_run.ppmi_svd_vectors
    monkeypatch.setattr(training_run, "ppmi_svd_vectors", lambda *a, **k: computed.append(1) or real(*a, **k))

    def word_vectors(**changes):
        cfg = dataclasses.replace(train_cfg, output=str(tmp_path / f"{len(computed)}-{len(changes)}.safetensors"),
                                  **changes)
        events = list(train(model_cfg, cfg, corpus))
        assert events[-1].status == "finished", events[-1].error
        return next(e for e in events if isinstance(e, Timing) and e.phase == "word vectors")

    first = word_vectors()
    assert first.note.startswith("computed from 800 reviews") and computed == [1]
    again = word_vectors()
    assert again.note == "from the cache" and computed == [1]
    # Another vocabulary means other vectors (the synthetic reviews have fewer than 100 words).
    assert word_vectors(vocab_size=50).note.startswith("computed") and computed == [1, 1]
    # A corpus built by hand (no source key) is never cached.
    monkeypatch.setattr(corpus, "source_key", "")
    assert word_vectors().note.startswith("computed") and computed == [1, 1, 1]
