"""A human-readable model card, rendered from what a checkpoint records about itself."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from . import markdown
from .behaviour import applies_to
from .card_sections import (
    behaviour_section,
    calibration_section,
    recorded_section,
    seeds_section,
    soup_section,
    soup_size,
)
from .checkpoint import read_metadata
from .data.punctuation import CLOSED_MAX_TOKENS, WORD_END_SHARE
from .data.table import is_table
from .report import class_table, confusion_table, history_table, metrics_table

CITATION = (
    'Andrew L. Maas, Raymond E. Daly, Peter T. Pham, Dan Huang, Andrew Y. Ng and Christopher Potts. '
    '"Learning Word Vectors for Sentiment Analysis." ACL 2011.'
)


CARD_MARKER = "# Model card: "  # every card's first line; an .md without it was not written here

LIMITS = """\
- Trained on IMDB movie reviews only (English, 2011 and earlier, polarised ratings: <=4 or >=7 of 10).
  Product reviews, tweets and other domains are out of distribution; expect lower accuracy.
- Short texts (a few words) are weak evidence: the training reviews average about 270 tokens.
- Sarcasm, irony, negation far from its target and mixed reviews are common failure cases.
- Words outside the training vocabulary are all read as one token, `<unk>`: text in other languages,
  emoji and rare spellings carry little or no meaning for the model.
- Two labels only: a neutral text still gets a positive or negative probability."""
RATING_LIMITS = """\
- Trained on IMDB movie reviews only (English, 2011 and earlier). IMDB holds no reviews rated 5 or 6,
  so a lukewarm review is put in a neighbouring bin.
- Neighbouring bins (1-2 and 3-4, 7-8 and 9-10) differ in degree, not direction: most mistakes are
  between them, as the confusion matrix shows.
- Words outside the training vocabulary are all read as one token, `<unk>`."""
FILE_LIMITS = """\
- Trained on the labelled file named above only: texts unlike its rows are out of distribution.
- The tokenizer follows English rules (spaCy); other languages are split less well.
- A class with few training examples is learnt and measured poorly (see the per-class table).
- Words outside the training vocabulary are all read as one token, `<unk>`; every text gets one of the
  classes above."""


def hardware(info: dict[str, Any]) -> str:
    """Where a model was trained, e.g. 'CPU x86_64, 1 torch thread'.

    Checkpoints written before the count was made singular say '1 threads'; they read right here.
    """
    return re.sub(r"\b1 (torch )?threads\b", r"1 \1thread", str(info.get("hardware") or "unknown hardware"))


def describe_architecture(model_config: dict[str, Any]) -> str:
    """One line such as 'bidirectional GRU, 1 layer, embed 128, hidden 128, max+last pooling'."""
    c = model_config
    direction = "bidirectional " if c["bidirectional"] else ""
    layers = f"{c['num_layers']} layer{'s' if c['num_layers'] > 1 else ''}"
    return (f"{direction}{c['cell'].upper()}, {layers}, embed {c['embed_dim']}, hidden {c['hidden_dim']}, "
            f"{c['pooling']} pooling, dropout {c['dropout']}")


def render_card(path: str | os.PathLike) -> str:
    """Markdown model card of the checkpoint at ``path``."""
    meta = read_metadata(path)
    mc, tc, metrics, info = meta["model_config"], meta["train_config"] or {}, meta["metrics"], meta["info"]
    labels = meta["labels"]
    own_file = is_table(tc.get("data", ""))
    ratings = not own_file and tc.get("imdb_labels") == "rating-bins"
    lines = [
        f"{CARD_MARKER}{markdown.text(info.get('name') or Path(path).stem)}",
        "",
        _summary(labels, own_file, ratings, info),
        "",
        "## Model",
        "",
        f"- Architecture: {describe_architecture(mc)}",
        f"- Parameters: {info.get('num_parameters', 0):,}",
        f"- Vocabulary: {mc['vocab_size']:,} tokens (spaCy English tokenizer, "
        f"{'lowercased' if meta['vocab'].get('lowercase') else 'case kept'}), `<pad>` and `<unk>` included",
        f"- Weights stored as {tc.get('save_dtype', 'float32')}; file {Path(path).stat().st_size / 1e6:.1f} MB",
        *_reading_line(info),
        "",
        "## Training",
        "",
        _data_line(tc, info, own_file),
    ]
    soup = metrics.get("soup")
    if soup is not None:
        lines += _soup_lines(soup, info)
    else:
        lines += _recipe_lines(tc, info, metrics)
    if info.get("command"):
        lines.append(f"- Command: {markdown.code(info['command'])}")
    lines += ["", "## Results", "", metrics_table({"validation": metrics.get("val"), "test": metrics.get("test")})]
    scored = metrics.get("test") or metrics.get("val") or {}
    if scored.get("confusion"):
        split = "test" if metrics.get("test") else "validation"
        table = confusion_table(scored["confusion"], labels=labels)
        if len(labels) == 2:
            # The wrapper lets the app colour the labels (negative red, positive green); other viewers ignore it.
            table = "\n".join(['<div class="confusion">', "", table, "", "</div>"])
        lines += ["", f"Confusion matrix ({split}; rows: truth, columns: prediction):", "", table]
        if len(labels) > 2:
            lines += ["", f"Per class ({split}):", "", class_table(scored, labels)]
    history = metrics.get("history") or []
    if history:
        lines += ["", history_table(history)]
    lines += recorded_section("soup", soup_section, metrics.get("soup"))
    lines += recorded_section("seeds", seeds_section, metrics.get("seeds"))
    lines += recorded_section("calibration", calibration_section, metrics.get("calibration"))
    if not applies_to(labels):
        lines += ["", "## Behaviour", "", "The behaviour suite does not apply: it tests sentiment polarity (labels "
                  f"negative and positive), and this model's labels are {', '.join(map(markdown.text, labels))}."]
    else:
        lines += recorded_section("behaviour", behaviour_section, metrics.get("behaviour"))
    limits = FILE_LIMITS if own_file else RATING_LIMITS if ratings else LIMITS
    lines += ["", "## Known limits", "", limits, *([] if own_file else ["", "## Citation", "", CITATION]), ""]
    return "\n".join(lines)


def _recipe_lines(tc: dict[str, Any], info: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    """How a trained model was trained: its recipe, time, extra data and the stages it continued."""
    pretrained = (", embeddings started from PPMI-SVD word vectors of the training "
                  + ("rows" if is_table(tc.get("data", "")) else "and 50k unlabeled reviews")
                  if tc.get("pretrain_embeddings") else "")
    clip = f"gradient norm clipped at {tc['clip_grad_norm']}" if tc.get("clip_grad_norm") else "no gradient clipping"
    length = (f"at most {tc['max_tokens']} tokens per review (head and tail)" if tc.get("max_tokens")
              else "whole reviews")
    lines = [
        f"- Recipe: AdamW lr {tc.get('lr')}, weight decay {tc.get('weight_decay')}, {tc.get('schedule')} schedule "
        f"with {tc.get('warmup_steps')} warm-up steps, batch {tc.get('batch_size')}, up to {tc.get('epochs')} epochs "
        f"(best epoch by validation accuracy: {metrics.get('best_epoch')}), {clip}, {length}, vocabulary of "
        f"the {tc.get('vocab_size') or 0:,} most frequent training words seen at least {tc.get('min_freq')} "
        f"time{'s' if tc.get('min_freq') != 1 else ''}{pretrained}.",
        f"- Training time: {info.get('training_seconds', 0) / 60:.1f} min on "
        f"{markdown.text(hardware(info))} (torch {markdown.text(info.get('torch', '?'))}), "
        f"finished {markdown.text(info.get('created', '?'))}.",
    ]
    lines += _transfer_lines(tc, info)
    if info.get("continued_from"):
        start = f"- Continued from {markdown.code(info['continued_from'])}: its weights and vocabulary were the start"
        if info.get("continued_command"):
            start += f", and it was trained with {markdown.code(info['continued_command'])}"
        earlier = info.get("earlier_commands") or []
        if earlier:
            stages = ", then ".join(markdown.code(c) for c in earlier)
            start += f", itself continued from a model made by {stages}"
        lines.append(start + ".")
    return lines


def _soup_lines(record: Any, info: dict[str, Any]) -> list[str]:
    """How a model soup was made, in one line; its members are in the Soup section."""
    kept = soup_size(record)
    if kept is None:
        return ["- Weights: a model soup whose record is unreadable."]
    minutes = info.get("training_seconds", 0) / 60
    return [f"- Weights: the average of {kept} classifiers fine-tuned from one start (a model soup, listed "
            f"under Soup below); their own runs took {minutes:.1f} min of training in all. "
            f"Averaged on {markdown.text(hardware(info))} (torch {markdown.text(info.get('torch', '?'))}), "
            f"{markdown.text(info.get('created', '?'))}."]


def _reading_line(info: dict[str, Any]) -> list[str]:
    """How the predictor reads a text that stops on a word, from the share of training texts that did."""
    share = info.get("word_end_share")
    if share is None:
        return []
    if share < WORD_END_SHARE:
        return [f"- Reads a short text (at most {CLOSED_MAX_TOKENS} tokens) that stops on a word (\"The plot was "
                f"dull\") with a full stop added: {share:.1%} of its training texts end in a word, the rest in a mark, "
                "a number or a symbol."]
    return [f"- Reads texts as typed: {share:.1%} of its training texts end in a word."]


def _transfer_lines(tc: dict[str, Any], info: dict[str, Any]) -> list[str]:
    """What a fine-tuned model started from and trained on besides whole reviews (none for other recipes)."""
    lines = []
    if tc.get("pretrained_lm"):
        lines.append(f"- Started from the pretrained language model {markdown.code(Path(tc['pretrained_lm']).name)} "
                     "(its embedding and both recurrent directions; ULMFiT, Howard and Ruder, 2018), with "
                     f"discriminative learning rates (each layer group below the classifier divided by "
                     f"{tc.get('lr_decay')}) and gradual unfreezing (a group more every {tc.get('unfreeze_steps')} "
                     "steps).")
    extra = []
    if tc.get("passages"):
        extra.append(f"{tc['passages']:g} passage{'s' if tc['passages'] != 1 else ''} (1-3 sentences, labelled as "
                     "their review) per training review")
    if tc.get("counterfactual"):
        extra.append(f"the counterfactually revised review pairs of {markdown.code(Path(tc['counterfactual']).name)} "
                     "(Kaushik, Hovy and Lipton, 2020), pairs with a validation or test review left out")
    if tc.get("edited_sentences"):
        extra.append(f"the sentences people edited in those pairs, each side labelled as its review "
                     f"({tc['edited_sentences']} cop{'ies' if tc['edited_sentences'] != 1 else 'y'})")
    if tc.get("claims"):
        extra.append(f"short claims of training reviews rated 1-2 or 9-10 stars (\"The plot was dull.\"), each "
                     f"labelled as its review ({tc['claims']} cop{'ies' if tc['claims'] != 1 else 'y'})")
    verbs = (" (with \"do\" where a pronoun and a regular verb open a sentence with no auxiliary: \"I didn't love "
             "it.\")") if tc.get("negate_verbs") else ""
    if tc.get("negations"):
        extra.append(f"those sentences and short claims of training reviews rated 1-2 or 9-10 stars, negated by rule"
                     f"{verbs} (a negated positive one labelled negative, a negated negative one once with each label) "
                     f"({tc['negations']} cop{'ies' if tc['negations'] != 1 else 'y'})")
        verbs = ""
    if tc.get("emphatic_negations"):
        extra.append(f"those sentences negated{verbs} and closed by \"at all\" (a negated negative one labelled "
                     f"positive, a negated positive one negative) ({tc['emphatic_negations']} "
                     f"cop{'ies' if tc['emphatic_negations'] != 1 else 'y'})")
    if tc.get("questions"):
        extra.append("those sentences turned into yes/no questions (\"Was the acting convincing?\"), each once with "
                     f"each label ({tc['questions']} cop{'ies' if tc['questions'] != 1 else 'y'})")
    if tc.get("contrasts"):
        extra.append(f"{tc['contrasts']} contrast{'s' if tc['contrasts'] != 1 else ''} per such sentence: two of "
                     "opposite labels joined by \"but\", \"although\", \"even though\" or \"however\", labelled as "
                     "the clause that gives the verdict")
    if tc.get("pseudo_labels"):
        teachers = markdown.code(Path(tc["pseudo_labels"]).name)
        extra.append(f"unlabeled IMDB reviews labelled by the teacher models of {teachers} (their averaged answer, "
                     f"where it was at least {tc.get('pseudo_min_confidence', 0.9):.0%} sure)")
    if extra:
        examples = f"; {info['train_examples']:,} training examples in all" if info.get("train_examples") else ""
        listed = extra[0] if len(extra) == 1 else "; ".join(extra[:-1]) + "; and " + extra[-1]
        lines.append(f"- Also trained on {listed}{examples}. Every sentence of the behaviour suite was "
                     "removed from the labelled training text.")
    if tc.get("unpunctuated"):
        lines.append(f"- The final \".\", \"!\" or \"?\" of a training text was dropped with probability "
                     f"{tc['unpunctuated']:g} (batch by batch).")
    if tc.get("identity_swaps"):
        lines.append(f"- Identity-term swaps (counterfactual data augmentation): each nationality, religion, gender "
                     f"or sexuality term of a training batch was replaced, with probability {tc['identity_swaps']:g}, "
                     "by a random term of its group (the single-word identity terms of Dixon et al., 2018, and "
                     "common nationality adjectives), so no such term can carry sentiment.")
    if tc.get("tie_identity_terms"):
        lines.append("- Tied identity terms: the nationality, religion, gender and sexuality terms of each group (the "
                     "single-word identity terms of Dixon et al., 2018, and common nationality adjectives) shared one "
                     "word vector, so a sentence reads the same whichever term of a group it names.")
    if tc.get("adversarial"):
        lines.append(f"- Adversarial training on the word embeddings (Miyato, Dai and Goodfellow, 2017): every batch "
                     f"was also read with each review's embeddings moved along the loss gradient by "
                     f"{tc['adversarial']:g} of their norm.")
    return lines


def _summary(labels: list[str], own_file: bool, ratings: bool, info: dict[str, Any]) -> str:
    classes = " / ".join(markdown.text(label) for label in labels)
    if own_file:
        return f"{len(labels)}-class text classifier ({classes}), built with `sentiment_core`."
    if ratings:
        return (f"Star-rating classifier for English movie reviews, in {len(labels)} classes ({classes} of 10 stars), "
                "built with `sentiment_core`.")
    return f"Binary sentiment classifier ({classes}) for English movie reviews, built with `sentiment_core`."


def _data_line(tc: dict[str, Any], info: dict[str, Any], own_file: bool) -> str:
    unit = "rows" if own_file else "reviews"
    trained = f"{info.get('train_size', 0):,} {unit} trained on, {info.get('val_size', 0):,} validated on"
    if own_file:
        # The app trains on a copy named by its hash; the card names the file as the user gave it.
        copy, given = Path(tc["data"]).name, info.get("data_name") or ""
        dataset = info.get("dataset") or copy
        if given:
            dataset = f"{given}{dataset.removeprefix(copy)} (kept beside the runs as {copy})"
        return f"- Data: {markdown.text(dataset)}; {trained}."
    return ("- Data: IMDB Large Movie Review Dataset v1.0. The 25,000 training reviews are split "
            f"{1 - tc.get('val_fraction', 0.1):.0%}/{tc.get('val_fraction', 0.1):.0%} into train/validation "
            f"(seed {tc.get('seed')}); {trained}. The 25,000 test reviews were used only for the final figures.")


def card_path(checkpoint: str | os.PathLike) -> Path:
    """Where the card of ``checkpoint`` goes: next to it, as ``<stem>.md``; never the checkpoint itself."""
    path = Path(checkpoint)
    out = path.with_suffix(".md")
    if out == path or out.resolve() == path.resolve():
        raise ValueError(f"{path}: a checkpoint named .md would be overwritten by its own card; "
                         "checkpoints are .safetensors files")
    return out


def is_card(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a card this module wrote: its first line is ``# Model card: ...``."""
    try:
        with open(path, "rb") as f:
            return f.read(len(CARD_MARKER)) == CARD_MARKER.encode()
    except OSError:
        return False


def check_card_target(checkpoint: str | os.PathLike, overwrite: bool = False) -> Path:
    """The card path of ``checkpoint``, if writing it would replace nothing but an older card
    (or, with ``overwrite``, any file); ``FileExistsError`` otherwise."""
    out = card_path(checkpoint)
    if out.is_dir():
        raise IsADirectoryError(f"cannot write the card {out}: it is a folder")
    if out.exists() and Path(checkpoint).exists() and os.path.samefile(out, checkpoint):
        raise ValueError(f"{out} is the checkpoint itself (a link?); its card would overwrite it")
    if out.exists() and not overwrite and not is_card(out):
        raise FileExistsError(f"{out} exists and is not a model card; move it away, or pass --overwrite to replace it")
    return out


def write_card(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the card next to the checkpoint as ``<stem>.md``, replacing only an older card
    unless ``overwrite``; see ``check_card_target``."""
    out = check_card_target(path, overwrite)
    out.write_text(render_card(path), encoding="utf-8")
    return out
