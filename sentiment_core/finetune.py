"""Fine-tuning a classifier from a pretrained language model (ULMFiT, Howard and Ruder, 2018), and
the extra training examples that put short texts and minimal edits in distribution.

The training loop is ``training.py``'s; this module supplies what differs:

- ``start_from_lm``: the language model's vocabulary, and a one-layer classifier of its cell and
  sizes whose embedding and recurrent directions start from it (``lm.init_classifier``);
- ``param_groups``: discriminative learning rates, lower for layers nearer the input, which
  already know the language and should move least;
- ``unfreeze``: gradual unfreezing, the classifier head first, so its random start does not
  send large gradients into the pretrained layers;
- ``training_examples``: the training reviews plus passages and counterfactual pairs
  (``data/augment.py``), sentences composed from them (``data/compose.py``) and unlabeled reviews
  labelled by teachers (``pseudo.py``), every behaviour-suite sentence scrubbed out.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Generator

from torch import nn

from .config import ModelConfig, TrainConfig
from .data import Corpus
from .data.augment import counterfactual_pairs, edited_sentences, join, passages, probe_keys, scrub
from .data.compose import VerbForms, contrasts, negations, questions, rated_claims
from .data.source import Reviews
from .data.table import is_table
from .data.tokens import word_counts
from .events import Event, Status
from .lm import init_classifier
from .lm_checkpoint import LanguageModelFile, load_language_model
from .pseudo import pseudo_labelled
from .vocab import Vocab

POLARITY = {"negative", "positive"}
MAX_RATED_CLAIMS = 20_000  # short claims of extreme training reviews composed into negations and contrasts


def start_from_lm(cfg: TrainConfig, model_cfg: ModelConfig,
                  corpus: Corpus) -> tuple[Vocab, ModelConfig, LanguageModelFile, str]:
    """The language model of ``cfg.pretrained_lm``, its vocabulary, ``model_cfg`` with its cell and
    sizes, and a note for the user when that changed ``model_cfg`` (empty otherwise).

    On IMDB every validation review of this run must be one the language model never read (its
    own held-out slice): another split seed, validation share or label kind (star ratings split
    differently) would let it have read them.
    """
    lm = load_language_model(cfg.pretrained_lm)
    if not is_table(cfg.data):
        held_out = set(lm.held_out_ids)
        seen = sum(1 for i in corpus.val.ids if i not in held_out)
        if seen:
            raise ValueError(f"the language model {cfg.pretrained_lm} has read {seen:,} of this run's "
                             f"{len(corpus.val):,} validation reviews (it was pretrained with split seed "
                             f"{lm.pretrain_config.get('seed')} and validation share "
                             f"{lm.pretrain_config.get('val_fraction')} on the polarity split); pretrain one with "
                             "this run's split, or use its seed and share")
    lm_cfg = lm.model.cfg
    shape = dict(cell=lm_cfg.cell, embed_dim=lm_cfg.embed_dim, hidden_dim=lm_cfg.hidden_dim, num_layers=1,
                 bidirectional=lm_cfg.bidirectional)
    changed = {k: v for k, v in shape.items() if getattr(model_cfg, k) != v}
    note = ("the classifier takes the language model's shape: " + ", ".join(f"{k} {v}" for k, v in changed.items())
            if changed else "")
    return lm.vocab, dataclasses.replace(model_cfg, **shape), lm, note


def init_from_lm(model: nn.Module, lm: LanguageModelFile) -> None:
    """Copy the language model's weights into the classifier."""
    init_classifier(model, lm.model)


def param_groups(model: nn.Module, lr: float, decay: float) -> list[dict]:
    """Optimizer groups with discriminative learning rates: head ``lr``, recurrence ``lr / decay``,
    embeddings ``lr / decay**2``."""
    return [{"params": list(model.embedding.parameters()), "lr": lr / decay**2},
            {"params": list(model.layers.parameters()), "lr": lr / decay},
            {"params": list(model.fc.parameters()), "lr": lr}]


def unfreeze(model: nn.Module, step: int, every: int) -> None:
    """Gradual unfreezing at training step ``step``: the recurrence trains from step ``every``,
    the embeddings from ``2 * every`` (the head always)."""
    model.layers.requires_grad_(step >= every)
    model.embedding.requires_grad_(step >= 2 * every)


def augments(cfg: TrainConfig) -> bool:
    """Whether a run adds examples to its training reviews (and so scrubs probe sentences)."""
    return bool(cfg.passages or cfg.counterfactual or cfg.pretrained_lm or cfg.pseudo_labels)


@functools.cache
def _probe_keys() -> frozenset[tuple[str, ...]]:
    """The behaviour suite's sentences as ``scrub`` compares them: tokenizing the ~69,000 of them takes
    seconds, so once per process, not once per run."""
    from .behaviour import probe_sentences

    return frozenset(probe_keys(sorted(probe_sentences())))


def training_examples(corpus: Corpus, cfg: TrainConfig) -> Generator[Event, None, Reviews]:
    """The reviews a run trains on: the training split, and with ``cfg.passages``, ``cfg.counterfactual`` or
    ``cfg.pseudo_labels`` the extra examples, with every behaviour-suite sentence scrubbed out."""
    if not augments(cfg):
        return corpus.train
    probes = _probe_keys()
    train, removed = scrub(corpus.train, probes)
    parts, notes = [train], [f"{removed} behaviour-suite sentence{'s' if removed != 1 else ''} scrubbed"]
    if cfg.passages:
        parts.append(passages(train, cfg.passages, cfg.model_seed))
        notes.append(f"{len(parts[-1]):,} passages")
    if cfg.counterfactual:
        more, more_notes = _counterfactual_examples(corpus, cfg, train, probes)
        parts += more
        notes += more_notes
    if cfg.pseudo_labels:
        if is_table(cfg.data):
            raise ValueError("pseudo_labels are IMDB's unlabeled reviews: not for a labelled file")
        labelled, offered = pseudo_labelled(cfg, corpus.classes, corpus.source_key)
        labelled, _ = scrub(labelled, probes)
        parts.append(labelled)
        notes.append(f"{len(labelled):,} of {offered:,} pseudo-labelled unlabeled reviews (teachers at least "
                     f"{cfg.pseudo_min_confidence:.0%} sure)")
    yield Status("training examples: " + ", ".join(notes))
    return join(parts)


def _counterfactual_examples(corpus: Corpus, cfg: TrainConfig, train: Reviews,
                             probes: frozenset[tuple[str, ...]]) -> tuple[list[Reviews], list[str]]:
    """The counterfactual pairs, and what ``cfg`` composes from their edited sentences (and from the
    claims of ``train``'s extreme reviews), each scrubbed of suite sentences; and a note on each."""
    if set(corpus.classes) != POLARITY:
        raise ValueError(f"counterfactual pairs are negative/positive reviews; this data's classes are "
                         f"{corpus.classes}")
    pairs, dropped = counterfactual_pairs(cfg.counterfactual, corpus.classes, [corpus.val.items, corpus.test.items])
    pairs, _ = scrub(pairs, probes)
    parts, notes = [pairs], [f"{len(pairs):,} counterfactual reviews ({dropped} pairs with a validation or test "
                             "review left out)"]
    if not (cfg.edited_sentences or cfg.claims or cfg.negations or cfg.emphatic_negations or cfg.questions
            or cfg.contrasts):
        return parts, notes
    edits, _ = scrub(edited_sentences(pairs), probes, drop_whole=True)
    if cfg.edited_sentences:
        parts += [edits] * cfg.edited_sentences
        notes.append(f"{len(edits):,} edited sentences of them x {cfg.edited_sentences}")
    verbs = VerbForms(word_counts(train.items)) if cfg.negate_verbs else None
    rated = rated_claims(train, MAX_RATED_CLAIMS, cfg.model_seed, verbs)
    if cfg.claims:
        # The plain claims beside what is composed from them: without them, "The plot was dull" is seen
        # mostly inside negations, questions and contrasts that give it another label.
        plain, _ = scrub(rated, probes, drop_whole=True)
        parts += [plain] * cfg.claims
        notes.append(f"{len(plain):,} claims of rated reviews x {cfg.claims}")
    claims = join([edits, rated])
    if cfg.negations:
        negated, _ = scrub(negations(claims, corpus.classes.index("positive"), cfg.model_seed, verbs=verbs), probes,
                           drop_whole=True)
        parts += [negated] * cfg.negations
        notes.append(f"{len(negated):,} negated sentences x {cfg.negations}")
    if cfg.emphatic_negations:
        # Another seed: other rules drawn for the same sentences than their plain negations.
        emphatic, _ = scrub(negations(claims, corpus.classes.index("positive"), cfg.model_seed + 1, emphatic=True,
                                      verbs=verbs), probes, drop_whole=True)
        parts += [emphatic] * cfg.emphatic_negations
        notes.append(f"{len(emphatic):,} emphatic negations x {cfg.emphatic_negations}")
    if cfg.questions:
        asked, _ = scrub(questions(claims, len(corpus.classes)), probes, drop_whole=True)
        parts += [asked] * cfg.questions
        notes.append(f"{len(asked):,} questions x {cfg.questions}")
    if cfg.contrasts:
        joined, _ = scrub(contrasts(claims, cfg.contrasts * len(claims), cfg.model_seed), probes, drop_whole=True)
        parts.append(joined)
        notes.append(f"{len(joined):,} contrasts")
    return parts, notes
