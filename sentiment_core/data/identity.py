"""Identity-term swaps: counterfactual data augmentation against learned identity bias.

Reviews mention nationalities, religions, genders and sexualities in proportions that differ
between praise and complaint, so a classifier learns that some of these words lean positive or
negative: a neutral sentence about "a Muslim family" then reads differently from one about "a
Christian family". Replacing each such term of a training example, at random, by a term of its
group makes the term independent of the label, so no member of the group can carry sentiment
(counterfactual data augmentation, Lu et al., 2018; Garg et al., 2019). Tying goes further: the
terms of a group share one word vector, so a sentence reads exactly the same whichever of them it
names (the "equalize" step of Bolukbasi et al., 2016, applied to a classifier's own embedding).

The terms are the single-word identity terms of Dixon et al. (2018), grouped, with the ones that
have a common film sense left out ("black", "white", "straight", "old", "young", "blind"), and
common nationality adjectives added. The behaviour suite's lexicons were not used to make it.
Swaps happen on token indices, per batch, so the data, its cache and the epoch's size stay as
they are.
"""

from __future__ import annotations

import torch

from ..vocab import Vocab

IDENTITY_GROUPS: dict[str, tuple[str, ...]] = {
    "origin": (
        "african", "american", "arab", "asian", "australian", "brazilian", "british", "canadian", "chinese",
        "cuban", "dutch", "egyptian", "english", "european", "filipino", "french", "german", "greek", "hispanic",
        "indian", "iranian", "irish", "italian", "japanese", "korean", "latina", "latino", "mexican", "polish",
        "russian", "scottish", "spanish", "swedish", "turkish", "vietnamese",
    ),
    "religion": ("atheist", "buddhist", "catholic", "christian", "hindu", "jewish", "mormon", "muslim",
                 "protestant", "sikh", "taoist"),
    "gender": ("female", "male", "nonbinary", "trans", "transgender"),
    "sexuality": ("bisexual", "gay", "heterosexual", "homosexual", "lesbian", "queer"),
}


def group_ids(vocab: Vocab, groups: dict[str, tuple[str, ...]] = IDENTITY_GROUPS) -> list[list[int]]:
    """Per group, the vocabulary indices of its terms (and their capitalised forms in a cased
    vocabulary); groups with fewer than two known terms are left out."""
    members = []
    for words in groups.values():
        forms = words if vocab.lowercase else [f for w in words for f in (w, w.capitalize())]
        ids = sorted({vocab.stoi[f] for f in forms if f in vocab.stoi})
        if len(ids) >= 2:
            members.append(ids)
    return members


class IdentitySwap:
    """Replace each identity term of a batch, with probability ``rate``, by a random term of its group
    (among those the vocabulary knows; it can draw the term itself). Deterministic for a ``seed``."""

    def __init__(self, vocab: Vocab, rate: float, seed: int,
                 groups: dict[str, tuple[str, ...]] = IDENTITY_GROUPS):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"the swap rate must be in [0, 1], not {rate}")
        self.rate = rate
        members = group_ids(vocab, groups)
        self.group_of = torch.full((len(vocab),), -1, dtype=torch.long)
        width = max((len(ids) for ids in members), default=1)
        self.members = torch.zeros((max(1, len(members)), width), dtype=torch.long)
        self.counts = torch.ones(max(1, len(members)), dtype=torch.long)
        for g, ids in enumerate(members):
            self.group_of[ids] = g
            self.members[g, : len(ids)] = torch.tensor(ids)
            self.counts[g] = len(ids)
        self.terms = sum(len(ids) for ids in members)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        """A copy of ``tokens`` (B, T) with the swaps made (the same tensor when it has no term)."""
        group = self.group_of[tokens]
        where = (group >= 0).nonzero(as_tuple=True)
        if not self.terms or where[0].numel() == 0:
            return tokens
        g = group[where]
        chosen = torch.rand(g.numel(), generator=self.generator) < self.rate
        pick = (torch.rand(g.numel(), generator=self.generator) * self.counts[g]).long()
        swapped = tokens.clone()
        swapped[where] = torch.where(chosen, self.members[g, pick], tokens[where])
        return swapped


class IdentityTie:
    """Tie the word vectors of each group's identity terms: ``tie(weight)`` sets every term's row of
    the embedding ``weight`` to its group's mean. Called once before training and after every
    optimizer step, it keeps one shared vector per group, trained by all of its terms' gradients."""

    def __init__(self, vocab: Vocab, groups: dict[str, tuple[str, ...]] = IDENTITY_GROUPS):
        self.groups = [torch.tensor(ids) for ids in group_ids(vocab, groups)]
        self.terms = sum(len(ids) for ids in self.groups)

    @torch.no_grad()
    def __call__(self, weight: torch.Tensor) -> None:
        if self.groups and self.groups[0].device != weight.device:
            self.groups = [ids.to(weight.device) for ids in self.groups]
        for ids in self.groups:
            weight[ids] = weight[ids].mean(0)
