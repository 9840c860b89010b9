"""The Behaviour tab's services and API: the report equals the CLI's, is cached on disk, and every endpoint
refuses bad input clearly."""

import json
import shutil
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from demo import build_demo
from demo.services import behaviour as bh
from demo.services import flip
from demo.services.registry import ModelRegistry
from demo.tabs import behaviour_views as views
from sentiment_core.checkpoint import update_checkpoint
from sentiment_core.cli import main


def failure_rates(halves: dict) -> dict:
    return {half: {t["name"]: (t["cases"], t["failures"], t["failure_rate"]) for t in data["tests"]}
            for half, data in halves.items()}


def test_the_report_equals_the_clis(registry, tiny_checkpoint, capsys, tmp_path):
    assert main(["behaviour", "--checkpoint", str(tiny_checkpoint), "--half", "both", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    reports = bh.BehaviourReports(registry, str(tmp_path))
    report = bh.report_json(bh.report(reports, None, "both"))
    (model,) = report["models"]
    assert model["applies"] and failure_rates(model["halves"]) == failure_rates(cli)
    assert model["halves"]["dev"]["tests"][0]["examples"] == cli["dev"]["tests"][0]["examples"]
    assert all("examples" not in t for t in model["halves"]["heldout"]["tests"])  # figures only


def test_a_model_without_recorded_results_is_run_once_and_cached_on_disk(tmp_path, tiny_checkpoint, capsys,
                                                                         monkeypatch):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    path = shipped / "bare.safetensors"
    shutil.copy(tiny_checkpoint, path)
    update_checkpoint(path, {"behaviour": None})
    registry = ModelRegistry(shipped, tmp_path / "runs", path)
    seen = []
    reports = bh.BehaviourReports(registry, str(tmp_path / "cache"))
    (model,) = bh.report(reports, ["shipped/bare"], "dev", lambda what, done, total: seen.append((done, total)))
    assert seen[0] == (0, bh.suite_size("dev")) and seen[-1] == (bh.suite_size("dev"),) * 2
    assert len(list((tmp_path / "cache" / "behaviour").glob("*.json"))) == 1
    assert main(["behaviour", "--checkpoint", str(path), "--json"]) == 0
    assert failure_rates({"dev": model.results["dev"].to_dict()}) == failure_rates(json.loads(capsys.readouterr().out))

    def no_run(*args):
        raise AssertionError("ran the suite again")

    monkeypatch.setattr(bh.BehaviourReports, "_run", no_run)
    again = bh.report(bh.BehaviourReports(registry, str(tmp_path / "cache")), ["shipped/bare"], "dev")
    assert again[0].results["dev"] == model.results["dev"]


def test_the_capability_table_colours_by_severity_and_escapes(registry, tmp_path):
    (model,) = bh.report(bh.BehaviourReports(registry, str(tmp_path)), None, "both")
    table = views.capability_table([model])
    assert "negation of positive" in table and "held-out" in table and "an example that fails" in table
    assert views.severity(0.75)[0] == "severe" and views.severity(0.05) == ("low", views.severity(0.0)[1])
    frame = views.examples_frame(model)
    assert len(frame) == sum(len(t.examples) for t in model.results["dev"].tests)
    assert "<script>" not in views.diff_html("<script>x</script> good", "<script>x</script> bad")


def test_edit_to_flip_marks_the_changed_words():
    left, right = flip.diff("I loved this film.", "I hated this film!")
    assert [p for p, changed in left if changed] == ["loved", "."]
    assert [p for p, changed in right if changed] == ["hated", "!"]
    pairs = flip.load_pairs()
    assert 5 <= len(pairs) <= 8 and all(p["original"]["label"] != p["revised"]["label"] for p in pairs)
    notice = json.loads((Path(flip.__file__).with_name("flip_pairs.json")).read_text())
    assert "Apache" in notice["license"] and "Kaushik" in notice["citation"]
    assert Path(flip.__file__).with_name("flip_pairs.LICENSE").read_text().startswith(" " * 10)


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_checkpoint):
    from bench.screenshots import free_port

    root = tmp_path_factory.mktemp("behaviour-app")
    shipped = root / "checkpoints"
    shipped.mkdir()
    shutil.copy(tiny_checkpoint, shipped / "default.safetensors")
    demo = build_demo(checkpoint_dir=shipped, runs_dir=root / "runs", allow_training=False)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    yield Client(url, verbose=False)
    demo.close()


def test_behaviour_report_endpoint(client, tiny_checkpoint, capsys):
    report = client.predict(api_name="/behaviour_report")
    assert main(["behaviour", "--checkpoint", str(tiny_checkpoint), "--half", "both", "--json"]) == 0
    assert failure_rates(report["models"][0]["halves"]) == failure_rates(json.loads(capsys.readouterr().out))
    dev = client.predict(["shipped/default"], "dev", api_name="/behaviour_report")
    assert list(dev["models"][0]["halves"]) == ["dev"]
    for args, message in [((["shipped/nope"],), "gone or unknown"), ((None, "train"), "half must be"),
                          (([1, 2],), "models must be a list"), ((["x"] * 7,), "gone or unknown"),
                          (([f"m{i}" for i in range(7)],), "At most 6 models")]:
        with pytest.raises(AppError, match=message):
            client.predict(*args, api_name="/behaviour_report")


def test_run_template_endpoint(client):
    result = client.predict("This {thing} is not {pos_adj}.", "negative", api_name="/run_template")
    (model,) = result["models"]
    assert model["cases"] == 6 * 8 and len(model["failing"]) == model["failures"]
    own = client.predict("It was {adj}.", "positive", "", ["shipped/default"], {"adj": ["good", "bad"]},
                         api_name="/run_template")
    assert own["models"][0]["cases"] == 2
    for args, message in [(("x" * 100_000,), "at most 500"), (("A {noun}.",), "Unknown placeholder"),
                          ((["list"],), "must be a string"), ((None,), "must be a string"), (("",), "empty"),
                          (("{first_name} {city} {thing} {pos_adj}",), "fills; at most 500"),
                          (("It was {adj}.", "positive", "", None, {"adj": "good"}), "list of words"),
                          (("It was {adj}.", "positive", "", None, ["adj"]), "must map"),
                          (("{pos_adj}", "positive", "", "shipped/nope"), "gone or unknown"),
                          (("{pos_adj}", 3), "expectation must be one of")]:
        with pytest.raises(AppError, match=message):
            client.predict(*args, api_name="/run_template")


def test_edit_to_flip_endpoint(client):
    result = client.predict("I loved this film.", "I hated this film.", api_name="/edit_to_flip")
    assert result["changed_in_review"] == ["loved"] and result["changed_in_edit"] == ["hated"]
    (model,) = result["models"]
    assert model["change"]["positive"] == pytest.approx(
        model["after"]["probabilities"]["positive"] - model["before"]["probabilities"]["positive"])
    for args, message in [(("", "x"), "empty"), (("x" * 6000, "x"), "at most 5,000"), ((3, "x"), "must be a string")]:
        with pytest.raises(AppError, match=message):
            client.predict(*args, api_name="/edit_to_flip")
