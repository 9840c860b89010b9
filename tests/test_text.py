"""Tokenizer and vocabulary."""

import json

import pytest

from sentiment_core import tokenizer
from sentiment_core.tokenizer import clean_text, clip_chars, head_tail, tokenize
from sentiment_core.vocab import PAD, UNK, Vocab


def test_tokenize_splits_like_spacy_english():
    assert tokenize("I didn't like it... at all!") == ["I", "did", "n't", "like", "it", "...", "at", "all", "!"]


@pytest.mark.parametrize("br", ["<br />", "<br/>", "<br>", "<BR />", "<br  />"])
def test_imdb_line_breaks_are_removed(br):
    tokens = tokenize(f"Great film.{br}{br}Loved it.")
    assert tokens == ["Great", "film", ".", "Loved", "it", "."]
    assert not any("br" in t.lower() for t in tokens)


def test_tokens_never_contain_whitespace():
    tokens = tokenize("tabs\tand\n\nnewlines  and\u00a0nbsp ")
    assert tokens == ["tabs", "and", "newlines", "and", "nbsp"]
    assert clean_text(" a \n b ") == "a b"


def test_head_tail_keeps_both_ends():
    tokens = list(range(10))
    assert head_tail(tokens, 4) == [0, 1, 8, 9]
    assert head_tail(tokens, 5) == [0, 1, 2, 8, 9]
    assert head_tail(tokens, 0) == tokens
    assert head_tail(tokens, 20) == tokens


@pytest.mark.parametrize("max_tokens", [1, 3, 5, 7, 9])
def test_head_tail_with_odd_sizes_keeps_one_more_head_token(max_tokens):
    tokens = list(range(10))
    kept = head_tail(tokens, max_tokens)
    head, tail = (max_tokens + 1) // 2, max_tokens // 2
    assert len(kept) == max_tokens
    assert kept == tokens[:head] + tokens[len(tokens) - tail :]


def test_clip_chars_keeps_head_and_tail_cut_at_spaces():
    text = " ".join(f"w{i}" for i in range(1000))
    assert clip_chars(text, len(text)) == [text]
    head, tail = clip_chars(text, 100)
    assert len(head) <= 50 and len(tail) <= 50
    assert head.startswith("w0 w1 ") and tail.endswith(" w999")
    assert all(w.startswith("w") and w[1:].isdigit() for w in f"{head} {tail}".split())


def test_the_tokenizer_is_rebuilt_before_strangers_text_grows_it_without_bound(monkeypatch):
    monkeypatch.setattr(tokenizer, "MAX_TOKENIZER_STRINGS", len(tokenizer.spacy_tokenizer().vocab.strings) + 50)
    first = tokenizer.spacy_tokenizer()
    tokenize(" ".join(f"novelword{i}" for i in range(100)))  # 100 strings the store has never seen
    second = tokenizer.spacy_tokenizer()
    assert second is not first and len(second.vocab.strings) < len(first.vocab.strings)
    assert tokenize("A fine film.") == ["A", "fine", "film", "."]


def test_vocab_build_respects_size_frequency_and_specials():
    corpus = [["good", "Good", "bad"], ["good", "movie", "bad"], ["rare"]]
    vocab = Vocab.build(corpus, max_size=2, min_freq=2, lowercase=True)
    assert vocab.itos == [PAD, UNK, "good", "bad"]
    assert vocab.encode(["GOOD", "rare", "bad"]) == [2, 1, 3]
    cased = Vocab.build(corpus, max_size=10, min_freq=1, lowercase=False)
    assert "Good" in cased.stoi and "good" in cased.stoi
    assert cased.encode(["GOOD"]) == [cased.unk_index]


def test_vocab_ties_break_deterministically():
    a = Vocab.build([["b", "a", "c"]], max_size=2)
    b = Vocab.build([["c", "a", "b"]], max_size=2)
    assert a.itos == b.itos == [PAD, UNK, "a", "b"]


def test_vocab_round_trips_through_json():
    vocab = Vocab.build([["ünïcode", "word", "word"]], lowercase=False)
    restored = Vocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert restored.itos == vocab.itos and restored.lowercase is False
    assert restored.encode(["word", "ünïcode", "x"]) == vocab.encode(["word", "ünïcode", "x"])


def test_vocab_rejects_malformed_token_lists():
    with pytest.raises(ValueError, match="must start"):
        Vocab(["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        Vocab([PAD, UNK, "a", "a"])
