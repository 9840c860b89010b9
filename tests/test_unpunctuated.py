"""Final marks dropped from training batches (data/punctuation.py): only a last '.', '!' or '?',
at the asked rate, reproducible, with the lengths kept right. And a typed text that stops on a word,
read with a full stop by a model whose training texts rarely stop on one."""

import pytest
import torch

from sentiment_core import Predictor, load_checkpoint
from sentiment_core.card import render_card
from sentiment_core.config import TrainConfig
from sentiment_core.data import TokenLists
from sentiment_core.data.punctuation import CLOSED_MAX_TOKENS, DropFinalPunctuation, ends_in_word, word_end_share
from sentiment_core.vocab import Vocab

WORDS = ["<pad>", "<unk>", "the", "film", "was", "it", "great", ".", "!", "?", "...", "!?", ",", "a.k.a"]


def batch(vocab: Vocab, *texts: str) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [vocab.encode(t.split()) for t in texts]
    width = max(map(len, rows))
    return torch.tensor([r + [0] * (width - len(r)) for r in rows]), torch.tensor([len(r) for r in rows])


def test_a_final_mark_is_dropped_and_nothing_else():
    vocab = Vocab(WORDS)
    tokens, lengths = batch(vocab, "the film was great .", "the film was great", "the film !", "great ,", ".",
                            "the film was ...", "was it great !?", "the film a.k.a")
    out, n = DropFinalPunctuation(vocab, 1.0, seed=0)(tokens, lengths)
    assert n.tolist() == [4, 4, 2, 2, 1, 3, 3, 3]  # a lone mark stays: a text is never emptied
    words = [[vocab.itos[i] for i in row[:k]] for row, k in zip(out.tolist(), n.tolist())]
    assert words[0] == ["the", "film", "was", "great"] and words[6] == ["was", "it", "great"]
    assert words[3] == ["great", ","] and words[7] == ["the", "film", "a.k.a"]
    assert out[0, 4].item() == vocab.pad_index  # the dropped place is padding again
    assert torch.equal(tokens, batch(vocab, "the film was great .", "the film was great", "the film !", "great ,",
                                     ".", "the film was ...", "was it great !?", "the film a.k.a")[0])  # a copy


def test_the_rate_is_kept_and_a_seed_gives_the_same_drops():
    vocab = Vocab(WORDS)
    tokens, lengths = batch(vocab, *["the film was great ."] * 4000)
    _, n = DropFinalPunctuation(vocab, 0.3, seed=1)(tokens, lengths)
    assert (n == 4).float().mean().item() == pytest.approx(0.3, abs=0.03)
    again = DropFinalPunctuation(vocab, 0.3, seed=1)(tokens, lengths)[1]
    assert torch.equal(n, again) and not torch.equal(n, DropFinalPunctuation(vocab, 0.3, seed=2)(tokens, lengths)[1])
    same = DropFinalPunctuation(vocab, 0.0, seed=1)(tokens, lengths)
    assert same[0] is tokens and same[1] is lengths


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_the_rate_is_bounded(value):
    with pytest.raises(ValueError, match="unpunctuated"):
        TrainConfig(unpunctuated=value)


def test_the_share_of_texts_that_stop_on_a_word():
    texts = [["A", "great", "film", "."], ["Dull"], ["Rated", "8/10"], ["Fun", ":)"]]
    assert word_end_share(TokenLists.from_lists(texts)) == 0.25
    assert word_end_share(TokenLists.from_lists([])) == 0.0
    assert ends_in_word(["it", "was", "fine"]) and not ends_in_word(["fine", "!"]) and not ends_in_word([])


def test_a_text_that_stops_on_a_word_is_read_with_a_full_stop_where_training_texts_rarely_do(tiny_checkpoint):
    checkpoint = load_checkpoint(tiny_checkpoint)
    assert checkpoint.info["word_end_share"] == 0.0  # training records it: every synthetic review ends in "."
    predictor = Predictor(checkpoint)
    reading = predictor.read("A great film")
    assert reading.closed and reading.tokens == ["A", "great", "film", "."]
    assert predictor.predict("A great film") == predictor.predict("A great film.")
    assert predictor.predict_batch(["A great film", "A dull film"]) == \
        predictor.predict_batch(["A great film.", "A dull film."])
    analysis = predictor.analyze("A dull film")
    assert analysis.closed and analysis.tokens[-1] == "." and len(analysis.attributions) == 4
    for text in ("A great film.", "A great film!", "A great film...", "Rated 8/10", "Fun :)", "(a great film)"):
        assert not predictor.read(text).closed, text
    long = " ".join(["fine"] * (CLOSED_MAX_TOKENS + 1))  # a review, scored as reviews are
    assert not predictor.read(long).closed and predictor.read(long[5:]).closed
    assert "with a full stop added: 0.0% of its training texts end in a word" in render_card(tiny_checkpoint)
    # A model whose training texts often stop on a word, or one that never measured it, reads texts as typed.
    for info in ({"word_end_share": 0.5}, {}):
        checkpoint.info = info
        assert Predictor(checkpoint).read("A great film").tokens == ["A", "great", "film"]
