"""Training throughput: this pipeline against a tutorial-style baseline, on the same IMDB slice.

    pipeline   length-bucketed batches, right-padded, the masked padded RNN path (oneDNN on CPU)
    baseline   the same model and batch size, random batches sorted within the batch and fed
               through pack_padded_sequence, as the original PyTorch sentiment tutorial did

Tokens/s counts real (non-padding) tokens over forward, backward and optimiser step time; the
epoch time is that of the preset's whole training split (22,500 reviews) at the measured rate.
On CUDA the training step is the trainer's own: bf16 autocast (``--precision auto``), cuDNN,
pinned memory and non-blocking copies, and a third line tells packed from padded on bucketed
batches.
Run: python bench/bench_train.py [--reviews 2000] [--preset default] [--threads 0] [--device cuda]
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
from sentiment_core.config import PRECISIONS
from sentiment_core.data import EncodedDataset, collate, make_loader
from sentiment_core.utils import mixed_precision, resolve_device


def tutorial_loader(dataset: EncodedDataset, batch_size: int, seed: int, pin_memory: bool) -> DataLoader:
    """Random batches; packing needs each batch sorted by length, which collate does here."""
    def sorted_collate(batch):
        return collate(sorted(batch, key=lambda item: -len(item[0])))

    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, collate_fn=sorted_collate, generator=generator,
                      pin_memory=pin_memory)


def measure(model: nn.Module, loader, packed: bool, device: torch.device, precision: str,
            warmup: int = 3) -> tuple[list[float], float, float]:
    """One pass over the slice: per-step tokens/s, overall tokens/s and the share of padding."""
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    rates, real, padded, seconds = [], 0, 0, 0.0
    for i, (tokens, lengths, labels) in enumerate(loader):
        start = time.perf_counter()
        n_tokens = int(lengths.sum())
        tokens, lengths, labels = (t.to(device, non_blocking=True) for t in (tokens, lengths, labels))
        with mixed_precision(device, precision):
            logits = model(tokens, lengths, packed=packed)
        loss = loss_fn(logits.float(), labels.float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()  # waits for the device: the step's time is real
        elapsed = time.perf_counter() - start
        if i >= warmup:
            rates.append(n_tokens / elapsed)
            real += n_tokens
            padded += tokens.numel()
            seconds += elapsed
    return rates, real / seconds, 1 - real / padded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--reviews", type=int, default=2000, help="training reviews in the slice")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "mps", "auto"])
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="auto: bf16 autocast on CUDA")
    parser.add_argument("--batch-size", type=int, default=0, help="reviews per batch (default: the preset's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    overrides = {"batch_size": args.batch_size} if args.batch_size else {}
    model_cfg, train_cfg = preset(args.preset, max_train_samples=args.reviews, max_eval_samples=10, **overrides)
    corpus = load_corpus(train_cfg)
    vocab = Vocab.build(corpus.train.items, train_cfg.vocab_size, train_cfg.min_freq, train_cfg.lowercase)
    model_cfg = dataclasses.replace(model_cfg, vocab_size=len(vocab))
    dataset = EncodedDataset(corpus.train, vocab, train_cfg.max_tokens)
    print(f"slice: {len(dataset):,} reviews, {sum(dataset.lengths):,} tokens (max_tokens {train_cfg.max_tokens}); "
          f"model {args.preset}: {model_cfg.cell} bidirectional={model_cfg.bidirectional} "
          f"embed {model_cfg.embed_dim} hidden {model_cfg.hidden_dim}; batch {train_cfg.batch_size}; "
          f"torch {torch.__version__}, torch threads {torch.get_num_threads()}; device {device} "
          f"({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), precision {args.precision}")
    # The preset's whole training split, for the epoch time (the test set is not read).
    full = preset(args.preset)[1].max_train_samples or 22_500
    epoch_tokens = sum(dataset.lengths) / len(dataset) * full
    pin = device.type == "cuda"
    bucketed = make_loader(dataset, train_cfg.batch_size, shuffle=True, seed=0, pin_memory=pin)
    cases = [("pipeline (bucketed, padded)", bucketed, False),
             ("baseline (random batches, packed)", tutorial_loader(dataset, train_cfg.batch_size, 0, pin), True)]
    if device.type != "cpu":  # on CPU packing is known to be 5x slower; on a GPU it is measured
        cases.append(("bucketed, packed", make_loader(dataset, train_cfg.batch_size, shuffle=True, seed=0,
                                                      pin_memory=pin), True))
    results = {}
    for name, loader, packed in cases:
        random.seed(0)
        torch.manual_seed(0)
        rates, overall, pad_share = measure(SentimentRNN(model_cfg), loader, packed, device, args.precision)
        results[name] = overall
        print(f"{name:36s} {overall:,.0f} tokens/s over the pass; per step {summary(rates, 'tokens/s')}; "
              f"padding {pad_share:.1%}; one epoch of {full:,} reviews ≈ {epoch_tokens / overall:,.1f} s")
    pipeline, baseline = results["pipeline (bucketed, padded)"], results["baseline (random batches, packed)"]
    print(f"ratio pipeline / baseline (tokens/s over one pass each): {pipeline / baseline:.2f}x")


if __name__ == "__main__":
    main()
