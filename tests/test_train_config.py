"""Config validation: every setting is checked where it enters, against types and bounds."""

import math

import pytest

from sentiment_core.config import MAX_EPOCHS, MAX_TOKENS, ModelConfig, TrainConfig, from_dict, preset, to_dict


def test_vocab_size_sets_the_training_vocabulary_not_the_embedding_rows():
    # ModelConfig.vocab_size is set from the vocabulary; a vocab_size setting means TrainConfig's.
    model_cfg, train_cfg = preset("quick", vocab_size=500)
    assert train_cfg.vocab_size == 500 and model_cfg.vocab_size == 0
    with pytest.raises(ValueError, match="vocab_size must be at least 1"):
        preset("quick", vocab_size=0)


@pytest.mark.parametrize("name", ["lr", "weight_decay", "clip_grad_norm", "dropout", "val_fraction"])
@pytest.mark.parametrize("value", [-1.0, -1e-9, math.nan, math.inf, -math.inf])
def test_negative_or_non_finite_floats_are_refused(name, value):
    with pytest.raises(ValueError, match=name):
        preset("quick", **{name: value})


@pytest.mark.parametrize("name, value", [
    ("max_tokens", -1), ("max_tokens", MAX_TOKENS + 1), ("max_tokens", 10**9), ("batch_size", 0),
    ("batch_size", 4097), ("epochs", 0), ("epochs", 1001), ("embed_dim", 0), ("embed_dim", 30_000),
    ("hidden_dim", 4097), ("num_layers", 9), ("vocab_size", 1_000_001), ("min_freq", 0), ("warmup_steps", -5),
    ("patience", -1), ("seed", -1), ("seed", 2**32), ("num_threads", -2), ("max_train_samples", -1),
    ("max_eval_samples", 10**8), ("lr", 100.0), ("dropout", 1.0), ("val_fraction", 0.0),
])
def test_out_of_range_settings_are_refused(name, value):
    with pytest.raises(ValueError, match=name):
        preset("quick", **{name: value})


@pytest.mark.parametrize("name, value", [("epochs", True), ("epochs", 2.5), ("batch_size", "64"), ("lr", "0.1"),
                                         ("bidirectional", 1), ("cell", 3), ("output", None)])
def test_wrong_types_are_refused(name, value):
    with pytest.raises(ValueError, match=name):
        preset("quick", **{name: value})


def test_limits_themselves_are_accepted():
    model_cfg, train_cfg = preset("quick", max_tokens=MAX_TOKENS, embed_dim=4096, num_layers=8, epochs=MAX_EPOCHS, lr=1)
    assert train_cfg.max_tokens == MAX_TOKENS and train_cfg.lr == 1.0 and isinstance(train_cfg.lr, float)
    assert model_cfg.embed_dim == 4096 and preset("quick", max_tokens=0)[1].max_tokens == 0


@pytest.mark.parametrize("output", ["runs/model.md", "model", "runs/model.safetensors.md", ".safetensors", ""])
def test_output_must_be_a_safetensors_file(output):
    with pytest.raises(ValueError, match=r"output must be a \.safetensors file"):
        TrainConfig(output=output)


def test_configs_round_trip_through_dicts():
    cfg = TrainConfig(overwrite=True, lr=1)
    assert from_dict(TrainConfig, to_dict(cfg)) == cfg
    assert from_dict(ModelConfig, {**to_dict(ModelConfig()), "later_field": 1}) == ModelConfig()
