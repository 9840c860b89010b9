"""The recurrent classifier: exact masking, running predictions, presets, and that it can learn."""

import pytest
import torch
from torch import nn

from sentiment_core.config import ModelConfig, preset
from sentiment_core.model import SentimentRNN
from sentiment_core.padding import reverse_index


def batch(vocab_size=50, lengths=(9, 3, 6, 1), seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    tokens = torch.randint(2, vocab_size, (len(lengths), int(lengths.max())), generator=g)
    tokens[torch.arange(tokens.size(1))[None, :] >= lengths[:, None]] = 0
    return tokens, lengths


def make(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = ModelConfig(**{"vocab_size": 50, "embed_dim": 8, "hidden_dim": 6, "dropout": 0.0, **kw})
    return SentimentRNN(cfg).eval()


def test_reverse_index_reverses_within_length():
    assert reverse_index(torch.tensor([3, 1]), 4).tolist() == [[2, 1, 0, 3], [0, 1, 2, 3]]


ARCHS = [
    dict(cell=c, bidirectional=b, num_layers=n, pooling=p)
    for c in ("rnn", "lstm", "gru") for b in (False, True) for n in (1, 2) for p in ("last", "max+mean")
]


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: "-".join(str(v) for v in a.values()))
def test_padded_batch_equals_packed_and_unpadded(arch):
    model = make(**arch)
    tokens, lengths = batch()
    with torch.no_grad():
        padded = model(tokens, lengths)
        packed = model(tokens, lengths, packed=True)
        alone = torch.stack([model(tokens[i : i + 1, : lengths[i]], lengths[i : i + 1])[0] for i in range(4)])
    torch.testing.assert_close(padded, packed, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pooling", ["last", "max", "mean", "max+last", "last+max+mean"])
def test_running_logits_end_at_the_final_prediction(pooling):
    model = make(cell="lstm", bidirectional=False, pooling=pooling)
    tokens, lengths = batch()
    with torch.no_grad():
        running = model.running_logits(tokens, lengths)
        final = model(tokens, lengths)
        prefix3 = model(tokens[:1, :3], torch.tensor([3]))
    torch.testing.assert_close(running[torch.arange(4), lengths - 1], final, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(running[0, 2:3], prefix3, atol=1e-5, rtol=1e-5)


def test_prefix_logits_match_reading_each_prefix_alone():
    model = make(cell="gru", bidirectional=True)
    tokens, _ = batch(lengths=(9,))
    with torch.no_grad():
        got = model.prefix_logits(tokens[0], torch.tensor([2, 5, 9]))
        want = torch.stack([model(tokens[:, :n], torch.tensor([n]))[0] for n in (2, 5, 9)])
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="one-directional"):
        model.running_logits(tokens, torch.tensor([9]))


def test_tutorial_preset_is_the_tutorial_model():
    model_cfg, train_cfg = preset("tutorial")
    model = SentimentRNN(ModelConfig(**{**model_cfg.__dict__, "vocab_size": train_cfg.vocab_size + 2}))
    assert model.embedding.weight.shape == (25_002, 100)
    (rnn,) = model.layers[0]
    assert isinstance(rnn, nn.RNN) and (rnn.input_size, rnn.hidden_size, rnn.num_layers) == (100, 256, 1)
    assert (model.fc.in_features, model.fc.out_features) == (256, 1)
    assert model.dropout.p == 0.5
    assert (train_cfg.batch_size, train_cfg.epochs, train_cfg.lr, train_cfg.weight_decay) == (64, 5, 1e-3, 0.0)
    assert train_cfg.schedule == "constant" and train_cfg.clip_grad_norm == 0


@pytest.mark.parametrize("bad", [dict(cell="transformer"), dict(pooling="max+max"), dict(pooling="attention"),
                                 dict(hidden_dim=0), dict(dropout=1.0)])
def test_invalid_model_configs_are_rejected(bad):
    with pytest.raises(ValueError):
        ModelConfig(**bad)


def test_model_overfits_32_reviews():
    """A learning sanity check: 32 random "reviews" whose label is a hidden word's presence."""
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(5, 40, (32,), generator=g)
    tokens = torch.randint(3, 200, (32, 40), generator=g)
    labels = (torch.arange(32) % 2).float()
    tokens[labels == 1, 0] = 2  # positive reviews start with word 2
    tokens[torch.arange(40)[None, :] >= lengths[:, None]] = 0
    torch.manual_seed(0)
    model = SentimentRNN(ModelConfig(cell="gru", vocab_size=200, embed_dim=16, hidden_dim=16, dropout=0.0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = nn.functional.binary_cross_entropy_with_logits(model(tokens, lengths), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    assert loss.item() < 0.05
    assert ((model(tokens, lengths) > 0).float() == labels).all()
