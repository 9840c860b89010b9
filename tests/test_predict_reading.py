"""The Predictor's reading rule: unreadable characters, texts without words, where a long text is cut."""

from __future__ import annotations

import pytest

from sentiment_core import EmptyTextError, Predictor
from sentiment_core.predict import CHARS_PER_TOKEN, readable


@pytest.fixture(scope="module")
def predictor(tiny_checkpoint):
    return Predictor.from_checkpoint(tiny_checkpoint)


# ---------------------------------------------------------------------------------------------
# Characters UTF-8 cannot encode (lone surrogates arrive through JSON)


def test_readable_replaces_lone_surrogates_and_joins_pairs():
    assert readable("great film") == ("great film", False)
    assert readable("great \ud800 film") == ("great \ufffd film", True)
    assert readable("a \udc00b \ud83d\ude00") == ("a \ufffdb \U0001f600", True)
    assert readable("fine \ud83d\ude00") == ("fine \U0001f600", False)  # a pair is one character


@pytest.mark.parametrize("text", ["great \ud800 film", "\udfffawful\ud800 movie", "fine \ud83d\ude00 \ud800 film"])
def test_predict_batch_and_analyze_read_unencodable_text(predictor, text):
    clean, _ = readable(text)
    expected = predictor.predict(clean)
    assert predictor.predict(text) == pytest.approx(expected)
    assert predictor.predict_batch([text, "ok"])[0] == pytest.approx(expected)
    analysis = predictor.analyze(text)
    assert analysis.replaced and analysis.probabilities == pytest.approx(expected)
    "".join(analysis.tokens).encode("utf-8")  # every token is valid text now
    assert not predictor.analyze(clean).replaced


# ---------------------------------------------------------------------------------------------
# One rule for texts without words


NO_WORDS = ["<br />", "<br/><BR>  <br />", " <br /> \u2028 "]


@pytest.mark.parametrize("text", NO_WORDS)
def test_a_text_without_words_is_an_error_alone_and_in_a_batch(predictor, text):
    with pytest.raises(EmptyTextError, match="no words"):
        predictor.predict(text)
    with pytest.raises(EmptyTextError, match="text 2 has no words"):
        predictor.predict_batch(["A fine film.", text])


@pytest.mark.parametrize("text", [*NO_WORDS, "   ", "", "ok", "A fine film.<br />", "\ud800"])
def test_predict_and_predict_batch_agree(predictor, text):
    try:
        single = predictor.predict(text)
    except EmptyTextError:
        with pytest.raises(EmptyTextError, match="text 1"):
            predictor.predict_batch([text])
    else:
        assert predictor.predict_batch([text])[0] == pytest.approx(single, abs=1e-5)


def test_a_non_string_is_a_type_error_alone_and_in_a_batch(predictor):
    with pytest.raises(TypeError):
        predictor.predict(None)
    with pytest.raises(TypeError, match="text 2"):
        predictor.predict_batch(["fine", 3])


# ---------------------------------------------------------------------------------------------
# Where a long text was cut


def test_a_short_text_is_not_cut(predictor):
    reading = predictor.read("A fine film with a great cast.")
    assert not reading.truncated and reading.cut_at is None and not reading.replaced


def test_a_text_over_the_token_limit_is_cut_where_head_tail_cuts(predictor):
    n = predictor.max_tokens
    words = [f"w{i}" for i in range(3 * n)]
    text = " ".join(words)
    assert len(text) <= n * CHARS_PER_TOKEN  # only the token limit applies
    reading = predictor.read(text)
    cut = reading.cut_at
    assert reading.truncated and len(reading.tokens) == n
    assert reading.tokens[:cut] == words[:cut] and reading.tokens[cut:] == words[len(words) - (n - cut):]
    assert cut == n - n // 2


@pytest.mark.parametrize("text", [
    "good " + " " * 5_000 + " bad",  # a long run of whitespace
    "a" * 3_000 + " fine " + "b" * 3_000,  # very long tokens
], ids=["whitespace-run", "long-tokens"])
def test_a_text_cut_only_by_the_character_limit_marks_the_cut(predictor, text):
    assert len(text) > predictor.max_tokens * CHARS_PER_TOKEN
    reading = predictor.read(text)
    assert reading.truncated and len(reading.tokens) == 2 and reading.cut_at == 1


def test_a_clipped_text_with_a_short_head_fills_from_its_tail(predictor):
    n = predictor.max_tokens
    text = "x" * (n * CHARS_PER_TOKEN) + " " + " ".join(f"w{i}" for i in range(5 * n))
    reading = predictor.read(text)
    assert reading.truncated and len(reading.tokens) == n and reading.cut_at == 1
    assert reading.tokens[0].startswith("x") and reading.tokens[-1] == f"w{5 * n - 1}"


def test_tiny_token_limits_cut_at_the_end_of_what_is_kept(tiny_checkpoint):
    one = Predictor.from_checkpoint(tiny_checkpoint, max_tokens=1)
    assert (one.read("good bad").tokens, one.read("good bad").cut_at) == (["good"], 1)
    three = Predictor.from_checkpoint(tiny_checkpoint, max_tokens=3)
    reading = three.read("a b c d e " + "x" * 100)  # over 3 * CHARS_PER_TOKEN: clipped, then cut
    assert reading.tokens[:2] == ["a", "b"] and set(reading.tokens[2]) == {"x"} and reading.cut_at == 2


def test_predict_batch_reads_long_texts_like_predict(predictor):
    n = predictor.max_tokens
    texts = ["good " + " " * 5_000 + " bad", " ".join(f"w{i}" for i in range(3 * n)),
             "The plot drags but the actors are great. " * 2_000]
    for text, got in zip(texts, predictor.predict_batch(texts)):
        assert got == pytest.approx(predictor.predict(text), abs=1e-5)
