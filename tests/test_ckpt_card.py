"""Model cards: written next to their checkpoint, never over it, never over a file they didn't write."""

import pytest
import torch

from sentiment_core.card import is_card, render_card, write_card
from sentiment_core.checkpoint import load_checkpoint, save_checkpoint
from sentiment_core.config import ModelConfig, TrainConfig
from sentiment_core.evaluation import Metrics
from sentiment_core.model import SentimentRNN
from sentiment_core.vocab import Vocab

VAL = Metrics.from_counts(0.3, 4, 1, 0, 5).to_dict()


def make_checkpoint(path):
    vocab = Vocab.build([["good", "bad", "film"]])
    torch.manual_seed(0)
    model = SentimentRNN(ModelConfig(vocab_size=len(vocab), embed_dim=4, hidden_dim=4))
    return save_checkpoint(path, model, vocab, TrainConfig(), {"val": VAL, "test": VAL}, {"name": "c"})


def test_a_card_never_overwrites_its_own_checkpoint(tmp_path):
    ckpt = make_checkpoint(tmp_path / "ckpt.md")  # a checkpoint saved under a card's name
    before = ckpt.read_bytes()
    with pytest.raises(ValueError, match="overwritten by its own card"):
        write_card(ckpt)
    assert ckpt.read_bytes() == before and load_checkpoint(ckpt)


def test_a_card_never_overwrites_a_file_it_did_not_write(tmp_path):
    ckpt = make_checkpoint(tmp_path / "foo.safetensors")
    notes = tmp_path / "foo.md"
    notes.write_text("# My notes on foo\n\nPlease keep.\n")
    with pytest.raises(FileExistsError, match="not a model card"):
        write_card(ckpt)
    assert notes.read_text() == "# My notes on foo\n\nPlease keep.\n"
    assert write_card(ckpt, overwrite=True) == notes and is_card(notes)


def test_an_older_card_is_replaced(tmp_path):
    ckpt = make_checkpoint(tmp_path / "foo.safetensors")
    card = ckpt.with_suffix(".md")
    card.write_text("# Model card: foo\n\nold figures\n")
    assert write_card(ckpt) == card
    assert card.read_text(encoding="utf-8") == render_card(ckpt)


def test_a_card_shows_angle_brackets_and_header_text_as_written(tmp_path):
    vocab = Vocab.build([["good", "bad", "film"]])
    torch.manual_seed(0)
    model = SentimentRNN(ModelConfig(vocab_size=len(vocab), embed_dim=4, hidden_dim=4))
    info = {"name": "<b>my</b> *run*", "hardware": "CPU x86_64, 1 threads", "command": "train --name `x`"}
    ckpt = save_checkpoint(tmp_path / "c.safetensors", model, vocab, TrainConfig(), {"val": VAL, "test": VAL}, info)
    card = render_card(ckpt)
    assert card.startswith("# Model card: &lt;b&gt;my&lt;/b&gt; \\*run\\*\n")  # shown as written, not as HTML
    assert "`<pad>` and `<unk>` included" in card and "one token, `<unk>`" in card
    assert "x86_64, 1 thread (torch" in card  # older headers said "1 threads"
    assert "- Command: `` train --name `x` ``" in card
    assert "<unk>" not in card.replace("`<unk>`", "")  # every bare <unk> would vanish in Markdown
