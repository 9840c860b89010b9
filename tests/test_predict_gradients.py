"""gradient_by_position: the gradient of the logit w.r.t. each token's embedding, against plain autograd."""

from __future__ import annotations

import pytest
import torch

from sentiment_core import EmptyTextError, Predictor
from sentiment_core.checkpoint import Checkpoint
from sentiment_core.config import ModelConfig
from sentiment_core.data import LABELS
from sentiment_core.model import SentimentRNN
from sentiment_core.vocab import PAD, UNK, Vocab

WORDS = [f"w{i}" for i in range(2, 50)]
VOCAB = Vocab([PAD, UNK, *WORDS])


def predictor(max_tokens: int = 0, seed: int = 0, device: str = "cpu", **arch) -> Predictor:
    """A Predictor over a tiny random model (vocabulary w2..w49, everything else <unk>)."""
    torch.manual_seed(seed)
    cfg = ModelConfig(**{"vocab_size": len(VOCAB), "embed_dim": 8, "hidden_dim": 6, "dropout": 0.3, **arch})
    model = SentimentRNN(cfg)
    return Predictor(Checkpoint(model, cfg, VOCAB, list(LABELS)), device=device, max_tokens=max_tokens)


def text(length: int, seed: int = 1) -> str:
    g = torch.Generator().manual_seed(seed)
    return " ".join(WORDS[i] for i in torch.randint(0, len(WORDS), (length,), generator=g).tolist())


def autograd_norms(model: SentimentRNN, ids: list[int]) -> tuple[torch.Tensor, float]:
    """The definition, by another route: the model's ordinary forward over token ids, the
    embedding layer's output kept by a hook, and its gradient from ``backward``."""
    kept = {}

    def keep(module, inputs, output):
        output.retain_grad()
        kept["embedded"] = output

    handle = model.embedding.register_forward_hook(keep)
    try:
        logit = model(torch.tensor([ids]), torch.tensor([len(ids)]))
        logit.sum().backward()
    finally:
        handle.remove()
    return kept["embedded"].grad[0].norm(dim=-1), logit.item()


ARCHS = [dict(cell=c, bidirectional=b, num_layers=n, pooling=p)
         for c in ("rnn", "lstm", "gru") for b in (False, True) for n in (1, 2) for p in ("last", "max+mean")]


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: "-".join(str(v) for v in a.values()))
def test_gradient_norms_match_autograd_through_the_ordinary_forward(arch):
    p = predictor(**arch)
    review = text(23) + " unknownword"
    flow = p.gradient_by_position(review)
    expected, logit = autograd_norms(p.model, VOCAB.encode(flow.tokens))
    assert flow.tokens == p.read(review).tokens and len(flow.norms) == 24
    assert VOCAB.encode(flow.tokens)[-1] == VOCAB.unk_index  # an unknown word has a gradient too
    torch.testing.assert_close(torch.tensor(flow.norms), expected, rtol=1e-4, atol=0.0)
    assert flow.logit == pytest.approx(logit, abs=1e-5)
    assert flow.probabilities == pytest.approx(p.predict(review), abs=1e-5)  # eval mode: dropout is off
    assert flow.distances == list(range(23, -1, -1))
    assert min(flow.norms) > 0  # every token reaches the logit, even through a cell that forgets


def test_a_long_text_is_read_as_predict_reads_it():
    p = predictor(max_tokens=10, cell="lstm", bidirectional=True)
    review = text(40)
    flow = p.gradient_by_position(review)
    reading = p.read(review)
    assert flow.tokens == reading.tokens and len(flow.tokens) == 10
    assert flow.truncated and flow.cut_at == reading.cut_at == 5
    assert flow.distances == list(range(9, -1, -1))
    expected, _ = autograd_norms(p.model, VOCAB.encode(reading.tokens))
    torch.testing.assert_close(torch.tensor(flow.norms), expected, rtol=1e-4, atol=0.0)
    assert flow.probabilities == pytest.approx(p.predict(review), abs=1e-5)


@pytest.mark.parametrize("bad", ["", "   ", "<br /><br />"])
def test_a_text_without_words_is_an_error(bad):
    with pytest.raises(EmptyTextError):
        predictor().gradient_by_position(bad)


def test_a_non_string_is_a_type_error():
    with pytest.raises(TypeError, match="string"):
        predictor().gradient_by_position(["w2", "w3"])


def test_the_model_keeps_no_gradients_and_stays_in_eval_mode():
    p = predictor(cell="gru")
    p.gradient_by_position(text(8))
    assert not p.model.training
    assert all(param.grad is None for param in p.model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_on_cuda_the_norms_match_cpu_and_cudnn_is_left_on(cell):
    """cuDNN runs RNN backward only in training mode: the eval-mode backward must switch it off and back."""
    review = text(30)
    cpu = predictor(cell=cell, bidirectional=True).gradient_by_position(review)
    cuda = predictor(cell=cell, bidirectional=True, device="cuda").gradient_by_position(review)
    assert cuda.norms == pytest.approx(cpu.norms, rel=1e-3, abs=1e-6)
    assert torch.backends.cudnn.enabled
