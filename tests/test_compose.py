"""Sentences composed by rules of English (data/compose.py): negations and contrasts of labelled
sentences, and the short claims of extreme IMDB reviews they are composed from."""

import pytest

from sentiment_core.config import TrainConfig
from sentiment_core.data import Reviews, TokenLists
from sentiment_core.data.compose import (
    VerbForms,
    contrasts,
    negate_auxiliary,
    negate_opinion,
    negate_verb,
    negations,
    question,
    questions,
    rated_claims,
)
from sentiment_core.tokenizer import tokenize, tokenize_many

POSITIVE = 1


def reviews(texts: list[str], labels: list[int], ids: list[str] | None = None) -> Reviews:
    return Reviews(ids or [f"r/{i}" for i in range(len(texts))], labels, TokenLists.from_lists(tokenize_many(texts)))


def text(tokens) -> str:
    return " ".join(tokens) if tokens is not None else None


@pytest.mark.parametrize("sentence, contracted, expected", [
    ("The acting was convincing.", False, "The acting was not convincing ."),
    ("The acting was convincing.", True, "The acting was n't convincing ."),
    ("It will please fans.", True, "It wo n't please fans ."),
    ("You can watch it twice.", True, "You ca n't watch it twice ."),
    ("I am impressed.", True, "I am not impressed ."),  # no "amn't"
    ("It has been a delight.", True, "It has n't been a delight ."),
    ("It has great acting.", False, None),  # "has" is not an auxiliary here
    ("Everyone who was there laughed.", False, None),  # the auxiliary is in a relative clause
    ("In the end, it was fun.", False, None),  # nor after a comma
])
def test_not_goes_after_the_first_auxiliary_of_the_main_clause(sentence, contracted, expected):
    assert text(negate_auxiliary(tokenize(sentence), contracted)) == expected


def test_an_opinion_verb_negates_a_claim_that_opens_with_its_subject():
    opinion = ("I", "do", "n't", "think")
    assert text(negate_opinion(tokenize("The plot was clever."), opinion)) == "I do n't think the plot was clever ."
    assert negate_opinion(tokenize("Clever plotting throughout."), opinion) is None  # no subject, no auxiliary


def test_a_negated_positive_claim_is_negative_and_a_negated_negative_one_has_both_labels():
    source = reviews(["The plot was clever.", "The plot was dull.", "The plot was not dull.",
                      "The plot was dull, but the cast shines.", "Was the plot dull?"], [1, 0, 1, 1, 0])
    out = negations(source, POSITIVE, seed=0)
    got = sorted((label, " ".join(tokens)) for label, tokens in zip(out.labels, out.items))
    # One negation each of the two claims; a sentence with a negation or a connective, or a
    # question, is not composed.
    assert len({t for _, t in got}) == 2
    clever = [label for label, t in got if "clever" in t]
    dull = [label for label, t in got if "dull" in t]
    assert clever == [0] and dull == [0, 1]
    assert all(" not " in f" {t} " or "n't" in t or t.startswith("Nobody") for _, t in got)
    assert len(set(out.ids)) == len(out)


def test_an_emphatic_negation_of_a_negative_claim_is_praise():
    source = reviews(["The plot was clever.", "The plot was dull.", "Was the plot dull?"], [1, 0, 0])
    out = negations(source, POSITIVE, seed=0, emphatic=True)
    got = {" ".join(tokens): label for label, tokens in zip(out.labels, out.items)}
    assert len(got) == 2 and all(t.endswith(" at all .") for t in got)
    assert all(i.startswith("emphatic") for i in out.ids)  # told apart from the plain negations of a run
    assert [label for t, label in got.items() if "clever" in t] == [0]
    assert [label for t, label in got.items() if "dull" in t] == [1]
    # Without "at all", the same seed draws the same rules: the plain negations are unchanged by the option.
    plain = negations(source, POSITIVE, seed=0)
    assert {" ".join(t).removesuffix(" .") for t in plain.items} == {t.removesuffix(" at all .") for t in got}


def test_the_negation_is_seeded():
    source = reviews([f"The {w} was clever." for w in ("plot", "cast", "score", "script", "ending")], [1] * 5)
    def run(seed):
        return [" ".join(tokens) for tokens in negations(source, POSITIVE, seed).items]

    assert run(3) == run(3) and len(set(run(3))) == 5


def test_a_contrast_is_labelled_as_the_clause_that_gives_the_verdict():
    source = reviews(["The plot was clever.", "The cast was wooden."], [1, 0])
    out = contrasts(source, 40, seed=0)
    assert len(out) == 40
    for label, tokens in zip(out.labels, out.items):
        sentence = " ".join(tokens)
        verdict = "clever" if label == 1 else "wooden"
        other = "wooden" if label == 1 else "clever"
        if " but " in sentence or sentence.startswith("Although") or " Still , " in sentence:
            assert sentence.index(verdict) > sentence.index(other), sentence
        elif "even though" in sentence:
            assert sentence.index(verdict) < sentence.index("even though") < sentence.index(other), sentence
        assert sentence[0].isupper()
    forms = {"but": 0, "Although": 0, "even": 0}
    for tokens in out.items:
        for form in forms:
            forms[form] += form in tokens
    assert all(forms.values())  # each connective is used


def test_contrasts_need_two_labels():
    assert len(contrasts(reviews(["The plot was clever."], [1]), 10, seed=0)) == 0


def test_rated_claims_are_claims_of_reviews_rated_at_the_extremes():
    texts = ["A long night. The film was a triumph. Go see it!", "The film was fine.", "The film was awful.",
             "The film was a triumph."]
    source = reviews(texts, [1, 1, 0, 1], ids=["pos/1_10", "pos/2_7", "neg/3_1", "own/4"])
    out = rated_claims(source, 100, seed=0)
    assert sorted(" ".join(t) for t in out.items) == ["The film was a triumph .", "The film was awful ."]
    assert sorted(out.labels) == [0, 1]
    assert len(rated_claims(source, 1, seed=0)) == 1


@pytest.mark.parametrize("key", ["claims", "negations", "emphatic_negations", "questions", "contrasts"])
def test_compositions_need_the_counterfactual_file(key):
    with pytest.raises(ValueError, match="name the counterfactual file"):
        TrainConfig(**{key: 1})


# Word counts as a corpus would give them: each base form and its regular past tense, a few words that
# look like inflections but are not verbs ("really", "ted"), and rare forms below the threshold.
COUNTS = {**{w: 100 for w in ("love", "loved", "enjoy", "enjoyed", "try", "tried", "stop", "stopped",
                              "starred", "starr", "recommend", "recommended", "work", "worked", "works", "really",
                              "deliver", "delivered", "delivers", "ted")},
          "star": 300, "dislike": 5, "disliked": 5}


@pytest.mark.parametrize("word, base", [
    ("loved", "love"), ("enjoyed", "enjoy"), ("tried", "try"), ("stopped", "stop"),
    ("starred", "star"),  # the most used candidate: "starr" is a name
    ("disliked", None),  # too rare to trust
    ("really", None), ("need", None),
])
def test_the_base_of_a_regular_past_tense_is_the_candidate_the_corpus_uses_most(word, base):
    assert VerbForms(COUNTS).past(word) == base


def test_a_present_tense_is_a_verb_only_if_the_corpus_has_its_past():
    verbs = VerbForms(COUNTS)
    assert verbs.present("recommend", third_person=False) == "recommend"
    assert verbs.present("really", third_person=False) is None  # no "reallyed"
    assert verbs.present("works", third_person=True) == "work"
    assert verbs.present("work", third_person=True) is None  # "it work" is no third person


@pytest.mark.parametrize("sentence, contracted, expected", [
    ("I loved it.", True, "I did n't love it ."),
    ("We enjoyed every minute.", False, "We did not enjoy every minute ."),
    ("I recommend this film.", True, "I do n't recommend this film ."),
    ("It works.", False, "It does not work ."),
    ("It delivers on its promise.", True, "It does n't deliver on its promise ."),
    ("I really loved it.", True, None),  # only a verb right after the pronoun
    ("The cast delivers.", True, None),  # no pronoun: the verb cannot be found without a parser
    ("I saw it twice.", True, None),  # an irregular verb is not recognised
])
def test_do_negates_a_pronoun_and_a_regular_verb(sentence, contracted, expected):
    assert text(negate_verb(tokenize(sentence), VerbForms(COUNTS), contracted)) == expected


def test_verb_negations_take_the_claims_with_no_auxiliary_and_leave_the_rest_as_they_were():
    source = reviews(["I loved it.", "It delivers.", "The plot was dull.", "I saw it."], [1, 0, 0, 1])
    plain = negations(source, POSITIVE, seed=0)
    out = negations(source, POSITIVE, seed=0, verbs=VerbForms(COUNTS))
    got = sorted((" ".join(t), label) for t, label in zip(out.items, out.labels))
    assert [(" ".join(t), label) for t, label in zip(plain.items, plain.labels)] == \
        [(t, label) for t, label in got if "dull" in t]
    loved = [label for t, label in got if "love" in t]
    delivers = [label for t, label in got if "deliver" in t]
    assert loved == [0] and delivers == [0, 1]  # a negated positive is negative, a negated negative both
    assert not any("saw" in t or "see" in t for t, _ in got)
    emphatic = negations(source, POSITIVE, seed=0, emphatic=True, verbs=VerbForms(COUNTS))
    assert {" ".join(t): label for t, label in zip(emphatic.items, emphatic.labels)
            if "love" in t} == {"I did n't love it at all .": 0} or \
        {" ".join(t): label for t, label in zip(emphatic.items, emphatic.labels)
         if "love" in t} == {"I did not love it at all .": 0}


def test_rated_claims_with_verbs_take_a_pronoun_and_a_regular_verb():
    source = reviews(["I loved every minute.", "It works.", "I saw it twice.", "Loved it."], [1, 1, 1, 1],
                     ids=["pos/1_10", "pos/2_9", "pos/3_10", "pos/4_10"])
    assert len(rated_claims(source, 100, seed=0)) == 0
    out = rated_claims(source, 100, seed=0, verbs=VerbForms(COUNTS))
    assert sorted(" ".join(t) for t in out.items) == ["I loved every minute .", "It works ."]


def test_verb_negations_need_negations():
    with pytest.raises(ValueError, match="ask for negations"):
        TrainConfig(counterfactual="cf.tsv", negate_verbs=True)
    TrainConfig(counterfactual="cf.tsv", emphatic_negations=1, negate_verbs=True)


@pytest.mark.parametrize("sentence, expected", [
    ("The acting was convincing.", "Was the acting convincing ?"),
    ("It is a masterpiece!", "Is it a masterpiece ?"),
    ("The film will please fans.", "Will the film please fans ?"),
    ("This movie has been a delight.", "Has this movie been a delight ?"),
    ("I am impressed.", "Am I impressed ?"),
    ("I'm sure it was good.", None),  # "'m" cannot open a question, and "was" is not the main clause's
    ("In the end, it was fun.", None),
    ("Everyone who was there laughed.", None),
])
def test_a_question_puts_the_first_auxiliary_before_the_subject(sentence, expected):
    assert text(question(tokenize(sentence))) == expected


def test_a_question_says_nothing_either_way_so_it_has_every_label():
    source = reviews(["The plot was clever.", "The plot was dull.", "I loved it.", "Was the plot dull?"], [1, 0, 1, 0])
    out = questions(source, num_classes=3)
    assert sorted(zip((" ".join(t) for t in out.items), out.labels)) == [
        ("Was the plot clever ?", 0), ("Was the plot clever ?", 1), ("Was the plot clever ?", 2),
        ("Was the plot dull ?", 0), ("Was the plot dull ?", 1), ("Was the plot dull ?", 2)]
    assert len(set(out.ids)) == len(out)
