"""Settings that fit the data (issue 19): presets scaled to a file, word vectors no wider than its
vocabulary, the plan shown before Start, the majority-class warning, and two small files that the
preset the Train tab opens on learns to within 90% of what their label noise allows."""

import threading

import pytest
import torch
from small_files import NOISE, good_bad_csv, tickets_csv

from demo.services import data_plan
from sentiment_core.config import preset
from sentiment_core.data import inspect_table, load_corpus
from sentiment_core.fit import (
    DataStats,
    fit_changes,
    fitted_preset,
    majority_note,
    plan_lines,
    preset_for,
    schedule_changes,
)
from sentiment_core.training import Finished, train


def run(model_cfg, train_cfg) -> Finished:
    torch.set_num_threads(1)
    events = list(train(model_cfg, train_cfg, load_corpus(train_cfg), stop=threading.Event()))
    assert isinstance(events[-1], Finished) and events[-1].status == "finished", events[-1]
    return events[-1]


def test_fast_on_a_file_smaller_than_its_word_vectors_trains(tmp_path):
    # 'fast' has 64-dimensional word vectors; this file has about 40 words.
    path = good_bad_csv(tmp_path / "good_bad.csv")
    model_cfg, train_cfg = preset("fast", data=str(path), output=str(tmp_path / "m.safetensors"),
                                  cache_dir=str(tmp_path / "cache"), epochs=1)
    assert run(model_cfg, train_cfg).path


@pytest.mark.parametrize("make", [tickets_csv, good_bad_csv])
def test_the_preset_the_tab_opens_on_learns_a_small_noisy_file(tmp_path, make):
    path = make(tmp_path / "file.csv")
    plan = data_plan.plan(inspect_table(str(path)))
    assert plan.preset == "small" and "Examples per class" in plan.markdown and "vocabulary" in plan.markdown
    model_cfg, train_cfg = preset(plan.preset, **plan.settings, data=str(path), cache_dir=str(tmp_path / "cache"),
                                  output=str(tmp_path / "m.safetensors"))
    accuracy = run(model_cfg, train_cfg).test["accuracy"]
    print(f"{path.name}: test accuracy {accuracy:.1%}")
    assert accuracy >= 0.9 * (1 - NOISE)


def test_presets_scale_with_the_examples_and_the_vocabulary():
    model_cfg, train_cfg = preset("fast")
    tiny = fit_changes(model_cfg, train_cfg, DataStats({"good": 100, "bad": 100}, vocab_words=40))
    assert tiny["embed_dim"] == 40 and tiny["batch_size"] == 8
    assert tiny["epochs"] > train_cfg.epochs and tiny["patience"] > 0  # more passes, stopped on validation
    big = fit_changes(model_cfg, train_cfg, DataStats({"a": 100_000, "b": 100_000}, vocab_words=50_000))
    assert big == {"epochs": 1}
    assert fit_changes(model_cfg, train_cfg, DataStats({"a": 12_500, "b": 12_500})) == {}  # IMDB's size
    assert preset_for(DataStats({"a": 300, "b": 300})) == "small"
    assert preset_for(DataStats({"a": 30_000, "b": 30_000})) == "fast"
    # What the user sets wins over fitting.
    _, train_cfg, changes = fitted_preset("fast", DataStats({"a": 100, "b": 100}), batch_size=64)
    assert train_cfg.batch_size == 64 and "batch_size" not in changes


def test_the_plan_warns_of_a_class_too_small_to_learn():
    model_cfg, train_cfg = preset("small")
    lines = plan_lines("small", DataStats({"billing": 300, "refund": 4}, 80), model_cfg, train_cfg)
    assert any(line.startswith("Too few examples to learn refund") for line in lines)
    assert not any("Too few" in line for line in plan_lines("small", DataStats({"a": 50, "b": 50}), model_cfg,
                                                            train_cfg))


def test_a_run_no_better_than_the_majority_class_says_so():
    assert "most common class (80.0%)" in majority_note({"accuracy": 0.82, "confusion": [[80, 0], [18, 2]]})
    assert majority_note({"accuracy": 0.9, "confusion": [[50, 5], [5, 40]]}) == ""
    assert majority_note({}) == ""


def test_a_preset_that_fits_itself_in_its_run_is_fitted_once_for_a_file():
    stats = DataStats({"good": 500, "bad": 500})
    _, train_cfg, changes = fitted_preset("transfer", stats)
    assert changes["batch_size"] < 128 and changes["epochs"] > 2  # fitted here, where the plan shows it
    assert not train_cfg.fit_steps  # so the run does not fit it again
    assert preset("transfer")[1].fit_steps and not preset("fast")[1].fit_steps
    assert schedule_changes(preset("transfer")[1], 22_500) == {}  # what the presets were tuned on
