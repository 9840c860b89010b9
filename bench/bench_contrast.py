"""Accuracy on a contrast set: the dev split of the counterfactually revised IMDB reviews (Kaushik,
Hovy and Lipton, 2020), 245 reviews and the revision of each that people edited as little as
possible to flip its label. No model is trained on this split (training may use the train split's
pairs). A model that reads the words that carry the verdict gets both texts of a pair right; one
that goes by topic or by counting sentiment words gets the original right and the revision wrong.

Prints, per checkpoint: accuracy over all 490 texts, over the originals and over the revisions
(an original is the text of a pair found in IMDB's train split, with --data), and the share of
pairs with both texts right.
Run: python bench/bench_contrast.py [extra.safetensors ...] [--data ../shared/data/aclImdb_v1.tar.gz] [--threads 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from common import ROOT

from sentiment_core import Predictor
from sentiment_core.behaviour import applies_to
from sentiment_core.data.augment import read_counterfactual
from sentiment_core.data.source import as_source
from sentiment_core.report import render

DEV = ROOT.parent / "shared" / "data" / "counterfactual-imdb" / "dev_paired.tsv"
CLASSES = ["negative", "positive"]


def originals(data: Path, texts: list[str]) -> set[str]:
    """Those of ``texts`` that are reviews of the IMDB archive's train split (compared without spaces)."""
    def key(text: str) -> str:
        return "".join(text.split())

    wanted = {key(t): t for t in texts}
    train = as_source(data).read(["train"])["train"]
    return {wanted[k] for text in train.items if (k := key(text)) in wanted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="*", type=Path, help="more checkpoints to run")
    parser.add_argument("--pairs", type=Path, default=DEV, help="counterfactual TSV (default: the dev split)")
    parser.add_argument("--data", type=Path, help="IMDB archive, to tell originals from revisions")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = read_counterfactual(args.pairs, CLASSES)
    texts = [text for _, _, text in rows]
    found = originals(args.data, texts) if args.data else set()
    if args.data:
        print(f"{len(found)} of {len(rows)} texts are IMDB train reviews (the originals)")
    paths = list(dict.fromkeys([*sorted((ROOT / "checkpoints").glob("*.safetensors")), *args.checkpoints]))
    table = [["checkpoint", "all", "originals", "revisions", "pairs both right"]]
    for path in paths:
        predictor = Predictor.from_checkpoint(path)
        if not applies_to(predictor.labels):
            continue
        probs = predictor.predict_batch(texts)
        right = [max(p, key=p.get) == CLASSES[label] for p, (_, label, _) in zip(probs, rows)]
        pairs: dict[str, list[bool]] = {}
        for ok, (batch_id, _, _) in zip(right, rows):
            pairs.setdefault(batch_id, []).append(ok)

        def share(oks: list[bool]) -> str:
            return f"{sum(oks) / len(oks):.1%}" if oks else "n/a"

        table.append([path.stem, share(right), share([ok for ok, t in zip(right, texts) if t in found]),
                      share([ok for ok, t in zip(right, texts) if found and t not in found]),
                      share([all(oks) for oks in pairs.values() if len(oks) == 2])])
    print(render(table, style="text", align="lrrrr"))


if __name__ == "__main__":
    main()
