"""The model's fast paths against their plain definitions: prefix logits and integrated-gradients gradients."""

import pytest
import torch

from sentiment_core import gru_kernels
from sentiment_core.config import ModelConfig
from sentiment_core.model import SentimentRNN

POOLINGS = ["last", "max", "mean", "max+last", "last+max+mean"]


def make(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = ModelConfig(**{"vocab_size": 50, "embed_dim": 8, "hidden_dim": 6, "dropout": 0.0, **kw})
    return SentimentRNN(cfg).eval()


def review(length=37, seed=1):
    return torch.randint(2, 50, (length,), generator=torch.Generator().manual_seed(seed))


PREFIXES = torch.tensor([1, 2, 5, 17, 36, 37, 3, 17])  # unsorted, with a repeat, the whole text included


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_one_layer_bidirectional_prefixes_match_reading_each_prefix(cell, pooling):
    model = make(cell=cell, pooling=pooling, bidirectional=True)
    tokens = review()
    with torch.no_grad():
        fast = model.prefix_logits(tokens, PREFIXES)
        slow = model.prefix_logits(tokens, PREFIXES, reread=True)
        alone = torch.stack([model(tokens[None, :n], torch.tensor([n]))[0] for n in PREFIXES.tolist()])
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(slow, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", [dict(bidirectional=False, num_layers=2), dict(bidirectional=True, num_layers=2)],
                         ids=["forward-2-layers", "bidirectional-2-layers"])
def test_other_architectures_prefixes_match_reading_each_prefix(arch):
    model = make(cell="gru", pooling="max+last", **arch)
    tokens = review()
    with torch.no_grad():
        fast = model.prefix_logits(tokens, PREFIXES)
        alone = torch.stack([model(tokens[None, :n], torch.tensor([n]))[0] for n in PREFIXES.tolist()])
    torch.testing.assert_close(fast, alone, atol=1e-5, rtol=1e-5)


def autograd_path_gradients(model, embedded, alphas):
    """The definition: logits at alpha * x and x_t . dlogit/dx_t, by autograd through ``classify``."""
    path = (alphas[:, None, None] * embedded).requires_grad_(True)
    logits = model.classify(path, torch.full((len(alphas),), len(embedded)))
    (grads,) = torch.autograd.grad(logits.sum(), path)
    return logits.detach(), (grads * embedded).sum(dim=-1)


ALPHAS = torch.tensor([0.0, 0.05, 0.5, 0.9, 1.0])


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [True, False], ids=["bidirectional", "forward"])
def test_gru_path_gradients_match_autograd(bidirectional, pooling):
    model = make(cell="gru", pooling=pooling, bidirectional=bidirectional)
    embedded = model.embedding(review(23)).detach()
    logits, grads = model.path_gradients(embedded, ALPHAS)
    want_logits, want_grads = autograd_path_gradients(model, embedded, ALPHAS)
    assert grads.shape == (len(ALPHAS), 23)
    torch.testing.assert_close(logits, want_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads, want_grads, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        whole = model(review(23)[None], torch.tensor([23]))
    torch.testing.assert_close(logits[-1:], whole, atol=1e-5, rtol=1e-5)  # alpha = 1 is the text itself


@pytest.mark.parametrize("arch", [dict(cell="lstm"), dict(cell="rnn", bidirectional=False), dict(num_layers=2)],
                         ids=["lstm", "rnn", "gru-2-layers"])
def test_other_path_gradients_are_autograds(arch):
    model = make(pooling="max+last", **arch)
    embedded = model.embedding(review(11)).detach()
    logits, grads = model.path_gradients(embedded, ALPHAS)
    want_logits, want_grads = autograd_path_gradients(model, embedded, ALPHAS)
    torch.testing.assert_close(logits, want_logits, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(grads, want_grads, atol=1e-6, rtol=1e-6)


def test_path_gradients_need_eval_mode():
    model = make().train()
    with pytest.raises(ValueError, match="eval mode"):
        model.path_gradients(model.embedding(review(5)).detach(), ALPHAS)


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("arch", [dict(cell="gru", bidirectional=True), dict(cell="gru", bidirectional=False),
                                  dict(cell="lstm", bidirectional=True)], ids=["bi-gru", "gru", "bi-lstm"])
def test_infer_matches_forward_on_a_padded_batch(arch, pooling):
    model = make(pooling=pooling, **arch)
    lengths = torch.tensor([9, 3, 40, 1, 40, 17])  # unsorted, with ties
    tokens = torch.randint(2, 50, (6, 40), generator=torch.Generator().manual_seed(2))
    tokens[torch.arange(40)[None, :] >= lengths[:, None]] = 0
    with torch.no_grad():
        want = model(tokens, lengths)
    torch.testing.assert_close(model.infer(tokens, lengths), want, atol=1e-5, rtol=1e-5)
    if arch["cell"] == "gru":  # steps taken a few at a time, across the input-projection chunks
        torch.testing.assert_close(gru_kernels.gru_infer(model, tokens, lengths, chunk=7), want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("lengths", [(7,), (7, 3, 1)], ids=["one-review", "padded-batch"])
def test_a_batch_reads_each_review_as_alone(lengths):
    """The backward direction's reversal (a flip without padding, a gather with it) reads each review exactly."""
    model = make(cell="gru", bidirectional=True, pooling="last+max+mean")
    tokens = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for i, n in enumerate(lengths):
        tokens[i, :n] = review(n, seed=i)
    with torch.no_grad():
        batch = model(tokens, torch.tensor(lengths))
        alone = torch.stack([model(tokens[i : i + 1, :n], torch.tensor([n]))[0] for i, n in enumerate(lengths)])
        packed = model(tokens, torch.tensor(lengths), packed=True)
    torch.testing.assert_close(batch, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batch, packed, atol=1e-5, rtol=1e-5)
