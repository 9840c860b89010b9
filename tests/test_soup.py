"""Model soups: averaging the weights of classifiers fine-tuned from one start, picking them greedily on
validation, and the checkpoint and card the ``soup`` command writes."""

import shutil

import pytest
import torch

from demo.services.registry import ModelEntry
from sentiment_core import load_checkpoint
from sentiment_core.checkpoint import read_metadata, update_checkpoint
from sentiment_core.cli import main
from sentiment_core.evaluation import Metrics
from sentiment_core.predict import Predictor
from sentiment_core.soup import average, check_members, greedy_members
from tests.conftest import _train_tiny

TEXTS = ["Great acting and a wonderful story.", "Boring plot, awful script.", "It was fine"]


def metrics(accuracy, loss=0.5):
    correct = round(accuracy * 100)
    return Metrics.from_confusion(loss, [[correct, 0], [100 - correct, 0]])


@pytest.fixture(scope="module")
def members(tmp_path_factory, tiny_checkpoint, synthetic_data):
    """Two continuations of the tiny model (its start), with other seeds and learning rates."""
    folder = tmp_path_factory.mktemp("soup")
    return [_train_tiny(folder / f"m{seed}.safetensors", data=str(synthetic_data), batch_size=32, epochs=1,
                        init_checkpoint=str(tiny_checkpoint), init_seed=seed, lr=lr)
            for seed, lr in ((1, 3e-3), (2, 1e-3))]


def test_the_average_of_state_dicts_is_their_element_wise_mean_in_float32():
    states = [{"w": torch.tensor([1.0, 2.0]).half(), "b": torch.tensor([0.0])},
              {"w": torch.tensor([3.0, 6.0]), "b": torch.tensor([1.0])}]
    mean = average(states)
    assert mean["w"].dtype == torch.float32 and mean["w"].tolist() == [2.0, 4.0] and mean["b"].tolist() == [0.5]


def test_the_greedy_soup_tries_the_best_candidate_first_and_keeps_what_does_not_lower_validation_accuracy():
    own = [metrics(0.80), metrics(0.90), metrics(0.85), metrics(0.85, loss=0.4)]
    soups = {(1, 3): 0.91, (1, 3, 2): 0.90, (1, 3, 0): 0.91}  # 2 lowers the soup; 0 leaves it as good
    tried = []

    def soup_score(kept):
        tried.append(tuple(kept))
        return metrics(soups[tuple(kept)])

    assert greedy_members(own, soup_score, say=lambda line: None) == [1, 3, 0]
    # Best first: accuracy, then the lower loss breaks the tie between candidates 2 and 3.
    assert tried == [(1, 3), (1, 3, 2), (1, 3, 0)]


def test_members_must_share_architecture_vocabulary_labels_and_split(members, tiny_checkpoint, tmp_path,
                                                                      synthetic_data):
    first, second = (load_checkpoint(p) for p in members)
    check_members([first, second])
    with pytest.raises(ValueError, match="2 to 20 checkpoints"):
        check_members([first])
    with pytest.raises(ValueError, match="named twice"):
        check_members([first, load_checkpoint(members[0])])
    wider = _train_tiny(tmp_path / "wider.safetensors", data=str(synthetic_data), batch_size=32, epochs=1,
                        hidden_dim=16)
    with pytest.raises(ValueError, match="another architecture"):
        check_members([first, load_checkpoint(wider)])
    other_split = load_checkpoint(shutil.copy(members[1], tmp_path / "split.safetensors"))
    other_split.train_config.seed += 1
    with pytest.raises(ValueError, match="validated on other reviews"):
        check_members([first, other_split])
    relabelled = load_checkpoint(shutil.copy(members[1], tmp_path / "labels.safetensors"))
    relabelled.labels = ["bad", "good"]
    with pytest.raises(ValueError, match="has labels"):
        check_members([first, relabelled])
    renamed = load_checkpoint(shutil.copy(members[1], tmp_path / "vocab.safetensors"))
    renamed.vocab.itos[5], renamed.vocab.itos[6] = renamed.vocab.itos[6], renamed.vocab.itos[5]
    renamed.vocab.stoi = {w: i for i, w in enumerate(renamed.vocab.itos)}
    with pytest.raises(ValueError, match="another vocabulary"):
        check_members([first, renamed])


def test_a_soup_of_two_copies_of_a_model_predicts_as_the_model_does(tiny_checkpoint, tmp_path, synthetic_data):
    copy = shutil.copy(tiny_checkpoint, tmp_path / "copy.safetensors")
    out = tmp_path / "same.safetensors"
    assert main(["soup", str(tiny_checkpoint), str(copy), "--output", str(out), "--data", str(synthetic_data)]) == 0
    original, soup = Predictor.from_checkpoint(tiny_checkpoint), Predictor.from_checkpoint(out)
    for a, b in zip(original.predict_batch(TEXTS), soup.predict_batch(TEXTS)):
        assert max(a, key=a.get) == max(b, key=b.get)
        assert a["positive"] == pytest.approx(b["positive"], abs=0.02)  # only the refitted temperature differs
    assert load_checkpoint(out).metrics["val"] == pytest.approx(load_checkpoint(tiny_checkpoint).metrics["val"])


def test_the_soup_command_writes_a_scored_calibrated_checkpoint_and_its_card(members, tmp_path, synthetic_data,
                                                                           capsys):
    out = tmp_path / "soup.safetensors"
    args = ["soup", *map(str, members), "--greedy", "--output", str(out), "--data", str(synthetic_data),
            "--save-dtype", "float16"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"candidate 1 ({members[0]}): validation accuracy" in printed and f"wrote {out}" in printed
    soup = load_checkpoint(out)
    record = soup.metrics["soup"]
    assert record["rule"] == "greedy" and [row["file"] for row in record["candidates"]] == list(map(str, members))
    best = max(row["val_accuracy"] for row in record["candidates"])
    kept = [row for row in record["candidates"] if row["kept"]]
    assert kept and max(row["val_accuracy"] for row in kept) == best
    # The greedy soup is never less accurate on validation than its best member (temperature keeps the labels).
    assert soup.metrics["val"]["accuracy"] >= best - 1 / soup.metrics["val"]["count"]
    assert soup.metrics["test"]["count"] == 200 and "temperature" in soup.metrics["calibration"]
    assert soup.train_config.save_dtype == "float16" and soup.info["command"].startswith("python -m sentiment_core")
    assert "behaviour" in soup.metrics  # negative/positive: the suite ran on the soup as saved
    card = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "(a greedy soup)" in card and "## Soup" in card and f"`{members[0]}`" in card
    assert "- Weights: the average of" in card and "python -m sentiment_core train" not in card.split("## Soup")[0]
    # The app's model list says what the file is.
    entry = ModelEntry("runs/soup", out, read_metadata(out), ("x", 0, 0))
    assert f"the average of {len(kept)} fine-tuned models' weights (a model soup)" in entry.summary()
    # An existing output is kept unless --overwrite.
    assert main(args) == 1 and "exists" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


def test_soups_of_other_seeds_are_one_recipe_in_the_card(members, tmp_path, synthetic_data):
    def soup(seed, first_stage="--epochs 4"):
        candidates = [shutil.copy(path, tmp_path / f"s{seed}-{i}.safetensors") for i, path in enumerate(members)]
        for i, path in enumerate(candidates):
            start = f"python -m sentiment_core train {first_stage} --init-seed {seed} --output runs/a{seed}.safetensors"
            update_checkpoint(path, info={"command": f"python -m sentiment_core train --lr {i} --init-seed {seed} "
                                                     f"--init-checkpoint runs/a{seed}.safetensors "
                                                     f"--output runs/s{seed}-{i}.safetensors",
                                          "continued_command": start})
        out = tmp_path / f"soup{seed}-{first_stage[-1]}.safetensors"
        assert main(["soup", *map(str, candidates), "--output", str(out), "--data", str(synthetic_data)]) == 0
        return out

    first, second = soup(1), soup(2)
    assert main(["card", str(first), "--seeds", str(second)]) == 0
    card = first.with_suffix(".md").read_text(encoding="utf-8")
    assert "## Seeds" in card and "continued from a model made by `python -m sentiment_core train --epochs 4" in card
    assert main(["card", str(first), "--seeds", str(members[0])]) == 1  # a single run is another recipe
    assert main(["card", str(first), "--seeds", str(soup(3, "--epochs 2"))]) == 1  # another first stage


@pytest.mark.parametrize("make, message", [
    (lambda tmp, ckpt: ["soup", str(ckpt), "--output", str(tmp / "a.safetensors")], "2 to 20"),
    (lambda tmp, ckpt: ["soup", *[str(tmp / f"{i}.safetensors") for i in range(21)], "--output",
                        str(tmp / "a.safetensors")], "not 21"),
    (lambda tmp, ckpt: ["soup", str(ckpt), str(ckpt), "--output", str(tmp / "b.txt")], ".safetensors file"),
    (lambda tmp, ckpt: ["soup", str(ckpt), str(tmp / "missing.safetensors"), "--output", str(tmp / "c.safetensors")],
     "missing"),
])
def test_bad_soup_commands_fail_clearly_and_write_nothing(tiny_checkpoint, tmp_path, capsys, make, message):
    before = set(tmp_path.iterdir())
    assert main(make(tmp_path, tiny_checkpoint)) != 0
    assert message in capsys.readouterr().err
    assert set(tmp_path.iterdir()) == before
