"""The token cache: validated on read, rebuilt when damaged, never left half-written."""

import errno
import logging
import os

import pytest
from test_data import make_imdb_folder

import sentiment_core.data.cache as cache
from sentiment_core.data import (
    CorruptCacheError,
    DataError,
    Reviews,
    load_tokenized,
    read_cache,
    token_cache_dir,
    write_cache,
)

REVIEWS = Reviews(["neg/0_1", "pos/1_9", "pos/2_10"], [0, 1, 1], [["Bad", "."], [], ["Grand", "film", "!"]])


def test_cache_files_round_trip(tmp_path):
    path = tmp_path / "train.tokens"
    write_cache(path, REVIEWS)
    assert read_cache(path) == REVIEWS
    assert os.listdir(tmp_path) == ["train.tokens"]


def damage(path, how):
    blob = path.read_bytes()
    lines = blob.splitlines(keepends=True)
    if how == "control character":  # what used to fail every run with "Invalid control character"
        path.write_bytes(blob[:10] + b"\x01" + blob[11:])
    elif how == "flipped token byte":
        i = blob.index(b"dreadful")
        path.write_bytes(blob[:i] + b"dreadfuL" + blob[i + 8 :])
    elif how == "truncated at a line":  # what used to be read silently as a shorter split
        path.write_bytes(b"".join(lines[:3]))
    elif how == "truncated mid-line":
        path.write_bytes(blob[: len(blob) // 2])
    elif how == "old format":  # the previous layout: review lines, no footer
        path.write_bytes(b"".join(lines[:-1]))
    elif how == "wrong count":
        path.write_bytes(b"".join(lines[:-1]) + lines[-1].replace(b'"reviews": 6', b'"reviews": 5'))
    elif how == "empty":
        path.write_bytes(b"")


HOW = ["control character", "flipped token byte", "truncated at a line", "truncated mid-line", "old format",
       "wrong count", "empty"]


@pytest.mark.parametrize("how", HOW)
def test_damaged_cache_is_detected(tmp_path, how):
    path = tmp_path / "train.tokens"
    write_cache(path, Reviews([f"neg/{i}_2" for i in range(6)], [0] * 6, [["A", "dreadful", "film"]] * 6))
    damage(path, how)
    with pytest.raises(CorruptCacheError):
        read_cache(path)


@pytest.mark.parametrize("how", HOW)
def test_damaged_cache_is_logged_and_rebuilt(tmp_path, caplog, how):
    folder = make_imdb_folder(tmp_path / "src")
    cache_dir = str(tmp_path / "cache")
    first = load_tokenized(folder, cache_dir)
    path = token_cache_dir(folder, cache_dir) / "train.tokens"
    damage(path, how)
    with caplog.at_level(logging.WARNING, logger="sentiment_core.data.cache"):
        again = load_tokenized(folder, cache_dir)
    assert again == first
    assert str(path) in caplog.text and "tokenizing again" in caplog.text
    assert read_cache(path) == first["train"]  # rebuilt, and valid again


def test_cache_key_changes_with_the_format(tmp_path, monkeypatch):
    folder = make_imdb_folder(tmp_path / "src")
    key = token_cache_dir(folder, str(tmp_path))
    monkeypatch.setattr(cache, "CACHE_FORMAT", "tokens-v3")
    assert token_cache_dir(folder, str(tmp_path)) != key


class _FillingFile:
    """A file whose disk fills up after ``room`` bytes."""

    def __init__(self, f, room):
        self.f, self.room = f, room

    def write(self, data):
        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.f.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_full_disk_names_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "train.tokens"
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: _FillingFile(real_fdopen(fd, mode), room=30))
    with pytest.raises(DataError, match=f"no space left.*{path}"):
        write_cache(path, REVIEWS)
    assert os.listdir(tmp_path) == []


def test_failed_write_leaves_no_temp_file_and_keeps_the_old_cache(tmp_path):
    path = tmp_path / "train.tokens"
    write_cache(path, REVIEWS)
    with pytest.raises(TypeError):
        write_cache(path, Reviews(["neg/0_1", "neg/1_1"], [0, 0], [["fine"], [1, 2]]))  # not tokens
    assert os.listdir(tmp_path) == ["train.tokens"] and read_cache(path) == REVIEWS


def test_unwritable_cache_folder_is_a_data_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match="could not write the token cache"):
        write_cache(tmp_path / "file" / "train.tokens", REVIEWS)


def test_a_temp_file_left_by_a_killed_write_is_removed_by_the_next_write(tmp_path):
    path = tmp_path / "train.tokens"
    stale, fresh = tmp_path / "train.tokens.k1ll3d.tmp", tmp_path / "train.tokens.writing.tmp"
    for leftover in (stale, fresh):
        leftover.write_bytes(b'["neg/0_1", 0]\tBad')
    os.utime(stale, (0, 0))
    write_cache(path, REVIEWS)
    assert sorted(os.listdir(tmp_path)) == ["train.tokens", fresh.name]  # the young one may be a write in progress
