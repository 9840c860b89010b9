"""Data sources, splits, the token cache and length bucketing."""

import hashlib
import tarfile
from collections import Counter
from pathlib import Path

import pytest
import torch

from sentiment_core.config import TrainConfig
from sentiment_core.data import (
    BucketBatchSampler,
    DataError,
    EncodedDataset,
    Reviews,
    collate,
    download_imdb,
    load_corpus,
    load_tokenized,
    read_raw,
    resolve_source,
    split_indices,
    stratified_sample,
    token_cache_dir,
)
from sentiment_core.vocab import Vocab


def make_imdb_folder(root: Path, per_class: int = 3, unlabeled: int = 0) -> Path:
    """A miniature aclImdb/ tree: per_class reviews per split and polarity, and some unlabeled ones."""
    for split in ("train", "test"):
        for polarity in ("pos", "neg"):
            folder = root / "aclImdb" / split / polarity
            folder.mkdir(parents=True)
            for i in range(per_class):
                word = "wonderful" if polarity == "pos" else "dreadful"
                (folder / f"{i}_{8 if polarity == 'pos' else 2}.txt").write_text(
                    f"A {word} film number {i}.<br /><br />Really {word}.", encoding="utf-8"
                )
    (root / "aclImdb" / "train" / "unsup").mkdir()
    for i in range(unlabeled):
        (root / "aclImdb" / "train" / "unsup" / f"{i}_0.txt").write_text(f"An unrated film, number {i}.")
    return root / "aclImdb"


def test_reads_folder_and_archive_identically(tmp_path):
    folder = make_imdb_folder(tmp_path / "src")
    archive = tmp_path / "imdb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="aclImdb")
    from_folder, from_archive = read_raw(resolve_source(str(folder))), read_raw(resolve_source(str(archive)))
    for split in ("train", "test"):
        assert from_folder[split].ids == from_archive[split].ids
        assert from_folder[split].items == from_archive[split].items
        assert Counter(from_folder[split].labels) == {0: 3, 1: 3}
    # The parent of aclImdb/ is accepted too.
    assert resolve_source(str(tmp_path / "src")) == folder


def test_shared_archive_has_the_canonical_splits(imdb_archive):
    raw = read_raw(resolve_source(str(imdb_archive)))
    assert len(raw["train"]) == len(raw["test"]) == 25_000
    assert Counter(raw["train"].labels) == {0: 12_500, 1: 12_500}
    assert raw["train"].ids[0].startswith("neg/")


@pytest.mark.parametrize("kind", ["missing", "text file", "empty folder"])
def test_bad_sources_get_clear_errors(tmp_path, kind):
    path = tmp_path / "data"
    if kind == "text file":
        path.write_text("not an archive")
    elif kind == "empty folder":
        path.mkdir()
    with pytest.raises(DataError, match=str(path)):
        resolve_source(str(path))


def test_archive_without_reviews_is_rejected(tmp_path):
    archive = tmp_path / "other.tar.gz"
    (tmp_path / "readme.txt").write_text("hello")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "readme.txt", arcname="readme.txt")
    with pytest.raises(DataError, match="holds no train reviews"):
        read_raw(resolve_source(str(archive)))


def test_download_verifies_checksum_and_caches(tmp_path):
    payload = b"pretend archive bytes" * 1000
    source = tmp_path / "remote.tar.gz"
    source.write_bytes(payload)
    seen = []
    target = download_imdb(tmp_path / "cache", url=source.as_uri(), sha256=hashlib.sha256(payload).hexdigest(),
                           progress=lambda stage, done, total: seen.append((stage, done)))
    assert target.read_bytes() == payload
    assert seen and seen[-1] == ("download", len(payload))
    # A second call finds the cached file and reads nothing.
    assert download_imdb(tmp_path / "cache", url="file:///nonexistent", sha256="0") == target


def test_download_with_wrong_checksum_leaves_nothing(tmp_path):
    source = tmp_path / "remote.tar.gz"
    source.write_bytes(b"tampered")
    with pytest.raises(DataError, match="checksum mismatch"):
        download_imdb(tmp_path / "cache", url=source.as_uri(), sha256="0" * 64)
    assert list((tmp_path / "cache").iterdir()) == []


def test_unreachable_download_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="could not download"):
        download_imdb(tmp_path / "cache", url=(tmp_path / "absent.tar.gz").as_uri())


def test_split_is_stratified_disjoint_and_seeded():
    labels = [0] * 600 + [1] * 400
    train, val = split_indices(labels, 0.1, seed=7)
    assert len(val) == 100 and set(train).isdisjoint(val) and len(train) + len(val) == 1000
    assert Counter(labels[i] for i in val) == {0: 60, 1: 40}
    assert split_indices(labels, 0.1, seed=7) == (train, val)
    assert split_indices(labels, 0.1, seed=8)[1] != val


def test_stratified_sample_keeps_proportions():
    labels = [0] * 500 + [1] * 500
    picked = stratified_sample(labels, 64, seed=1)
    assert len(picked) == 64 and Counter(labels[i] for i in picked) == {0: 32, 1: 32}
    assert stratified_sample(labels, 0, seed=1) == list(range(1000))


BALANCED = [0] * 1000 + [1] * 1000
UNBALANCED = [1] * 700 + [0] * 293 + [2] * 7


@pytest.mark.parametrize("labels", [BALANCED, UNBALANCED, [0, 1, 1]], ids=["balanced", "unbalanced", "three"])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 99, 101, 999, 1001, 1999, 2001])
def test_stratified_sample_returns_exactly_n_with_the_closest_proportions(labels, n):
    n = min(n, len(labels) - 1)  # n = len - 1 for the three-review case
    picked = stratified_sample(labels, n, seed=5)
    assert len(picked) == n and picked == sorted(set(picked))
    counts = Counter(labels[i] for i in picked)
    for label, total in Counter(labels).items():
        # Largest-remainder rounding: every label within one review of its exact share.
        assert abs(counts[label] - n * total / len(labels)) < 1
    assert stratified_sample(labels, n, seed=5) == picked


def test_stratified_sample_sizes_that_used_to_round_wrong():
    # Rounding each label's share half to even gave 4 for 3, 2,000 for 2,001 and nothing for 1.
    labels = [0] * 2000 + [1] * 2000
    assert [len(stratified_sample(labels, n, seed=0)) for n in (3, 2001, 1)] == [3, 2001, 1]
    # The odd review goes to either label depending on the seed, not always to the same one.
    assert {BALANCED[stratified_sample(BALANCED, 1, seed)[0]] for seed in range(20)} == {0, 1}
    assert stratified_sample(BALANCED, 3, seed=1) != stratified_sample(BALANCED, 3, seed=2)


def test_token_cache_is_reused_and_keyed_on_content(tmp_path):
    folder = make_imdb_folder(tmp_path / "src")
    cache = str(tmp_path / "cache")
    first = load_tokenized(folder, cache)
    assert first["train"].items[0][:2] == ["A", "dreadful"]
    assert "br" not in {t for toks in first["train"].items for t in toks}
    key = token_cache_dir(folder, cache)
    assert (key / "train.tokens").exists()
    assert load_tokenized(folder, cache)["train"].items == first["train"].items
    # Changing a review changes the key: the stale cache is not used.
    (folder / "train" / "pos" / "0_8.txt").write_text("Changed text that is longer than before.")
    assert token_cache_dir(folder, cache) != key
    assert load_tokenized(folder, cache)["train"].items != first["train"].items


def test_load_tokenized_returns_exactly_the_reviews_asked_for(tmp_path, monkeypatch):
    import sentiment_core.data.cache as cache

    folder = make_imdb_folder(tmp_path / "src", per_class=5)
    tokenized = []
    real = cache.tokenize_texts
    monkeypatch.setattr(cache, "tokenize_texts", lambda texts, progress: tokenized.extend(texts) or real(texts))
    raw = read_raw(folder)
    part = load_tokenized(folder, str(tmp_path / "cache"), {"train": [7, 2, 7]})
    # Only the split asked for, only those reviews, in that order; only they were tokenized.
    assert list(part) == ["train"]
    assert part["train"].ids == [raw["train"].ids[i] for i in (7, 2, 7)]
    assert part["train"].labels == [raw["train"].labels[i] for i in (7, 2, 7)]
    assert part["train"].items[0] == real([raw["train"].items[7]])[0] and all(part["train"].items)
    assert len(tokenized) == 2
    assert not (tmp_path / "cache").exists()  # a small need caches nothing
    # The whole corpus is tokenized once and cached; later calls slice the cache.
    whole = load_tokenized(folder, str(tmp_path / "cache"))
    assert list(whole) == ["train", "test"] and len(whole["train"]) == len(whole["test"]) == 10
    assert len(tokenized) == 2 + 20
    again = load_tokenized(folder, str(tmp_path / "cache"), {"test": [0, 9]})
    assert list(again) == ["test"] and again["test"].items == [whole["test"].items[0], whole["test"].items[9]]
    assert len(tokenized) == 22


def test_a_run_fingerprints_and_reads_the_data_once_and_keeps_nothing(tmp_path, monkeypatch):
    import gc
    import weakref

    import sentiment_core.data.source as source

    folder = make_imdb_folder(tmp_path / "src", per_class=10, unlabeled=8)
    hashed, reads = [], []
    real_fingerprint, real_read = source.imdb_content_key, source.read_raw

    def read(*args, **kwargs):
        out = real_read(*args, **kwargs)
        reads.append([weakref.ref(r) for r in out.values()])
        return out

    monkeypatch.setattr(source, "imdb_content_key", lambda path: hashed.append(path) or real_fingerprint(path))
    monkeypatch.setattr(source, "read_raw", read)
    cfg = TrainConfig(data=str(folder), cache_dir=str(tmp_path / "cache"), val_fraction=0.2,
                      pretrain_embeddings=True)
    corpus = load_corpus(cfg)
    assert (len(corpus.train), len(corpus.val), len(corpus.test), len(corpus.unlabeled)) == (16, 4, 20, 8)
    assert len(hashed) == 1 and len(reads) == 1  # labels, texts and unlabeled texts: one pass
    # Nothing holds the raw texts once the run has its tokens (no module-level cache).
    gc.collect()
    assert all(ref() is None for ref in reads[0])
    # A second run reads the valid cache, not the data.
    assert load_corpus(cfg).train.items == corpus.train.items and len(reads) == 1


@pytest.mark.imdb  # the archive's slices and its token cache
def test_small_slice_tokenizes_only_what_it_uses(tmp_path):
    cfg = TrainConfig(max_train_samples=40, max_eval_samples=20, cache_dir=str(tmp_path))
    corpus = load_corpus(cfg)
    assert (len(corpus.train), len(corpus.val), len(corpus.test)) == (40, 20, 20)
    assert Counter(corpus.train.labels) == {0: 20, 1: 20}
    assert all(corpus.train.items) and all(corpus.test.items)
    assert not set(corpus.train.ids) & set(corpus.val.ids)
    # Nothing was cached for a partial run.
    assert not (tmp_path / "tokens").exists() or not any((tmp_path / "tokens").rglob("*.tokens"))
    # The validation split doesn't depend on the training slice.
    assert load_corpus(TrainConfig(max_train_samples=80, max_eval_samples=20, cache_dir=str(tmp_path))).val.ids \
        == corpus.val.ids


def test_bucket_sampler_covers_every_index_once_with_little_padding():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(5, 800, (3000,), generator=g).tolist()
    sampler = BucketBatchSampler(lengths, batch_size=32, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(3000))

    def padding(bs):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in bs) / sum(lengths)

    random_batches = [list(range(i, min(i + 32, 3000))) for i in range(0, 3000, 32)]
    assert padding(batches) < 0.05 < 0.5 < padding(random_batches)
    # Same epoch -> same order; next epoch -> a different order.
    assert list(sampler) == batches
    sampler.set_epoch(1)
    assert list(sampler) != batches


def test_eval_sampler_is_sorted_and_complete():
    lengths = [5, 1, 9, 3, 7]
    batches = list(BucketBatchSampler(lengths, batch_size=2, shuffle=False))
    assert batches == [[1, 3], [0, 4], [2]]


def test_dataset_truncates_and_collate_pads():
    vocab = Vocab.build([["a", "b", "c"]])
    reviews = Reviews(["x", "y", "z"], [1, 0, 1], [["a"] * 10, ["b", "c"], []])
    data = EncodedDataset(reviews, vocab, max_tokens=4)
    assert data.lengths == [4, 2, 1]  # an empty review reads as one <unk>
    tokens, lengths, labels = collate([data[0], data[1], data[2]])
    assert tokens.shape == (3, 4) and tokens[1, 2:].tolist() == [0, 0]
    assert lengths.tolist() == [4, 2, 1] and labels.tolist() == [1.0, 0.0, 1.0]
