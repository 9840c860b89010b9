"""The on-disk cache of tokenized reviews, so a run tokenizes the 100,000 IMDB reviews only once.

One file per split under ``<cache_dir>/tokens/<key>/``, where the key hashes the data's content,
the tokenizer version and this file format. A line per review, then a footer that makes a
truncated or damaged file detectable:

    ["neg/0_3", 0]<TAB>Once again Mr. Costner has dragged out a movie ...
    ["neg/10000_4", 0]<TAB>This is an example of why ...
    #end {"format": "tokens-v2", "reviews": 12500, "sha256": "<sha256 of the lines above>"}

A file that fails the check is logged as a warning, deleted and tokenized again; no run fails
on a bad cache. Tokens never contain whitespace (``clean_text`` collapses it), so one space
joins them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from ..config import default_cache_dir
from ..tempfiles import atomic_file, read_or_discard
from ..tokenizer import TOKENIZER_VERSION
from .source import SPLITS, DataError, Progress, Reviews, Source, as_source, no_progress
from .tokens import TokenLists, TokenListsBuilder
from .workers import tokenize_texts

log = logging.getLogger(__name__)

# Bump when the layout above changes: it is part of the cache key, so old files are never read.
CACHE_FORMAT = "tokens-v2"
_FOOTER = b"#end "


class CorruptCacheError(ValueError):
    """A cache file that is truncated, damaged or not in the current format."""


def cache_key(source: Source) -> str:
    """Key of ``source``'s token cache: its content, the tokenizer version and the file format."""
    return hashlib.sha256(f"{CACHE_FORMAT}\n{TOKENIZER_VERSION}\n{source.content_key}".encode()).hexdigest()[:16]


def token_cache_dir(source: Path | Source, cache_dir: str = "") -> Path:
    """Where the tokenized corpus of ``source`` is cached, keyed on its content and the tokenizer."""
    return Path(cache_dir or default_cache_dir()) / "tokens" / cache_key(as_source(source))


def write_cache(path: Path, reviews: Reviews) -> None:
    """Write ``reviews`` atomically; any failure leaves no file behind and names ``path``."""
    digest = hashlib.sha256()
    try:
        with atomic_file(path) as f:
            for rid, label, tokens in zip(reviews.ids, reviews.labels, reviews.items):
                line = (json.dumps([rid, label]) + "\t" + " ".join(tokens) + "\n").encode()
                digest.update(line)
                f.write(line)
            footer = {"format": CACHE_FORMAT, "reviews": len(reviews), "sha256": digest.hexdigest()}
            f.write(_FOOTER + json.dumps(footer).encode() + b"\n")
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DataError(f"no space left on the device to write the token cache {path}; free some space "
                            "or point cache_dir (--cache-dir) at another disk") from exc
        raise DataError(f"could not write the token cache {path}: {exc}") from exc


def read_cache(path: Path) -> Reviews:
    """The reviews in a cache file, after checking its footer; ``CorruptCacheError`` if it fails.

    Read a line at a time into a ``TokenLists``: a split's tokens never exist as Python lists.
    """
    digest = hashlib.sha256()
    ids, labels, items = [], [], TokenListsBuilder()
    footer = b""
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                raise CorruptCacheError("it is truncated (no final line break)")
            if line.startswith(_FOOTER):
                footer = line[:-1]
                if f.read(1):
                    raise CorruptCacheError("it has lines after its footer")
                break
            digest.update(line)
            try:
                head, _, text = line[:-1].decode("utf-8").partition("\t")
                rid, label = json.loads(head)
            except (ValueError, TypeError) as exc:
                raise CorruptCacheError(f"a line doesn't parse ({exc})") from None
            ids.append(rid)
            labels.append(label)
            items.add(text.split(" ") if text else ())
    if not footer:
        raise CorruptCacheError("it has no footer: truncated, or written by an older version")
    try:
        meta = json.loads(footer[len(_FOOTER) :])
        expected = (meta["format"], meta["reviews"], meta["sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptCacheError(f"its footer is damaged ({exc})") from None
    if expected[0] != CACHE_FORMAT:
        raise CorruptCacheError(f"it is in format {expected[0]!r}, not {CACHE_FORMAT!r}")
    if digest.hexdigest() != expected[2]:
        raise CorruptCacheError("its checksum doesn't match: the file was damaged or truncated")
    if len(ids) != expected[1]:
        raise CorruptCacheError(f"it holds {len(ids):,} reviews, its footer says {expected[1]:,}")
    return Reviews(ids, labels, items.build())


class TokenCache:
    """The tokenized splits of one ``Source``: read from the cache when valid, else tokenized.

    Each cache file is read (and checked) at most once per object; a run holds one object.
    """

    def __init__(self, source: Source, cache_dir: str = ""):
        self.source = source
        self.dir = token_cache_dir(source, cache_dir)
        self._tokens: dict[str, Reviews | None] = {}  # split -> whole tokenized split, None if not cached

    def path(self, split: str) -> Path:
        return self.dir / f"{split}.tokens"

    def cached(self, split: str) -> Reviews | None:
        """The whole tokenized split if its cache file is present and valid."""
        if split not in self._tokens:
            self._tokens[split] = self.read_file(self.path(split))
        return self._tokens[split]

    @staticmethod
    def read_file(path: Path) -> Reviews | None:
        """A token cache file's contents, or None (and the file deleted) when it is missing or unreadable."""
        return read_or_discard(path, read_cache, (OSError, CorruptCacheError), "token cache", "tokenizing again")

    def ids(self, split: str) -> list[str]:
        """Review ids of a split ("pos/123_9"), from the cache when valid (that skips reading the archive)."""
        cached = self.cached(split)
        return cached.ids if cached is not None else self.source.read([split])[split].ids

    def labels(self, split: str) -> list[int]:
        """Labels of a split, from the cache when valid (that skips reading the archive)."""
        cached = self.cached(split)
        return cached.labels if cached is not None else self.source.read([split])[split].labels

    def load(self, needed: dict[str, Sequence[int] | None], progress: Progress = no_progress) -> dict[str, Reviews]:
        """The reviews at ``needed[split]`` (in that order; ``None`` means the whole split), tokenized.

        Splits not cached are tokenized: whole and then cached when the run needs at least half
        of them, else only the reviews asked for (nothing is cached), so a quick run is quick.
        """
        missing = [s for s in needed if self.cached(s) is None]
        partial: dict[str, tuple[dict[int, int], TokenLists]] = {}  # split -> (index -> row of tokens, tokens)
        if missing:
            raw = self.source.read(missing)
            size = sum(len(raw[s]) for s in missing)
            wanted = {s: range(len(raw[s])) if needed[s] is None else sorted(set(needed[s])) for s in missing}
            texts = [raw[s].items[i] for s in missing for i in wanted[s]]
            whole = 2 * len(texts) >= size
            if whole:
                log.info("tokenizing %s once; cached in %s", " and ".join(missing), self.dir)
            tokens, start = tokenize_texts(texts, progress), 0
            for split in missing:
                count = len(wanted[split])
                part = tokens.take(range(start, start + count)) if len(missing) > 1 else tokens
                start += count
                if whole:
                    reviews = Reviews(raw[split].ids, raw[split].labels, part)
                    write_cache(self.path(split), reviews)
                    self._tokens[split] = reviews
                else:
                    partial[split] = ({i: row for row, i in enumerate(wanted[split])}, part)
        out = {}
        for split, indices in needed.items():
            if split in partial:
                raw_split, (row_of, part) = self.source.read([split])[split], partial[split]
                order = range(len(raw_split)) if indices is None else indices
                out[split] = Reviews([raw_split.ids[i] for i in order], [raw_split.labels[i] for i in order],
                                     part.take([row_of[i] for i in order]))
            else:
                reviews = self.cached(split)
                out[split] = reviews if indices is None else reviews.subset(indices)
        return out


def load_tokenized(
    source: Path | Source,
    cache_dir: str = "",
    needed: dict[str, Sequence[int] | None] | None = None,
    progress: Progress = no_progress,
) -> dict[str, Reviews]:
    """Tokenized reviews: ``needed`` maps a split to the indices to return (default: all of train and test).

    Only the splits in ``needed`` are returned, each holding exactly the reviews asked for.
    """
    return TokenCache(as_source(source), cache_dir).load(needed or dict.fromkeys(SPLITS), progress)


def load_unlabeled(source: Path | Source, cache_dir: str = "", progress: Progress = no_progress) -> Reviews:
    """The 50,000 unlabeled reviews, tokenized (and cached like the labeled splits)."""
    return TokenCache(as_source(source), cache_dir).load({"unsup": None}, progress)["unsup"]
