"""The language model (lm.py): shapes, its regularisers only in training, the adaptive softmax, config bounds."""

import pytest
import torch

from sentiment_core.config import MAX_DIM
from sentiment_core.lm import LanguageModel, LMConfig, locked_dropout

NO_DROPOUT = dict(embed_dropout=0.0, input_dropout=0.0, weight_dropout=0.0, output_dropout=0.0)


def tiny_lm(cell: str = "gru", vocab_size: int = 30, **overrides) -> LanguageModel:
    """A language model over ``vocab_size`` words, embeddings of 8 and states of 16."""
    torch.manual_seed(0)
    return LanguageModel(LMConfig(cell=cell, embed_dim=8, hidden_dim=16, vocab_size=vocab_size,
                                  cutoffs=overrides.pop("cutoffs", "10,20"), **overrides))


def batch(vocab_size: int = 30, rows: int = 3, steps: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens (B, T) and their next tokens, from one random stream per row."""
    stream = torch.randint(0, vocab_size, (rows, steps + 1), generator=torch.Generator().manual_seed(1))
    return stream[:, :-1], stream[:, 1:]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_shapes_of_the_loss_and_the_state_in_both_directions(cell):
    model = tiny_lm(cell)
    assert len(model.rnns) == 2 and model.embedding.weight.shape == (30, 8)
    x, y = batch()
    for direction in (0, 1):
        loss, state = model(direction, x, y)
        assert loss.shape == () and torch.isfinite(loss) and loss.item() > 0
        states = state if cell == "lstm" else (state,)
        assert all(s.shape == (1, 3, 16) for s in states)  # (layers, B, H)
        # The state carries on into the next window.
        loss2, _ = model(direction, x, y, state)
        assert torch.isfinite(loss2)
    assert len(tiny_lm(cell, bidirectional=False).rnns) == 1


def test_each_direction_has_its_own_recurrence():
    model = tiny_lm()
    x, y = batch()
    model(1, x, y)[0].backward()
    assert model.rnns[1].weight_hh_l0.grad is not None and model.rnns[0].weight_hh_l0.grad is None
    assert model.embedding.weight.grad is not None  # the embedding and softmax are shared
    model.eval()
    assert model(0, x, y)[0].item() != model(1, x, y)[0].item()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_eval_mode_is_deterministic_and_training_is_not(cell):
    model = tiny_lm(cell, embed_dropout=0.3, input_dropout=0.3, weight_dropout=0.3, output_dropout=0.3)
    x, y = batch()
    model.eval()
    torch.manual_seed(1)
    first = model(0, x, y)[0].item()
    torch.manual_seed(2)
    assert model(0, x, y)[0].item() == first
    with torch.no_grad():
        assert model(0, x, y)[0].item() == first
    model.train()
    losses = {model(0, x, y)[0].item() for _ in range(4)}
    assert len(losses) > 1


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_weight_dropout_drops_recurrent_weights_without_touching_the_stored_ones(cell):
    model = tiny_lm(cell, **{**NO_DROPOUT, "weight_dropout": 0.5})
    stored = {k: v.detach().clone() for k, v in model.state_dict().items()}
    x, y = batch()
    embedded = model.embed(x)
    plain = model.rnns[0](embedded)[0]
    model.train()
    dropped = model.recur(0, embedded, None)[0]
    assert not torch.allclose(dropped, plain)  # the recurrence ran with dropped weights
    loss, _ = model(0, x, y)
    loss.backward()
    assert model.rnns[0].weight_hh_l0.grad is not None  # the gradient reaches the stored weights
    assert all(torch.equal(v, stored[k]) for k, v in model.state_dict().items())
    model.eval()
    assert torch.equal(model.recur(0, embedded, None)[0], plain)


def test_embedding_dropout_drops_whole_words():
    model = tiny_lm(**{**NO_DROPOUT, "embed_dropout": 0.5})
    tokens = torch.tensor([[5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8]])
    model.train()
    torch.manual_seed(3)
    rows = model.embed(tokens)[0]  # (T, E)
    table = model.embedding.weight
    for i in range(0, 12, 3):
        word = tokens[0, i]
        # Every occurrence of a word is dropped, or every one kept (scaled by 1 / (1 - p)).
        assert torch.equal(rows[i], rows[i + 1]) and torch.equal(rows[i], rows[i + 2])
        assert torch.equal(rows[i], torch.zeros(8)) or torch.allclose(rows[i], table[word] * 2)
    model.eval()
    assert torch.equal(model.embed(tokens)[0], table[tokens[0]])


def test_locked_dropout_uses_one_mask_per_sequence():
    x = torch.ones(4, 10, 6)
    torch.manual_seed(0)
    out = locked_dropout(x, 0.5, True)
    assert set(out.unique().tolist()) <= {0.0, 2.0} and (out == 0).any()
    assert torch.equal(out, out[:, :1].expand_as(out))  # the same mask at every step
    assert locked_dropout(x, 0.5, False) is x and locked_dropout(x, 0.0, True) is x


def test_adaptive_softmax_cutoffs_shrink_for_a_small_vocabulary():
    cfg = LMConfig(cutoffs="10,20,40")
    assert cfg.cutoff_list(30) == [10, 20] and cfg.cutoff_list(100) == [10, 20, 40]
    model = tiny_lm(vocab_size=30, cutoffs="10,20,40")
    assert model.softmax.cutoffs == [10, 20, 30] and model.softmax.n_clusters == 2
    assert LMConfig(cutoffs=" 2, 5 ").cutoff_list(10) == [2, 5]


@pytest.mark.parametrize("cutoffs", ["2000,10000", ""])
def test_a_vocabulary_smaller_than_every_cutoff_gets_one_cluster_at_its_middle(cutoffs):
    assert LMConfig(cutoffs=cutoffs).cutoff_list(30) == [14]
    model = tiny_lm(vocab_size=30, cutoffs=cutoffs)
    assert model.softmax.cutoffs == [14, 30]
    x, y = batch()
    assert torch.isfinite(model(0, x, y)[0])


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_every_softmax_cluster_gets_a_projection_or_the_config_is_refused():
    try:
        model = LanguageModel(LMConfig(embed_dim=8, hidden_dim=8, vocab_size=30, cutoffs="10,20"))
    except ValueError:
        return
    assert all(cluster[0].out_features >= 1 for cluster in model.softmax.tail)


@pytest.mark.parametrize("overrides, message", [
    (dict(cutoffs="a,b"), "cutoffs must be comma-separated whole numbers"),
    (dict(cutoffs="20,10"), "cutoffs must be increasing positive numbers"),
    (dict(cutoffs="10,10"), "cutoffs must be increasing positive numbers"),
    (dict(cutoffs="0,10"), "cutoffs must be increasing positive numbers"),
    (dict(cutoffs="-5"), "cutoffs must be increasing positive numbers"),
    (dict(cell="rnn"), "cell must be one of"),
    (dict(embed_dim=0), "embed_dim must be at least 1"),
    (dict(hidden_dim=MAX_DIM + 1), "hidden_dim must be at most"),
    (dict(weight_dropout=1.0), "weight_dropout must be below 1.0"),
    (dict(embed_dropout=-0.1), "embed_dropout must be at least 0.0"),
    (dict(input_dropout=float("nan")), "input_dropout must be a finite number"),
    (dict(output_dropout="0.1"), "output_dropout must be a number"),
    (dict(bidirectional=1), "bidirectional must be true or false"),
    (dict(vocab_size=-1), "vocab_size must be at least 0"),
])
def test_config_bounds_are_clear_value_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        LMConfig(**overrides)


def test_a_model_needs_its_vocabulary_size():
    with pytest.raises(ValueError, match="vocab_size must be set from the vocabulary"):
        LanguageModel(LMConfig())
