"""Training on several processes: the distributed sampler, and a real 2-process torchrun run with gloo."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from sentiment_core import load_checkpoint, load_corpus, preset, train
from sentiment_core.data import BucketBatchSampler
from sentiment_core.data.batching import DistributedBucketSampler
from sentiment_core.training import Step

ROOT = Path(__file__).resolve().parent.parent
LENGTHS = [(i * 37) % 101 + 1 for i in range(1000)]
# Losses of the same global batches on 1 and 2 processes differ only by float32 rounding (the
# order gradients and losses are summed in); measured: at most 1.5e-7 over the first 16 steps.
LOSS_TOLERANCE = 1e-5


@pytest.mark.parametrize("replicas", [2, 3])
def test_every_process_gets_its_piece_of_each_global_batch(replicas):
    whole = list(BucketBatchSampler(LENGTHS, batch_size=8 * replicas, seed=4))
    shares = [list(DistributedBucketSampler(LENGTHS, 8, replicas, rank, seed=4)) for rank in range(replicas)]
    assert all(len(share) == len(whole) == len(DistributedBucketSampler(LENGTHS, 8, replicas, 0)) for share in shares)
    for step, batch in enumerate(whole):
        pieces = [share[step] for share in shares]
        assert [i for piece in pieces for i in piece] == batch  # consecutive, in order
        assert max(map(len, pieces)) - min(map(len, pieces)) <= 1


def test_a_global_batch_smaller_than_the_processes_is_lent_again():
    shares = [list(DistributedBucketSampler([5, 6, 7], 1, 2, rank, seed=0, pool_batches=1)) for rank in range(2)]
    assert [len(s) for s in shares] == [2, 2] and all(len(batch) == 1 for s in shares for batch in s)


def test_evaluation_shards_cover_every_review_once():
    shares = [list(DistributedBucketSampler(LENGTHS, 16, 3, rank, shuffle=False)) for rank in range(3)]
    seen = Counter(i for share in shares for batch in share for i in batch)
    assert sorted(seen) == list(range(len(LENGTHS))) and set(seen.values()) == {1}
    assert [len(s) for s in shares] == [len(DistributedBucketSampler(LENGTHS, 16, 3, r, shuffle=False))
                                        for r in range(3)]


# Dropout off, so both runs compute exactly the same function of the same batches.
SETTINGS = dict(dropout=0.0, max_train_samples=512, max_eval_samples=128, epochs=1, max_tokens=100, num_threads=1)


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="this torch has no gloo backend")
def test_two_gloo_processes_train_like_one_with_the_same_global_batch(tmp_path, synthetic_data):
    out = tmp_path / "runs"
    model_cfg, train_cfg = preset("quick", batch_size=32, data=str(synthetic_data),
                                  output=str(tmp_path / "one.safetensors"), **SETTINGS)
    single = [e.loss for e in train(model_cfg, train_cfg, load_corpus(train_cfg)) if isinstance(e, Step)]

    options = [f"--{key.replace('_', '-')}={value}" for key, value in SETTINGS.items()]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "sentiment_core", "train", "--preset", "quick", "--batch-size", "16",
               "--data", str(synthetic_data), "--output", str(out / "two.safetensors"),
               "--events", str(tmp_path / "events.jsonl"), *options]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "device cpu (2 processes, one each)" in run.stdout
    assert run.stdout.count("finished in") == 1  # rank 0 alone reports

    # One checkpoint (and its card), written once, loadable, that knows it was trained by 2 processes.
    assert sorted(p.name for p in out.iterdir()) == ["two.md", "two.safetensors"]
    ckpt = load_checkpoint(out / "two.safetensors")
    assert ckpt.info["processes"] == 2 and ckpt.metrics["test"]["count"] == 128
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert events[-1]["kind"] == "Finished" and events[-1]["status"] == "finished"
    assert sum(e["kind"] == "CheckpointSaved" for e in events) == 2  # after the epoch, and the final save

    # The same global batches, so the same losses step for step (the distributed sampler's promise).
    two = [e["loss"] for e in events if e["kind"] == "Step"]
    assert len(two) == len(single) == 16
    differences = [abs(a - b) for a, b in zip(single, two)]
    assert max(differences) < LOSS_TOLERANCE, differences
    # Validation sums were added up over both processes: every validation review was scored once.
    assert ckpt.metrics["val"]["count"] == 128
