"""Identity-term swaps and ties: within a group, at the asked rate, reproducible, nothing else touched."""

import pytest
import torch

from sentiment_core.data.identity import IdentitySwap, IdentityTie
from sentiment_core.vocab import Vocab

GROUPS = {"religion": ("christian", "muslim", "hindu"), "sexuality": ("gay", "lesbian"), "alone": ("sikh", "zz")}
WORDS = ["<pad>", "<unk>", "the", "family", "christian", "muslim", "hindu", "gay", "lesbian", "sikh", "a", "couple"]


def encode(vocab: Vocab, text: str) -> torch.Tensor:
    return torch.tensor([vocab.encode(text.split())])


def test_terms_are_swapped_only_within_their_group_and_nothing_else_moves():
    vocab = Vocab(WORDS)
    swap = IdentitySwap(vocab, 1.0, seed=0, groups=GROUPS)
    tokens = encode(vocab, "the christian family a gay couple sikh").repeat(400, 1)
    out = swap(tokens)
    religion = {vocab.stoi[w] for w in GROUPS["religion"]}
    sexuality = {vocab.stoi[w] for w in GROUPS["sexuality"]}
    assert set(out[:, 1].tolist()) == religion  # every member drawn, none from another group
    assert set(out[:, 4].tolist()) == sexuality
    # "sikh" is alone in the vocabulary (its partner is unknown): nothing to swap it with.
    for col in (0, 2, 3, 5, 6):
        assert torch.equal(out[:, col], tokens[:, col])
    assert swap.terms == 5


def test_the_rate_is_kept_and_a_seed_gives_the_same_swaps():
    vocab = Vocab(WORDS)
    tokens = encode(vocab, "the gay couple").repeat(4000, 1)
    out = IdentitySwap(vocab, 0.5, seed=1, groups=GROUPS)(tokens)
    assert torch.equal(out[:, [0, 2]], tokens[:, [0, 2]])
    # Half of the terms are drawn, and half of those draw the other member of the pair.
    assert (out[:, 1] != tokens[:, 1]).float().mean().item() == pytest.approx(0.25, abs=0.03)
    first = IdentitySwap(vocab, 0.5, seed=1, groups=GROUPS)(tokens)
    assert torch.equal(first, IdentitySwap(vocab, 0.5, seed=1, groups=GROUPS)(tokens))
    assert not torch.equal(first, IdentitySwap(vocab, 0.5, seed=2, groups=GROUPS)(tokens))
    assert torch.equal(IdentitySwap(vocab, 0.0, seed=1, groups=GROUPS)(tokens), tokens)


def test_a_cased_vocabulary_swaps_capitalised_terms_too():
    vocab = Vocab(["<pad>", "<unk>", "A", "Christian", "Muslim", "film"], lowercase=False)
    out = IdentitySwap(vocab, 1.0, seed=0, groups=GROUPS)(encode(vocab, "A Christian film").repeat(200, 1))
    assert set(out[:, 1].tolist()) == {vocab.stoi["Christian"], vocab.stoi["Muslim"]}


def test_a_batch_without_terms_is_returned_as_it_is():
    vocab = Vocab(WORDS)
    tokens = encode(vocab, "the family a couple")
    assert IdentitySwap(vocab, 1.0, seed=0, groups=GROUPS)(tokens) is tokens
    assert IdentitySwap(Vocab(["<pad>", "<unk>", "x"]), 1.0, seed=0, groups=GROUPS).terms == 0


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_the_rate_is_bounded(rate):
    with pytest.raises(ValueError, match="rate"):
        IdentitySwap(Vocab(WORDS), rate, seed=0, groups=GROUPS)


def test_tying_gives_each_group_its_mean_vector_and_leaves_every_other_row():
    vocab = Vocab(WORDS)
    weight = torch.randn(len(WORDS), 4)
    before = weight.clone()
    tie = IdentityTie(vocab, groups=GROUPS)
    tie(weight)
    religion = [vocab.stoi[w] for w in GROUPS["religion"]]
    sexuality = [vocab.stoi[w] for w in GROUPS["sexuality"]]
    for ids in (religion, sexuality):
        assert torch.allclose(weight[ids], before[ids].mean(0).expand(len(ids), -1))
    others = [i for i in range(len(WORDS)) if i not in religion + sexuality]  # "sikh" has no partner: untouched
    assert torch.equal(weight[others], before[others])
    assert tie.terms == 5 and len(tie.groups) == 2
    # After a step that moved the members apart, tying again averages their updates.
    weight[religion[0]] += 3.0
    tie(weight)
    assert torch.allclose(weight[religion], (before[religion].mean(0) + 1.0).expand(3, -1))
