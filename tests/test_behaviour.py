"""The behavioural suite: its data, fills, expectations and runner on a keyword model, and the CLI."""

import json
import re

import pytest

from sentiment_core import Predictor
from sentiment_core.behaviour import (
    BUG_REPORT_SENTENCES,
    HALVES,
    HELDOUT_SHA256,
    MAX_CASES,
    Suite,
    SuiteResult,
    applies_to,
    band,
    fill,
    load_half,
    normalize,
    passes,
    probe_sentences,
    render_markdown,
    run_suite,
)
from sentiment_core.behaviour import suite as suite_module
from sentiment_core.behaviour.perturb import contract, expand, typo
from sentiment_core.cli import main

POLAR_LEXICONS = {"positive": ("pos_adj", "pos_adj_strong", "pos_verb", "pos_verb_base", "pos_noun"),
                  "negative": ("neg_adj", "neg_adj_strong", "neg_verb", "neg_verb_base", "neg_noun")}


def keyword_model(lexicons: dict, calls: list | None = None):
    """A predict_fn that counts the half's polar lexicon entries: 0.9 when positive ones win, 0.1 when
    negative ones do, 0.5 on a tie. It reads no negation, and nothing else moves it."""
    patterns = {side: re.compile(r"\b(" + "|".join(re.escape(w) for k in keys for w in lexicons[k]) + r")\b", re.I)
                for side, keys in POLAR_LEXICONS.items()}

    def predict(texts):
        if calls is not None:
            calls.append(list(texts))
        out = []
        for text in texts:
            score = len(patterns["positive"].findall(text)) - len(patterns["negative"].findall(text))
            p = 0.5 if score == 0 else 0.9 if score > 0 else 0.1
            out.append({"negative": 1 - p, "positive": p})
        return out

    return predict


def constant_model(p: float):
    return lambda texts: [{"positive": p, "negative": 1 - p} for _ in texts]


@pytest.fixture(scope="module", params=HALVES)
def keyword_run(request) -> SuiteResult:
    return run_suite(keyword_model(load_half(request.param).lexicons), ["negative", "positive"], request.param)


# --- the data -------------------------------------------------------------------------------------------


def test_the_held_out_half_is_frozen():
    digest = suite_module.file_sha256(suite_module.DATA_DIR / "heldout.json")
    assert digest == HELDOUT_SHA256, (
        "data/heldout.json changed: held-out figures are only comparable on a frozen half. If the change is "
        f"meant, bump SUITE_VERSION and set HELDOUT_SHA256 = {digest!r}")


def test_a_changed_held_out_half_is_refused(monkeypatch):
    monkeypatch.setattr(suite_module, "HELDOUT_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="has changed"):
        suite_module.load_half.__wrapped__("heldout")  # past the cache


def test_halves_share_no_template_no_lexicon_entry_and_no_sentence():
    dev, heldout = (load_half(half) for half in HALVES)
    templates = [{t for test in s.tests for t in test.templates} for s in (dev, heldout)]
    assert not templates[0] & templates[1]
    entries = [{w.lower() for words in s.lexicons.values() for w in words} for s in (dev, heldout)]
    assert not entries[0] & entries[1]
    assert dev.lexicons.keys() == heldout.lexicons.keys()
    sentences = [{normalize(c.text) for test in s.tests for c in fill(test, s.lexicons, max_cases=None)}
                 for s in (dev, heldout)]
    assert not sentences[0] & sentences[1]


def test_both_halves_cover_every_capability_with_several_tests():
    counts = []
    for half in HALVES:
        tests = load_half(half).tests
        assert 40 <= len(tests) <= 70
        counts.append({c: sum(t.capability == c for t in tests) for c in {t.capability for t in tests}})
    assert counts[0].keys() == counts[1].keys() and len(counts[0]) == 14
    assert all(n >= 3 for half in counts for n in half.values()), counts


@pytest.mark.parametrize("half", HALVES)
def test_every_test_has_cases_and_no_more_than_the_cap(half):
    suite = load_half(half)
    for test in suite.tests:
        assert 1 <= len(fill(test, suite.lexicons)) <= MAX_CASES, test.name
        assert len(fill(test, suite.lexicons, max_cases=3)) <= 3
        assert all(c.perturbed is None for c in fill(test, suite.lexicons)) == (test.perturb is None)


def test_fills_are_seeded_and_spread_over_templates():
    suite = load_half("dev")
    test = next(t for t in suite.tests if t.name == "cities")  # 10,080 fills, 200 drawn
    first = fill(test, suite.lexicons, seed=0)
    assert fill(test, suite.lexicons, seed=0) == first
    assert fill(test, suite.lexicons, seed=1) != first
    assert len(first) == MAX_CASES and all(c.text != c.perturbed for c in first)
    starts = [c.text.split()[0] for c in first]
    assert starts.count("I") == starts.count("The") == MAX_CASES // 2  # one per template, evenly


@pytest.mark.parametrize("spec, problem", [
    ({"expect": "positive", "templates": ["A {nope} film."]}, "no lexicon"),
    ({"expect": "invariant", "templates": ["A {thing}."]}, "give one"),
    ({"expect": "positive", "swap": "thing", "templates": ["A {thing}."]}, "give none"),
    ({"expect": "invariant", "swap": "word", "templates": ["A {thing}."]}, "lacks the slot"),
    ({"expect": "invariant", "apply": "shout", "templates": ["A {thing}."]}, "unknown rewrite"),
    ({"expect": "sarcastic", "templates": ["A {thing}."]}, "unknown expectation"),
])
def test_a_bad_test_is_refused_at_load(spec, problem):
    data = {"lexicons": {"thing": ["film"], "word": ["x", "y"]}, "tests": [{"name": "t", "capability": "c", **spec}]}
    with pytest.raises(ValueError, match=problem):
        Suite.from_dict(data, "toy")


def test_perturbations():
    assert contract("It is not a gem. I did not like it.") == "It's not a gem. I didn't like it."
    assert expand("The acting wasn't bad, and I'm glad.") == "The acting was not bad, and I am glad."
    assert typo("The film was great.") == typo("The film was great.") != "The film was great."
    swapped = typo("Splendid acting.")
    assert sorted(swapped) == sorted("Splendid acting.")
    assert sum(a != b for a, b in zip(swapped, "Splendid acting.")) == 2
    assert typo("A bad one.") == "A bad one."  # no word of four letters: nothing to swap


def test_probe_sentences_hold_every_suite_sentence_and_the_bug_report():
    probes = probe_sentences()
    assert normalize("  I don't think this was\ta GREAT film. ") == "i don't think this was a great film."
    assert {normalize(s) for s in BUG_REPORT_SENTENCES} <= probes
    for half in HALVES:
        suite = load_half(half)
        for test in suite.tests:
            for case in fill(test, suite.lexicons, seed=7):
                assert normalize(case.text) in probes
                assert case.perturbed is None or normalize(case.perturbed) in probes


# --- expectations ---------------------------------------------------------------------------------------


def probs(p: float, first: str = "negative") -> dict[str, float]:
    both = {"negative": 1 - p, "positive": p}
    return {first: both[first], **both}


def test_bands():
    assert [band(p) for p in (0.0, 0.33, 1 / 3, 0.5, 2 / 3, 0.67, 1.0)] == [
        "negative", "negative", "neutral", "neutral", "neutral", "positive", "positive"]


@pytest.mark.parametrize("expectation, p, q, ok", [
    ("positive", 0.6, None, True), ("positive", 0.4, None, False), ("negative", 0.4, None, True),
    ("not negative", 1 / 3, None, True), ("not negative", 0.9, None, True), ("not negative", 0.3, None, False),
    ("neutral", 0.5, None, True), ("neutral", 0.7, None, False), ("neutral", 0.2, None, False),
    ("invariant", 0.5, 0.59, True), ("invariant", 0.5, 0.62, False),  # over the tolerance, same band
    ("invariant", 0.6, 0.68, False),  # within the tolerance, but neutral -> positive
    ("invariant", 0.95, 0.99, True),
    ("not less positive", 0.9, 0.99, True), ("not less positive", 0.9, 0.86, True),
    ("not less positive", 0.9, 0.84, False),
    ("not more positive", 0.2, 0.05, True), ("not more positive", 0.2, 0.24, True),
    ("not more positive", 0.2, 0.26, False),
])
def test_expectations(expectation, p, q, ok):
    for first in ("negative", "positive"):  # label order does not matter
        assert passes(expectation, probs(p, first), probs(q, first) if q is not None else None) is ok


def test_only_polarity_models_are_tested():
    assert applies_to(["negative", "positive"]) and applies_to(["positive", "negative"])
    for labels in (["1-2", "3-4", "7-8", "9-10"], ["neg", "pos"], ["negative", "neutral", "positive"], ["positive"]):
        assert not applies_to(labels)
        with pytest.raises(ValueError, match="does not apply"):
            run_suite(constant_model(0.5), labels)


def test_a_predict_fn_must_return_polarity_probabilities():
    with pytest.raises(ValueError, match="probabilities of"):
        run_suite(lambda texts: [{"good": 1.0} for _ in texts], ["negative", "positive"])
    with pytest.raises(ValueError, match="results for"):
        run_suite(lambda texts: [], ["negative", "positive"])


# --- the runner -----------------------------------------------------------------------------------------


def test_a_keyword_model_fails_negation_and_passes_invariance(keyword_run):
    by_capability = {}
    for test in keyword_run.tests:
        by_capability.setdefault(test.capability, []).append(test.failure_rate)
    for capability in ("negation of positive", "negation of negative", "negation with material in between"):
        assert by_capability[capability] == [1.0] * len(by_capability[capability])
    for capability in ("vocabulary", "names, places, numbers", "identity terms", "punctuation", "contractions",
                       "intensifiers and reducers"):
        assert set(by_capability[capability]) == {0.0}, capability
    assert min(by_capability["typos"]) > 0  # a typo in the one keyword loses it
    summary = keyword_run.summary
    assert summary.negation == 1.0 and summary.identity == 0.0
    assert summary.overall == pytest.approx(sum(t.failure_rate for t in keyword_run.tests) / len(keyword_run.tests))
    polar = [t.failure_rate for t in keyword_run.tests if t.expectation in ("positive", "negative")]
    assert summary.polar == pytest.approx(sum(polar) / len(polar))


def test_results_carry_failing_examples_and_survive_json(keyword_run):
    test = next(t for t in keyword_run.tests if t.capability == "negation of negative")
    assert test.failures == test.cases and len(test.examples) == 3
    assert test.examples[0].probabilities == {"negative": 0.9, "positive": pytest.approx(0.1)}
    typos = next(t for t in keyword_run.tests if t.capability == "typos")
    assert typos.examples[0].perturbed and typos.examples[0].perturbed_probabilities["positive"] == 0.5
    assert SuiteResult.from_dict(json.loads(json.dumps(keyword_run.to_dict()))) == keyword_run


def test_every_text_is_predicted_once_in_bounded_batches():
    calls = []
    result = run_suite(keyword_model(load_half("dev").lexicons, calls), ["positive", "negative"], "dev",
                       max_cases=20, max_examples=0, batch_size=100)
    texts = [text for call in calls for text in call]
    assert len(texts) == len(set(texts)) and all(len(call) <= 100 for call in calls)
    assert all(t.cases <= 20 and not t.examples for t in result.tests)
    again = run_suite(keyword_model(load_half("dev").lexicons), ["positive", "negative"], "dev", max_cases=20,
                      max_examples=0)
    assert again == result


def test_the_markdown_report_has_a_table_per_capability_and_escapes_names():
    data = {"lexicons": {"adj": ["good", "fine"], "name": ["Ann", "Bob"]}, "tests": [
        {"name": "a | b *c*", "capability": "vocabulary <x>", "expect": "positive", "templates": ["It was {adj}."]},
        {"name": "names", "capability": "names", "expect": "invariant", "swap": "name", "templates": ["{name} ok."]},
    ]}
    result = run_suite(constant_model(0.2), ["negative", "positive"], Suite.from_dict(data, "toy"))
    report = render_markdown(result)
    assert report.startswith("### Behaviour suite 1.0, toy half")
    assert "negative below 1/3, neutral from 1/3 to 2/3, positive above 2/3" in report
    assert "#### vocabulary &lt;x&gt;" in report and "#### names" in report
    assert "| a \\| b \\*c\\* | positive | 2 | 100.0% |" in report
    assert "| names | invariant | 1 | 0.0% |" in report
    assert '- a \\| b \\*c\\*: "It was good." (0.20)' in report
    assert "| tests expecting a label | 100.0% | 1 |" in report and "| negation tests | n/a | 0 |" in report


# --- the command line -----------------------------------------------------------------------------------


def test_the_cli_reports_what_the_runner_finds(tiny_checkpoint, capsys):
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    expected = run_suite(predictor.predict_batch, predictor.labels, "dev", max_examples=1)
    assert main(["behaviour", "--checkpoint", str(tiny_checkpoint), "--json", "--failures", "1"]) == 0
    assert json.loads(capsys.readouterr().out) == {"dev": json.loads(json.dumps(expected.to_dict()))}
    assert main(["behaviour", "--checkpoint", str(tiny_checkpoint), "--failures", "1"]) == 0
    assert render_markdown(expected) in capsys.readouterr().out


def test_the_cli_checks_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["behaviour", "--half", "train"])
    with pytest.raises(SystemExit):
        main(["behaviour", "--failures", "-1"])
    err = capsys.readouterr().err
    assert "invalid choice" in err and "argument --failures: must be from 0" in err
