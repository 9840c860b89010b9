"""Language-model pretraining speed: tokens/s of one training step on real IMDB text, per size.

A step reads ``batch x bptt`` tokens in each direction (forward and backward models), through
the shared adaptive softmax, with the AWD-LSTM dropouts on, and takes the optimizer step; the
rate counts the tokens of both directions. The minutes per epoch are the ~20M tokens of the
training slice and the unlabeled reviews at that rate. On CUDA the step runs in bfloat16
autocast with cuDNN, as ``pretrain`` does.

Run: python bench/bench_pretrain.py [--sizes 128x256,128x192] [--threads 1] [--device cuda] [--steps 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import ROOT  # noqa: F401  (puts the repository on sys.path, sets $SENTIMENT_DATA)

from sentiment_core.data import load_corpus
from sentiment_core.lm import LanguageModel, LMConfig
from sentiment_core.lm_text import prepare_text
from sentiment_core.pretrain import PretrainConfig
from sentiment_core.utils import mixed_precision, resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="128x256,128x192", help="comma-separated EMBEDxHIDDEN")
    parser.add_argument("--cell", default="gru", choices=("gru", "lstm"))
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per size (after 2 warm-up steps)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cfg = PretrainConfig()
    text = prepare_text(cfg, load_corpus(cfg.split_config()))
    rows = [text.rows(1, cfg, d)[:, : (args.steps + 3) * cfg.bptt].to(device) for d in (0, 1)]
    epoch_tokens = len(text.train.codes) + len(text.train)
    print(f"device {device}, {torch.get_num_threads()} threads; batch {cfg.batch_size} x bptt {cfg.bptt}; "
          f"{epoch_tokens / 1e6:.1f}M tokens an epoch per direction")
    for size in args.sizes.split(","):
        embed, hidden = (int(v) for v in size.split("x"))
        torch.manual_seed(0)
        model = LanguageModel(LMConfig(cell=args.cell, embed_dim=embed, hidden_dim=hidden, vocab_size=len(text.vocab)))
        model = model.to(device).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        times = []
        for step in range(args.steps + 2):
            s = step * cfg.bptt
            start = time.perf_counter()
            with mixed_precision(device, "auto"):
                losses = [model(d, rows[d][:, s : s + cfg.bptt], rows[d][:, s + 1 : s + cfg.bptt + 1])[0]
                          for d in (0, 1)]
            loss = torch.stack(losses).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()  # waits for the device
            times.append(time.perf_counter() - start)
        rate = 2 * cfg.batch_size * cfg.bptt / statistics.median(times[2:])
        print(f"{args.cell} {embed}x{hidden}: {rate:,.0f} tokens/s (both directions), "
              f"{2 * epoch_tokens / rate / 60:.0f} min an epoch")


if __name__ == "__main__":
    main()
