"""Training throughput: this pipeline against a tutorial-style baseline, on the same IMDB slice.

    pipeline   length-bucketed batches, right-padded, the masked padded RNN path (oneDNN on CPU)
    baseline   the same model and batch size, random batches sorted within the batch and fed
               through pack_padded_sequence, as the original PyTorch sentiment tutorial did

Tokens/s counts real (non-padding) tokens over forward, backward and optimiser step time.
Run: python bench/bench_train.py [--reviews 2000] [--preset default] [--threads 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time

import torch
from common import summary
from torch import nn
from torch.utils.data import DataLoader

from sentiment_core import SentimentRNN, Vocab, load_corpus, preset
from sentiment_core.data import EncodedDataset, collate, make_loader


def tutorial_loader(dataset: EncodedDataset, batch_size: int, seed: int) -> DataLoader:
    """Random batches; packing needs each batch sorted by length, which collate does here."""
    def sorted_collate(batch):
        return collate(sorted(batch, key=lambda item: -len(item[0])))

    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, collate_fn=sorted_collate, generator=generator)


def measure(model: nn.Module, loader, packed: bool, warmup: int = 3) -> tuple[list[float], float, float]:
    """One pass over the slice: per-step tokens/s, overall tokens/s and the share of padding."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    rates, real, padded, seconds = [], 0, 0, 0.0
    for i, (tokens, lengths, labels) in enumerate(loader):
        start = time.perf_counter()
        loss = loss_fn(model(tokens, lengths, packed=packed), labels.float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        elapsed = time.perf_counter() - start
        if i >= warmup:
            rates.append(float(lengths.sum()) / elapsed)
            real += int(lengths.sum())
            padded += tokens.numel()
            seconds += elapsed
    return rates, real / seconds, 1 - real / padded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--reviews", type=int, default=2000, help="training reviews in the slice")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model_cfg, train_cfg = preset(args.preset, max_train_samples=args.reviews, max_eval_samples=10)
    corpus = load_corpus(train_cfg)
    vocab = Vocab.build(corpus.train.items, train_cfg.vocab_size, train_cfg.min_freq, train_cfg.lowercase)
    model_cfg = dataclasses.replace(model_cfg, vocab_size=len(vocab))
    dataset = EncodedDataset(corpus.train, vocab, train_cfg.max_tokens)
    print(f"slice: {len(dataset):,} reviews, {sum(dataset.lengths):,} tokens (max_tokens {train_cfg.max_tokens}); "
          f"model {args.preset}: {model_cfg.cell} bidirectional={model_cfg.bidirectional} "
          f"embed {model_cfg.embed_dim} hidden {model_cfg.hidden_dim}; batch {train_cfg.batch_size}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    results = {}
    for name, loader, packed in [
        ("pipeline (bucketed, padded)", make_loader(dataset, train_cfg.batch_size, shuffle=True, seed=0), False),
        ("baseline (random batches, packed)", tutorial_loader(dataset, train_cfg.batch_size, seed=0), True),
    ]:
        random.seed(0)
        torch.manual_seed(0)
        rates, overall, pad_share = measure(SentimentRNN(model_cfg), loader, packed)
        results[name] = overall
        print(f"{name:36s} {overall:,.0f} tokens/s over the pass; per step {summary(rates, 'tokens/s')}; "
              f"padding {pad_share:.1%}")
    pipeline, baseline = results.values()
    print(f"ratio pipeline / baseline (tokens/s over one pass each): {pipeline / baseline:.2f}x")


if __name__ == "__main__":
    main()
