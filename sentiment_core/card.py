"""A human-readable model card, rendered from what a checkpoint records about itself."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from . import markdown
from .checkpoint import read_metadata
from .report import confusion_table, history_table, metrics_table

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
    pretrained = (", embeddings started from PPMI-SVD word vectors of the training and 50k unlabeled reviews"
                  if tc.get("pretrain_embeddings") else "")
    clip = f"gradient norm clipped at {tc['clip_grad_norm']}" if tc.get("clip_grad_norm") else "no gradient clipping"
    length = (f"at most {tc['max_tokens']} tokens per review (head and tail)" if tc.get("max_tokens")
              else "whole reviews")
    lines = [
        f"{CARD_MARKER}{markdown.text(info.get('name') or Path(path).stem)}",
        "",
        "Binary sentiment classifier (negative / positive) for English movie reviews, built with "
        "`sentiment_core`.",
        "",
        "## Model",
        "",
        f"- Architecture: {describe_architecture(mc)}",
        f"- Parameters: {info.get('num_parameters', 0):,}",
        f"- Vocabulary: {mc['vocab_size']:,} tokens (spaCy English tokenizer, "
        f"{'lowercased' if meta['vocab'].get('lowercase') else 'case kept'}), `<pad>` and `<unk>` included",
        f"- Weights stored as {tc.get('save_dtype', 'float32')}; file {Path(path).stat().st_size / 1e6:.1f} MB",
        "",
        "## Training",
        "",
        "- Data: IMDB Large Movie Review Dataset v1.0. The 25,000 training reviews are split "
        f"{1 - tc.get('val_fraction', 0.1):.0%}/{tc.get('val_fraction', 0.1):.0%} into train/validation "
        f"(seed {tc.get('seed')}); {info.get('train_size', 0):,} reviews trained on, "
        f"{info.get('val_size', 0):,} validated on. The 25,000 test reviews were used only for the final figures.",
        f"- Recipe: AdamW lr {tc.get('lr')}, weight decay {tc.get('weight_decay')}, {tc.get('schedule')} schedule "
        f"with {tc.get('warmup_steps')} warm-up steps, batch {tc.get('batch_size')}, up to {tc.get('epochs')} epochs "
        f"(best epoch by validation accuracy: {metrics.get('best_epoch')}), {clip}, {length}, vocabulary of "
        f"the {tc.get('vocab_size') or 0:,} most frequent training words seen at least {tc.get('min_freq')} "
        f"time{'s' if tc.get('min_freq') != 1 else ''}{pretrained}.",
        f"- Training time: {info.get('training_seconds', 0) / 60:.1f} min on "
        f"{markdown.text(hardware(info))} (torch {markdown.text(info.get('torch', '?'))}), "
        f"finished {markdown.text(info.get('created', '?'))}.",
    ]
    if info.get("command"):
        lines.append(f"- Command: {markdown.code(info['command'])}")
    lines += ["", "## Results", "", metrics_table({"validation": metrics.get("val"), "test": metrics.get("test")})]
    confusion = (metrics.get("test") or metrics.get("val") or {}).get("confusion")
    if confusion:
        split = "test" if metrics.get("test") else "validation"
        # The wrapper lets the app colour the labels (negative red, positive green); other viewers ignore it.
        lines += ["", f"Confusion matrix ({split}; rows: truth, columns: prediction):", "", '<div class="confusion">',
                  "", confusion_table(confusion), "", "</div>"]
    history = metrics.get("history") or []
    if history:
        lines += ["", history_table(history)]
    lines += ["", "## Known limits", "", LIMITS, "", "## Citation", "", CITATION, ""]
    return "\n".join(lines)


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
