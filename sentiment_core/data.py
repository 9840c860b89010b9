"""IMDB loading, splits, the tokenized-corpus cache and length-bucketed batching.

Where the data comes from is one setting (``TrainConfig.data`` or ``$SENTIMENT_DATA``):
an ``aclImdb_v1.tar.gz`` archive, an unpacked ``aclImdb/`` folder, or ``download``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import random
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .config import TrainConfig, default_cache_dir
from .tokenizer import TOKENIZER_VERSION, head_tail, tokenize_many
from .vocab import Vocab

log = logging.getLogger(__name__)

IMDB_URL = "http://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SIZE = 84_125_825
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
LABELS = ("negative", "positive")
SPLITS = ("train", "test")

# progress(stage, done, total): a hook for progress bars in the CLI and status lines in the app.
Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


class DataError(RuntimeError):
    """The IMDB data could not be found, downloaded or read."""


@dataclass
class Reviews:
    """One split's reviews: parallel lists of ids ("pos/123_9"), labels (0/1) and texts or tokens."""

    ids: list[str]
    labels: list[int]
    items: list  # raw texts or token lists

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, indices: Sequence[int]) -> Reviews:
        return Reviews([self.ids[i] for i in indices], [self.labels[i] for i in indices],
                       [self.items[i] for i in indices])


# ---------------------------------------------------------------------------------------------
# Finding and downloading the data


def download_imdb(
    cache_dir: str | os.PathLike,
    url: str = IMDB_URL,
    sha256: str = IMDB_SHA256,
    progress: Progress = _no_progress,
) -> Path:
    """Download the official archive into ``cache_dir`` once, verifying its checksum."""
    target = Path(cache_dir) / "aclImdb_v1.tar.gz"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s", url)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or IMDB_SIZE)
            done = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                progress("download", done, total)
        if digest.hexdigest() != sha256:
            raise DataError(
                f"checksum mismatch for {url}: got sha256 {digest.hexdigest()}, expected {sha256}; "
                "the download is corrupt or not the IMDB archive, and was discarded"
            )
        os.replace(tmp, target)
    except OSError as exc:
        raise DataError(f"could not download {url}: {exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def resolve_source(data: str = "", cache_dir: str = "", progress: Progress = _no_progress) -> Path:
    """The archive or ``aclImdb/`` folder to read, downloading it if asked or needed."""
    spec = data or os.environ.get("SENTIMENT_DATA", "")
    cache = Path(cache_dir or default_cache_dir())
    if spec in ("", "download"):
        cached = cache / "aclImdb_v1.tar.gz"
        if spec == "" and not cached.exists():
            log.info("no data given and none cached: downloading the official archive")
        return download_imdb(cache, progress=progress)
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(f"IMDB data not found at {path} (expected aclImdb_v1.tar.gz or an aclImdb/ folder)")
    if path.is_dir():
        for candidate in (path, path / "aclImdb"):
            if (candidate / "train").is_dir() and (candidate / "test").is_dir():
                return candidate
        raise DataError(f"{path} is a folder without train/ and test/: not an unpacked aclImdb/ folder")
    if not tarfile.is_tarfile(path):
        raise DataError(f"{path} is not a tar archive (expected aclImdb_v1.tar.gz)")
    return path


# Folders of each split inside aclImdb/; "unsup" holds the 50,000 unlabeled reviews (label -1).
_FOLDERS = {"train": ("train/neg", "train/pos"), "test": ("test/neg", "test/pos"), "unsup": ("train/unsup",)}


def _parse_member(name: str) -> tuple[str, str, int] | None:
    """('train', 'pos/123_9', 1) for a review path, ('unsup', 'unsup/7_0', -1) for an unlabeled one."""
    parts = name.replace("\\", "/").split("/")
    if len(parts) < 3 or not parts[-1].endswith(".txt"):
        return None
    folder = f"{parts[-3]}/{parts[-2]}"
    for split, folders in _FOLDERS.items():
        if folder in folders:
            label = {"pos": 1, "neg": 0}.get(parts[-2], -1)
            return split, f"{parts[-2]}/{parts[-1][:-4]}", label
    return None


def read_raw(source: Path, splits: Sequence[str] = SPLITS) -> dict[str, Reviews]:
    """Raw review texts of ``splits``, sorted by id so every read gives the same order.

    The last two reads are kept in memory (about 70 MB each): a run reads labels, then texts.
    """
    if source.is_dir():  # a folder's own mtime misses edits inside it
        return _read_raw(source, _fingerprint(source), tuple(splits))
    stat = source.stat()
    return _read_raw(source, (stat.st_mtime_ns, stat.st_size), tuple(splits))


@functools.lru_cache(maxsize=2)
def _read_raw(source: Path, stamp: object, splits: tuple[str, ...]) -> dict[str, Reviews]:
    rows: dict[str, list[tuple[str, int, str]]] = {s: [] for s in splits}

    def add(name: str, read: Callable[[], bytes]) -> None:
        parsed = _parse_member(name)
        if parsed and parsed[0] in rows:
            rows[parsed[0]].append((parsed[1], parsed[2], read().decode("utf-8", errors="replace")))

    try:
        if source.is_dir():
            for split in splits:
                for folder in _FOLDERS[split]:
                    for path in (source / folder).glob("*.txt"):
                        add(f"{folder}/{path.name}", path.read_bytes)
        else:
            with tarfile.open(source, "r:*") as archive:
                for member in archive:
                    if member.isfile():
                        add(member.name, lambda m=member: archive.extractfile(m).read())
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise DataError(f"could not read IMDB data from {source}: {exc}") from exc
    out = {}
    for split, items in rows.items():
        if not items:
            raise DataError(f"{source} holds no {split} reviews (expected {' and '.join(_FOLDERS[split])})")
        items.sort(key=lambda r: r[0])
        out[split] = Reviews([r[0] for r in items], [r[1] for r in items], [r[2] for r in items])
    return out


# ---------------------------------------------------------------------------------------------
# Tokenizing, with an on-disk cache


def _fingerprint(source: Path) -> str:
    """Content key of the data: the archive's sha256, or the folder's file names, sizes and times."""
    digest = hashlib.sha256(TOKENIZER_VERSION.encode())
    if source.is_dir():
        for path in sorted(source.glob("*/*/*.txt")):
            stat = path.stat()
            digest.update(f"{path.relative_to(source)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    else:
        stat = source.stat()
        digest.update(_file_sha256(source, stat.st_mtime_ns, stat.st_size).encode())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def _file_sha256(path: Path, mtime_ns: int, size: int) -> str:
    """sha256 of a file, remembered while its time and size stay the same (a run asks several times)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _tokenize_chunk(texts: list[str]) -> list[list[str]]:
    return list(tokenize_many(texts))


def tokenize_texts(texts: Sequence[str], progress: Progress = _no_progress, workers: int = 0) -> list[list[str]]:
    """Tokenize many reviews, in several processes when there are many."""
    workers = workers or min(os.cpu_count() or 1, 4)
    chunk = 500
    chunks = [list(texts[i : i + chunk]) for i in range(0, len(texts), chunk)]
    out: list[list[str]] = []
    if workers <= 1 or len(chunks) <= 2:
        for piece in chunks:
            out.extend(_tokenize_chunk(piece))
            progress("tokenize", len(out), len(texts))
        return out
    # "spawn": forking a process that holds torch threads or a web server can deadlock.
    try:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for tokens in pool.map(_tokenize_chunk, chunks):
                out.extend(tokens)
                progress("tokenize", len(out), len(texts))
        return out
    except BrokenProcessPool:
        # Spawned workers re-import __main__, which fails for code run from stdin or some shells.
        log.warning("tokenizer worker processes failed to start; tokenizing in this process")
        return tokenize_texts(texts, progress, workers=1)


def token_cache_dir(source: Path, cache_dir: str = "") -> Path:
    """Where the tokenized corpus of ``source`` is cached, keyed on its content and the tokenizer."""
    return Path(cache_dir or default_cache_dir()) / "tokens" / _fingerprint(source)


def load_tokenized(
    source: Path,
    cache_dir: str = "",
    needed: dict[str, Sequence[int]] | None = None,
    progress: Progress = _no_progress,
) -> dict[str, Reviews]:
    """Tokenized train and test splits, from the cache when it matches the data and tokenizer.

    ``needed`` maps a split to the indices a run will use. When the whole corpus isn't cached
    and a run needs under half of it, only that part is tokenized (and nothing is cached), so
    a quick demo run doesn't wait for all 50,000 reviews.
    """
    cache = token_cache_dir(source, cache_dir)
    if all((cache / f"{s}.jsonl").exists() for s in SPLITS):
        return {s: _read_cache(cache / f"{s}.jsonl") for s in SPLITS}
    raw = read_raw(source)
    if needed is not None:
        wanted = sum(len(v) for v in needed.values())
        if wanted < sum(len(r) for r in raw.values()) // 2:
            return {s: _tokenize_subset(r, set(needed.get(s, ())), progress) for s, r in raw.items()}
    log.info("tokenizing the IMDB corpus once; it is cached in %s", cache)
    n_train = len(raw["train"])
    tokens = tokenize_texts(raw["train"].items + raw["test"].items, progress)
    out = {
        "train": Reviews(raw["train"].ids, raw["train"].labels, tokens[:n_train]),
        "test": Reviews(raw["test"].ids, raw["test"].labels, tokens[n_train:]),
    }
    cache.mkdir(parents=True, exist_ok=True)
    for split, reviews in out.items():
        _write_cache(cache / f"{split}.jsonl", reviews)
    return out


def load_unlabeled(source: Path, cache_dir: str = "", progress: Progress = _no_progress) -> Reviews:
    """The 50,000 unlabeled reviews, tokenized (and cached like the labeled splits)."""
    path = token_cache_dir(source, cache_dir) / "unsup.jsonl"
    if path.exists():
        return _read_cache(path)
    raw = read_raw(source, ("unsup",))["unsup"]
    reviews = Reviews(raw.ids, raw.labels, tokenize_texts(raw.items, progress))
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_cache(path, reviews)
    return reviews


def _tokenize_subset(reviews: Reviews, keep: set[int], progress: Progress) -> Reviews:
    """Tokenize only the reviews at ``keep``; the others get an empty list so indices stay valid."""
    order = sorted(keep)
    tokens = dict(zip(order, tokenize_texts([reviews.items[i] for i in order], progress)))
    return Reviews(reviews.ids, reviews.labels, [tokens.get(i, []) for i in range(len(reviews))])


def _write_cache(path: Path, reviews: Reviews) -> None:
    # Tokens never contain spaces (clean_text collapses them), so one line per review is enough.
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for rid, label, tokens in zip(reviews.ids, reviews.labels, reviews.items):
            f.write(json.dumps([rid, label]) + "\t" + " ".join(tokens) + "\n")
    os.replace(tmp, path)


def _read_cache(path: Path) -> Reviews:
    ids, labels, items = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            head, _, text = line.rstrip("\n").partition("\t")
            rid, label = json.loads(head)
            ids.append(rid)
            labels.append(label)
            items.append(text.split(" ") if text else [])
    return Reviews(ids, labels, items)


# ---------------------------------------------------------------------------------------------
# Splits


def stratified_sample(labels: Sequence[int], n: int, seed: int) -> list[int]:
    """``n`` indices with the labels' proportions kept, in a seeded order."""
    if n <= 0 or n >= len(labels):
        return list(range(len(labels)))
    rng = random.Random(seed)
    by_label: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_label.setdefault(y, []).append(i)
    picked: list[int] = []
    for _, idx in sorted(by_label.items()):
        rng.shuffle(idx)
        picked.extend(idx[: round(n * len(idx) / len(labels))])
    return sorted(picked)


def split_indices(labels: Sequence[int], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified train/validation split of the 25k training reviews, fixed by ``seed``."""
    val = set(stratified_sample(labels, round(len(labels) * val_fraction), seed))
    return [i for i in range(len(labels)) if i not in val], sorted(val)


@dataclass
class Corpus:
    """Tokenized train/validation/test reviews of one run. Test is only for final evaluation."""

    train: Reviews
    val: Reviews
    test: Reviews
    unlabeled: Reviews | None = None  # the 50k unlabeled reviews, when a run pretrains embeddings


def load_corpus(cfg: TrainConfig, progress: Progress = _no_progress) -> Corpus:
    """Resolve, read, tokenize and split the IMDB data as ``cfg`` asks."""
    source = resolve_source(cfg.data, cfg.cache_dir, progress)
    labels = _labels(source, token_cache_dir(source, cfg.cache_dir))
    # Choosing indices before tokenizing lets a small run tokenize only what it uses.
    train_idx, val_idx = split_indices(labels["train"], cfg.val_fraction, cfg.seed)
    if cfg.max_train_samples:
        sub = stratified_sample([labels["train"][i] for i in train_idx], cfg.max_train_samples, cfg.seed)
        train_idx = [train_idx[i] for i in sub]
    test_idx = list(range(len(labels["test"])))
    if cfg.max_eval_samples:
        sub = stratified_sample([labels["train"][i] for i in val_idx], cfg.max_eval_samples, cfg.seed)
        val_idx = [val_idx[i] for i in sub]
        test_idx = stratified_sample(labels["test"], cfg.max_eval_samples, cfg.seed)
    splits = load_tokenized(source, cfg.cache_dir, {"train": train_idx + val_idx, "test": test_idx}, progress)
    unlabeled = load_unlabeled(source, cfg.cache_dir, progress) if cfg.pretrain_embeddings else None
    return Corpus(splits["train"].subset(train_idx), splits["train"].subset(val_idx), splits["test"].subset(test_idx),
                  unlabeled)


def _labels(source: Path, cache: Path) -> dict[str, list[int]]:
    """Labels of both splits, from the token cache if present (reading it skips the archive)."""
    if all((cache / f"{s}.jsonl").exists() for s in SPLITS):
        return {s: _read_labels(cache / f"{s}.jsonl") for s in SPLITS}
    return {s: r.labels for s, r in read_raw(source).items()}


def _read_labels(path: Path) -> list[int]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line.partition("\t")[0])[1] for line in f]


# ---------------------------------------------------------------------------------------------
# Batching


class EncodedDataset(Dataset):
    """Reviews as index tensors, truncated (head and tail) to ``max_tokens``."""

    def __init__(self, reviews: Reviews, vocab: Vocab, max_tokens: int = 0):
        self.labels = torch.tensor(reviews.labels, dtype=torch.float32)
        # An empty review still gets one <unk> so every sequence has a last state.
        self.tokens = [
            torch.tensor(vocab.encode(head_tail(toks, max_tokens)) or [vocab.unk_index], dtype=torch.long)
            for toks in reviews.items
        ]
        self.lengths = [len(t) for t in self.tokens]

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tokens[i], self.labels[i]


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-length reviews, so padding stays small (torchtext's BucketIterator).

    Shuffled: indices are shuffled, cut into pools of ``batch_size * pool_batches``, each pool is
    sorted by length and cut into batches, and the batch order is shuffled.

        lengths  [212 37 530 88 95 41 | ...]    one pool
        sorted   [37 41 | 88 95 | 212 530]      batches of near-equal length
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True, seed: int = 0,
                 pool_batches: int = 50):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.pool = batch_size * pool_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        order = list(range(len(self.lengths)))
        if not self.shuffle:
            order.sort(key=self.lengths.__getitem__)
            yield from (order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size))
            return
        rng = random.Random(self.seed + self.epoch)
        rng.shuffle(order)
        batches = []
        for start in range(0, len(order), self.pool):
            pool = sorted(order[start : start + self.pool], key=self.lengths.__getitem__)
            batches.extend(pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size))
        rng.shuffle(batches)
        yield from batches

    def __len__(self) -> int:
        if not self.shuffle:
            return -(-len(self.lengths) // self.batch_size)
        full, rest = divmod(len(self.lengths), self.pool)
        return full * -(-self.pool // self.batch_size) + -(-rest // self.batch_size)


def collate(batch: list[tuple[torch.Tensor, torch.Tensor]], pad_index: int = 0):
    """Right-pad a batch: tokens (B, T), lengths (B,), labels (B,)."""
    tokens = torch.nn.utils.rnn.pad_sequence([b[0] for b in batch], batch_first=True, padding_value=pad_index)
    lengths = torch.tensor([len(b[0]) for b in batch], dtype=torch.long)
    labels = torch.stack([b[1] for b in batch])
    return tokens, lengths, labels


def make_loader(dataset: EncodedDataset, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    """A DataLoader over length buckets (shuffled for training, sorted for evaluation)."""
    sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)
