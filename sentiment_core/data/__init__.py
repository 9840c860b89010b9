"""The IMDB data pipeline: where the reviews come from, the token cache, splits and batching.

Where the data comes from is one setting (``TrainConfig.data`` or ``$SENTIMENT_DATA``):
an ``aclImdb_v1.tar.gz`` archive, an unpacked ``aclImdb/`` folder, or ``download``.

- ``source.py``: download (checksum, progress), resolving the setting, reading raw texts; a
  ``Source`` fingerprints the data once and reads it once per run.
- ``workers.py``: tokenizing many reviews in worker processes that stop on request and die
  with their parent.
- ``cache.py``: the validated on-disk token cache and ``load_tokenized``/``load_unlabeled``.
- ``corpus.py``: the stratified splits and slices, ``Corpus`` and ``load_corpus``.
- ``batching.py``: ``EncodedDataset``, the length-bucketing sampler, ``collate``, ``make_loader``.
"""

from .batching import BucketBatchSampler, EncodedDataset, collate, make_loader
from .cache import (
    CorruptCacheError,
    TokenCache,
    load_tokenized,
    load_unlabeled,
    read_cache,
    token_cache_dir,
    write_cache,
)
from .corpus import Corpus, load_corpus, split_indices, stratified_sample
from .source import (
    IMDB_SHA256,
    IMDB_SIZE,
    IMDB_URL,
    LABELS,
    SPLITS,
    DataError,
    Progress,
    Reviews,
    Source,
    download_imdb,
    read_raw,
    resolve_source,
)
from .workers import tokenize_texts

__all__ = [
    "IMDB_SHA256", "IMDB_SIZE", "IMDB_URL", "LABELS", "SPLITS", "BucketBatchSampler", "Corpus", "CorruptCacheError",
    "DataError", "EncodedDataset", "Progress", "Reviews", "Source", "TokenCache", "collate", "download_imdb",
    "load_corpus", "load_tokenized", "load_unlabeled", "make_loader", "read_cache", "read_raw", "resolve_source",
    "split_indices", "stratified_sample", "token_cache_dir", "tokenize_texts", "write_cache",
]
