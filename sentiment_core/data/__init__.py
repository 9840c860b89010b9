"""The data pipeline: where the texts come from, the token cache, splits and batching.

Where the data comes from is one setting (``TrainConfig.data`` or ``$SENTIMENT_DATA``):
an ``aclImdb_v1.tar.gz`` archive, an unpacked ``aclImdb/`` folder, ``download``, or your own
labelled ``.csv``, ``.tsv``, ``.jsonl`` or ``.parquet`` file.

- ``source.py``: download (checksum, progress), resolving the setting, reading raw texts; a
  ``Source`` hashes the data once and reads it once per run.
- ``workers.py``: tokenizing many reviews in worker processes that stop on request and die
  with their parent.
- ``cache.py``: the validated on-disk token cache and ``load_tokenized``/``load_unlabeled``.
- ``corpus.py``: the stratified splits and slices, ``Corpus`` and ``load_corpus``.
- ``table.py``: reading and checking a labelled file, row by row.
- ``tokens.py``: ``TokenLists``, tokenized texts in flat arrays (about 4 bytes a token).
- ``batching.py``: ``EncodedDataset``, the length-bucketing samplers (one process or several),
  ``collate``, ``make_loader``.
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
from .corpus import (
    RATING_BINS,
    Corpus,
    check_data_options,
    imdb_classes,
    load_corpus,
    load_table_corpus,
    rating_class,
)
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
from .splits import seeded_sample, split_indices, stratified_sample
from .table import LabelledTable, inspect_table, is_table
from .tokens import TokenLists
from .workers import tokenize_stream, tokenize_texts

__all__ = [
    "IMDB_SHA256",
    "IMDB_SIZE",
    "IMDB_URL",
    "LABELS",
    "RATING_BINS",
    "SPLITS",
    "BucketBatchSampler",
    "Corpus",
    "CorruptCacheError",
    "DataError",
    "EncodedDataset",
    "LabelledTable",
    "Progress",
    "Reviews",
    "Source",
    "TokenCache",
    "TokenLists",
    "check_data_options",
    "collate",
    "download_imdb",
    "imdb_classes",
    "inspect_table",
    "is_table",
    "load_corpus",
    "load_table_corpus",
    "load_tokenized",
    "load_unlabeled",
    "make_loader",
    "rating_class",
    "read_cache",
    "read_raw",
    "resolve_source",
    "seeded_sample",
    "split_indices",
    "stratified_sample",
    "token_cache_dir",
    "tokenize_stream",
    "tokenize_texts",
    "write_cache",
]
