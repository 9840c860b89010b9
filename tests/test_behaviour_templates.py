"""One's own behavioural test: template expansion, every expectation, the bounds, and the CLI's --template."""

import json
import math

import pytest

from sentiment_core import Predictor
from sentiment_core.behaviour import (
    EXPECTATIONS,
    MAX_FILLS,
    TemplateError,
    default_lexicons,
    fill,
    run_template,
    template_test,
)
from sentiment_core.cli import main

LABELS = ["negative", "positive"]
LEXICONS = {"adj": ["good", "great", "fine"], "bad": ["awful", "dull"], "very": ["very", "really"],
            "name": ["Ana", "Bo", "Cy"]}


def scorer(texts):
    """P(positive): 0.9 with a good word, 0.1 with a bad one, 0.5 otherwise; 'not' flips it, 'very' adds 0.08."""
    out = []
    for text in texts:
        words = text.lower().replace(".", "").split()
        p = 0.9 if set(words) & set(LEXICONS["adj"]) else 0.1 if set(words) & set(LEXICONS["bad"]) else 0.5
        if "not" in words:
            p = 1 - p
        if "very" in words:
            p = min(p + 0.08, 1.0)
        if "Bo" in text.split():
            p = 0.2
        out.append({"negative": 1 - p, "positive": p})
    return out


def run(template, expectation, slot="", lexicons=LEXICONS):
    return run_template(scorer, LABELS, template_test(template, expectation, slot, lexicons))


def test_a_template_fills_every_combination_as_a_tidy_sentence():
    suite = template_test("the {adj} film by {name}", "positive", lexicons=LEXICONS)
    texts = [case.text for case in fill(suite.tests[0], suite.lexicons, None)]
    assert len(texts) == 9 and texts[0] == "The good film by Ana" and "The fine film by Cy" in texts


def test_the_default_lexicons_are_the_dev_halfs():
    assert default_lexicons()["pos_adj"] and run_template(scorer, LABELS, template_test(
        "This {thing} is {pos_adj}.", "not negative")).cases == len(default_lexicons()["thing"]) * len(
        default_lexicons()["pos_adj"])


@pytest.mark.parametrize(("template", "expectation", "failures", "cases"), [
    ("It was {adj}.", "positive", 0, 3),
    ("It was not {adj}.", "negative", 0, 3),
    ("It was not {bad}.", "negative", 2, 2),
    ("It was {bad}.", "not negative", 2, 2),
    ("It was {adj} and {bad}.", "neutral", 6, 6),
])
def test_single_text_expectations(template, expectation, failures, cases):
    result = run(template, expectation)
    assert (result.failures, result.cases) == (failures, cases)
    assert all(e.perturbed is None for e in result.examples) and len(result.examples) == failures


def test_same_as_without_x_compares_each_fill_with_the_word_left_out():
    result = run("It was {very} {adj}.", "same as without X", "very")
    assert result.cases == 6 and result.failures == 0  # 0.08 is inside the invariance tolerance
    fails = run("It was {very} {adj}.", "same as without X", "very", lexicons={**LEXICONS, "very": ["not"]})
    assert fails.failures == 3 and fails.examples[0].text == "It was good." and fails.examples[0].perturbed == (
        "It was not good.")


def test_same_whatever_x_swaps_two_words_of_x():
    result = run("{name} liked the {adj} film.", "same whatever X", "name")
    assert result.cases == math.comb(3, 2) * 3  # pairs of names, for every adjective
    assert result.failures == 6  # every pair with Bo


def test_directional_expectations():
    assert run("It was {very} {adj}.", "more positive than without X", "very").failures == 0
    assert run("It was {very} {bad}.", "less positive than without X", "very").failures == 2
    assert run("It was {very} {bad}.", "more positive than without X", "very").failures == 0


def test_every_expectation_has_one_name_and_help():
    names = [e.name for e in EXPECTATIONS]
    assert len(set(names)) == len(names) and all(e.help for e in EXPECTATIONS)


@pytest.mark.parametrize(("args", "message"), [
    (("", "positive"), "The template is empty"),
    (("   ", "positive"), "The template is empty"),
    (("The {noun} was {adj}.", "positive"), "Unknown placeholder {noun}"),
    (("The {thing with spaces} was good.", "positive"), "is not a placeholder"),
    (("{adj} " * 6, "positive"), None),  # one placeholder repeated: 3 fills
    (("{adj} {bad} {very} {name} {x}", "positive"), "Unknown placeholder {x}"),
    (("x" * 501, "positive"), "at most 500"),
    ((3, "positive"), "must be a string, not int"),
    (("It was {adj}.", "great"), "The expectation must be one of"),
    (("It was {adj}.", ["positive"]), "The expectation must be one of"),
    (("It was good.", "same as without X"), "put one in the template"),
    (("It was {adj}.", "same as without X", "very"), "{very} is not in it"),
    (("It was {adj}.", "positive", 5), "X must be a placeholder name, not int"),
    (("It was {adj}.", "same whatever X", ["adj"]), "X must be a placeholder name"),
])
def test_bad_templates_are_refused_with_a_clear_message(args, message):
    if message is None:
        template_test(*args, lexicons=LEXICONS)
        return
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("(", r"\(")):
        template_test(*args, lexicons=LEXICONS)


def test_too_many_fills_is_refused_before_anything_is_filled():
    many = {"a": [f"a{i}" for i in range(30)], "b": [f"b{i}" for i in range(30)]}
    with pytest.raises(TemplateError, match="900 fills; at most 500"):
        template_test("{a} {b}", "positive", lexicons=many)
    assert template_test("{a} {a}", "positive", lexicons=many)  # one slot: 30 fills
    swap = {"a": [f"a{i}" for i in range(33)]}
    with pytest.raises(TemplateError, match="528 fills"):
        template_test("{a} film.", "same whatever X", lexicons=swap)
    assert MAX_FILLS == 500


def test_a_template_that_fills_to_nothing_is_refused():
    with pytest.raises(TemplateError, match=r"fills to nothing: the lexicon \{adj\}"):
        template_test("It was {adj}.", "positive", lexicons={"adj": []})
    with pytest.raises(TemplateError, match=r"fills to nothing: the lexicon \{name\}"):
        template_test("{name} is here.", "same whatever X", lexicons={"name": ["Ana"]})
    with pytest.raises(TemplateError, match="fills to nothing"):
        run("{very}", "same as without X")  # the first text of each pair is blank
    with pytest.raises(TemplateError, match="fills to nothing"):
        run("It was {e} good.", "same as without X", lexicons={"e": [" "]})  # blank words are dropped


@pytest.mark.parametrize(("lexicons", "message"), [
    ("adj=good", "must map a placeholder name"),
    ({"bad name": ["x"]}, "letters, digits and _"),
    ({"adj": "good"}, "must be a list of words"),
    ({"adj": ["good"] * 101}, "at most 100"),
    ({"adj": ["x" * 61]}, "at most 60 characters"),
    ({"adj": [3]}, "must hold strings"),
    ({f"l{i}": ["x"] for i in range(61)}, "At most 60 lexicons"),
])
def test_bad_lexicons_are_refused(lexicons, message):
    with pytest.raises(TemplateError, match=message):
        template_test("It was {adj}.", "positive", lexicons=lexicons)


def test_a_model_of_other_labels_is_refused():
    with pytest.raises(TemplateError, match="does not apply"):
        run_template(lambda t: [{"a": 1.0, "b": 0.0}] * len(t), ["a", "b"], template_test("{adj}.", "positive",
                                                                                         lexicons=LEXICONS))


def test_the_cli_runs_a_template_as_the_library_does(tiny_checkpoint, capsys):
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    expected = run_template(predictor.predict_batch, predictor.labels, template_test(
        "This {thing} was {very} {neg_adj}.", "less positive than without X", "very",
        {**default_lexicons(), "very": ["very", "so"]}))
    assert main(["behaviour", "--checkpoint", str(tiny_checkpoint), "--template", "This {thing} was {very} {neg_adj}.",
                 "--expect", "less positive than without X", "--lexicon", "very=very,so", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(vars(expected), default=vars))
    assert main(["behaviour", "--checkpoint", str(tiny_checkpoint), "--template", "This {thing} is {pos_adj}."]) == 0
    assert "fills fail" in capsys.readouterr().out
    assert main(["behaviour", "--checkpoint", str(tiny_checkpoint), "--template", "A {noun}."]) == 2
    assert "Unknown placeholder {noun}" in capsys.readouterr().err
    assert main(["behaviour", "--checkpoint", str(tiny_checkpoint), "--template", "{a} {b} {c}",
                 "--lexicon", "a=" + ",".join("abcdefghij"), "--lexicon", "b=" + ",".join("abcdefghij"),
                 "--lexicon", "c=" + ",".join("abcdefghij")]) == 2
    assert "1,000 fills; at most 500" in capsys.readouterr().err
