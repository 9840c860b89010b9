"""Malformed checkpoint headers: each is one CheckpointError naming the file and the field."""

import json
import random

import pytest
import torch

from sentiment_core.card import render_card
from sentiment_core.checkpoint import CheckpointError, load_checkpoint, read_metadata, save_checkpoint
from sentiment_core.config import ModelConfig, TrainConfig
from sentiment_core.evaluation import Metrics
from sentiment_core.model import SentimentRNN
from sentiment_core.vocab import Vocab

VAL = Metrics.from_counts(0.3, 4, 1, 0, 5).to_dict()
HISTORY = [{"epoch": 1, "step": 10, "train_loss": 0.6, "val_loss": 0.5, "val_accuracy": 0.8}]


@pytest.fixture
def path(tmp_path):
    vocab = Vocab.build([["good", "bad", "film", "plot"]])
    torch.manual_seed(0)
    model = SentimentRNN(ModelConfig(vocab_size=len(vocab), embed_dim=8, hidden_dim=8))
    metrics = {"val": VAL, "test": VAL, "best_epoch": 1, "epochs_trained": 1, "history": HISTORY}
    info = {"name": "m", "num_parameters": 100, "training_seconds": 1.5}
    return save_checkpoint(tmp_path / "m.safetensors", model, vocab, TrainConfig(), metrics, info)


def rewrite(path, mutate) -> None:
    """Apply ``mutate`` to the file's safetensors header (a dict), keeping the tensor bytes."""
    blob = path.read_bytes()
    size = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + size])
    mutate(header)
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + blob[8 + size :])


def set_raw(key, text):
    """A mutation that stores ``text`` as the metadata string ``key``."""
    def mutate(header):
        header["__metadata__"][key] = text
    return mutate


def set_json(key, change):
    """A mutation that loads metadata ``key``'s JSON, applies ``change`` to it and stores it back."""
    def mutate(header):
        value = json.loads(header["__metadata__"][key])
        value = change(value)
        header["__metadata__"][key] = json.dumps(value)
    return mutate


def put(*keys_and_value):
    """change(value): set value[k1][k2]... = v, returning the whole value."""
    *keys, new = keys_and_value

    def change(value):
        target = value
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = new
        return value
    return change


MALFORMED = [
    ("metadata is a list", lambda h: h.update({"__metadata__": ["format"]}), "__metadata__"),
    ("metadata is a string", lambda h: h.update({"__metadata__": "sentiment_core.checkpoint"}), "__metadata__"),
    ("metadata value not a string", lambda h: h["__metadata__"].update({"metrics": {}}), "metrics"),
    ("format_version a number", lambda h: h["__metadata__"].update({"format_version": 1}), "format_version"),
    ("format_version a word", set_raw("format_version", "one"), "format_version"),
    ("model_config {}", set_raw("model_config", "{}"), "model_config"),
    ("model_config []", set_raw("model_config", "[]"), "model_config"),
    ("model_config nested too deeply", set_raw("model_config", "[" * 100_000 + "]" * 100_000), "model_config"),
    ("embed_dim a string", set_json("model_config", put("embed_dim", "8")), "embed_dim"),
    ("unknown cell", set_json("model_config", put("cell", "transformer")), "cell"),
    ("vocab_size above the bound", set_json("model_config", put("vocab_size", 2_000_000)), "vocab_size"),
    ("labels empty", set_raw("labels", "[]"), "labels"),
    ("labels not strings", set_raw("labels", "[0, 1]"), "labels"),
    ("labels not JSON", set_raw("labels", "negative,positive"), "labels"),
    ("vocab a list", set_raw("vocab", "[]"), "vocab"),
    ("vocab tokens not strings", set_json("vocab", put("itos", ["<pad>", "<unk>", 3, "a", "b", "c"])), "vocab.itos"),
    ("vocab tokens repeated", set_json("vocab", put("itos", ["<pad>", "<unk>", "a", "a", "b", "c"])), "vocab.itos"),
    ("vocab lowercase a string", set_json("vocab", put("lowercase", "yes")), "vocab.lowercase"),
    ("train_config a list", set_raw("train_config", "[]"), "train_config"),
    ("train_config lr a string", set_json("train_config", put("lr", "fast")), "lr"),
    ("train_config max_tokens 1e9", set_json("train_config", put("max_tokens", 10**9)), "max_tokens"),
    ("metrics a list", set_raw("metrics", "[]"), "metrics"),
    ("accuracy a word", set_json("metrics", put("val", "accuracy", "high")), "metrics.val.accuracy"),
    ("accuracy above 1", set_json("metrics", put("test", "accuracy", 91.4)), "metrics.test.accuracy"),
    ("count a boolean", set_json("metrics", put("val", "count", True)), "metrics.val.count"),
    ("val metrics incomplete", set_json("metrics", put("val", {"accuracy": 0.9})), "metrics.val"),
    ("confusion not 2x2", set_json("metrics", put("test", "confusion", [[1, 2], [3]])), "metrics.test.confusion"),
    ("history an object", set_json("metrics", put("history", {"epoch": 1})), "metrics.history"),
    ("history epoch a string", set_json("metrics", put("history", 0, "epoch", "1")), "metrics.history[0].epoch"),
    ("history loss missing", set_json("metrics", lambda m: {**m, "history": [{"epoch": 1}]}), "metrics.history[0]"),
    ("best_epoch a float", set_json("metrics", put("best_epoch", 1.5)), "metrics.best_epoch"),
    ("info a list", set_raw("info", "[]"), "info"),
    ("info nested too deeply", set_raw("info", '{"a":' * 100_000 + "1" + "}" * 100_000), "info"),
    ("info name a number", set_json("info", put("name", 42)), "info.name"),
    ("info training_seconds a word", set_json("info", put("training_seconds", "long")), "info.training_seconds"),
    ("info num_parameters null", set_json("info", put("num_parameters", None)), "info.num_parameters"),
    ("info earlier_commands a string", set_json("info", put("earlier_commands", "python x")), "info.earlier_commands"),
    ("info earlier_commands of numbers", set_json("info", put("earlier_commands", [1, 2])), "info.earlier_commands"),
    ("info earlier_commands too many", set_json("info", put("earlier_commands", ["x"] * 21)), "info.earlier_commands"),
]


@pytest.mark.parametrize("mutate, field", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_headers_name_the_file_and_the_field(path, mutate, field):
    rewrite(path, mutate)
    for read in (read_metadata, load_checkpoint):
        with pytest.raises(CheckpointError) as info:
            read(path)
        message = str(info.value)
        assert str(path) in message and field in message, message


def test_a_deeply_nested_safetensors_header_is_not_a_crash(tmp_path):
    path = tmp_path / "deep.safetensors"
    raw = b"[" * 200_000 + b"]" * 200_000
    path.write_bytes(len(raw).to_bytes(8, "little") + raw)
    with pytest.raises(CheckpointError, match="not a safetensors checkpoint"):
        load_checkpoint(path)


def test_random_byte_flips_in_the_header_raise_only_checkpoint_errors(path):
    blob = path.read_bytes()
    end = 8 + int.from_bytes(blob[:8], "little")
    rng = random.Random(0)
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(300):
        damaged = bytearray(blob)
        for _ in range(rng.choice((1, 1, 2, 5))):
            damaged[rng.randrange(end)] = rng.randrange(256)
        path.write_bytes(bytes(damaged))
        try:
            read_metadata(path)
            load_checkpoint(path)
            outcomes["loaded"] += 1
        except CheckpointError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100, outcomes


ODD_VALUES = [None, True, -1, 0, 2**40, 1.5, -0.5, float("nan"), "", "x", [], [1, "a"], {}, {"a": {}}]


def _paths(value, prefix=()):
    """Every (path) into nested JSON ``value``, the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:8]):
            yield from _paths(item, (*prefix, i))


def test_random_values_anywhere_in_the_header_raise_only_checkpoint_errors(path):
    blob = path.read_bytes()
    rng = random.Random(1)
    refused = 0
    for _ in range(400):
        path.write_bytes(blob)
        key = rng.choice(["model_config", "vocab", "labels", "train_config", "metrics", "info"])

        def change(value, key=key):
            where = rng.choice(list(_paths(value)))
            new = rng.choice(ODD_VALUES)
            if not where:
                return new
            target = value
            for k in where[:-1]:
                target = target[k]
            target[where[-1]] = new
            return value

        rewrite(path, set_json(key, change))
        try:
            read_metadata(path)
        except CheckpointError:
            refused += 1
            continue
        load_checkpoint(path)
        render_card(path)  # what the header lets through, the card can print
    assert refused > 200, refused
