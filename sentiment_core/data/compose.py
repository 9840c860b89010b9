"""Sentences composed from labelled sentences by rules of English, so that negation and contrast
are in the training data as what they do to a sentence, not as the words that happen to appear
near them in whole reviews.

IMDB's labels are per review. In reviews, "not bad" sits mostly in lukewarm or negative ones, and
"but" joins two halves of a verdict the label gives no account of, so a classifier of reviews
learns that "bad" is negative whatever stands before it. These examples teach the composition:

- **negations** of a labelled sentence: "not"/"n't" after its first auxiliary ("The acting was
  not convincing."), or a negated opinion verb before it ("I don't think the acting was
  convincing."), and optionally with "do" where a pronoun and a regular verb open a sentence that
  has no auxiliary ("I loved it." -> "I didn't love it."; the verb's base form is the candidate
  the training reviews use most, not a word list's). A positive sentence negated is negative. A
  negative one negated is not a positive one ("not terrible" is faint praise at best): it is
  added once with each label, so that the classifier's best answer for it is the middle of its
  range, what the behaviour suite reads as neutral. Closed by "at all", the negation is emphatic
  and a negated negative sentence is praise ("The acting was not bad at all."): those are
  labelled positive (and a negated positive one, "not good at all", negative).
- **questions**: a sentence with an auxiliary turned into a yes/no question ("Was the acting
  convincing?"). A question asks and does not say, so it is added once with each label.
- **contrasts** of two sentences of opposite labels joined by a connective that makes one of
  them the verdict: "A, but B" and "Although A, B" (B's label), "A, even though B" (A's label).

The sentences composed are the sentences people rewrote in the counterfactual pairs
(``augment.edited_sentences``), short and labelled by a person's edit rather than by the review
around them, and with IMDB's star ratings the short claims of the training reviews rated 1-2 or
9-10 stars, where a sentence of the form "the acting was ..." mostly says what the review does
(``rated_claims``). No word list and no template of the behaviour suite is used, and
every composed sentence that is a suite sentence is scrubbed out like any other training text.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence

from .augment import sentences
from .source import Reviews
from .tokens import TokenLists

MAX_SENTENCE_TOKENS = 25  # longer sentences are rarely one claim
NEGATIONS = frozenset({"not", "n't", "never", "no", "nothing", "nobody", "none", "neither", "nor", "without",
                       "hardly", "barely", "cannot"})
# Auxiliaries after which "not" negates the clause, with the contracted form of each (None: no
# contraction, e.g. "am not"). spaCy splits "wasn't" into "was" "n't" and "can't" into "ca" "n't".
AUXILIARIES = {
    "is": "is", "was": "was", "are": "are", "were": "were", "does": "does", "do": "do", "did": "did",
    "would": "would", "could": "could", "should": "should", "will": "wo", "can": "ca", "must": "must",
    "am": None, "'m": None, "'re": None, "might": None, "may": None,
}
# "has"/"have"/"had" negate a clause only as auxiliaries ("has not been"), not as "has great acting".
PERFECT = frozenset({"has", "have", "had"})
OPINIONS = (("I", "do", "n't", "think"), ("I", "do", "not", "think"), ("I", "would", "n't", "say"),
            ("I", "ca", "n't", "say"), ("I", "do", "n't", "believe"), ("I", "would", "not", "say"),
            ("Nobody", "could", "say"), ("I", "do", "n't", "feel"), ("I", "did", "n't", "think"))
# A sentence is put after an opinion verb only if it opens with its subject ("the acting was ...").
SUBJECTS = frozenset({"the", "this", "it", "that", "its", "his", "her", "their", "a", "an", "these", "those", "he",
                      "she", "they", "everything", "everyone", "there", "all", "most", "some", "every", "each"})
# A sentence that already turns on a connective, quotes someone or lists things is no one claim.
CONNECTIVES = frozenset({"but", "although", "though", "however", "yet", "whereas", "while", "despite", "still",
                         "unless", "except", "if"})
PUNCTUATION = frozenset({'"', "(", ")", ";", ":", "'", "-", "--", "[", "]", "*", "/"})
# Words after which an auxiliary is in a subordinate clause, not the sentence's own.
SUBORDINATORS = frozenset({"that", "who", "which", "when", "because", "as", "since", "what", "where", "how", "why"})


# Personal pronouns that open a claim, with the auxiliary "do" takes after them in the present.
PRONOUNS = {"i": "do", "we": "do", "you": "do", "they": "do", "he": "does", "she": "does", "it": "does"}
MIN_VERB_COUNT = 20  # a base form seen fewer times in the corpus is not trusted


class VerbForms:
    """Base forms of regular verbs, read off a corpus rather than a word list: "loved" is "love" and
    "enjoyed" is "enjoy" because those are the candidates the corpus uses most, and "recommend" is a verb
    because "recommended" occurs too. Irregular verbs ("saw", "made") are not recognised, so their
    sentences are left alone."""

    def __init__(self, counts: Mapping[str, int], min_count: int = MIN_VERB_COUNT):
        self.counts = counts
        self.min_count = min_count

    def _seen(self, word: str) -> bool:
        return self.counts.get(word, 0) >= self.min_count

    def _base(self, word: str) -> bool:
        return len(word) > 1 and word.isalpha() and word not in AUXILIARIES and word not in PERFECT \
            and word not in NEGATIONS and self._seen(word)

    def _verb(self, base: str) -> bool:
        """A word the corpus also uses with a regular past tense ("love": "loved", "stop": "stopped")."""
        if base.endswith("e"):
            past = [base + "d"]
        elif base.endswith("y") and base[-2:-1] not in ("a", "e", "o", "u"):
            past = [base[:-1] + "ied"]
        else:
            past = [base + "ed", base + base[-1] + "ed"]
        return self._base(base) and any(self._seen(p) for p in past)

    def _best(self, candidates: Sequence[str], known: bool = False) -> str | None:
        """The candidate base form the corpus uses most; ``known``: the past tense was seen, so a base
        need not be checked for one."""
        bases = [c for c in candidates if (self._base(c) if known else self._verb(c))]
        return max(bases, key=lambda c: self.counts[c]) if bases else None

    def past(self, word: str) -> str | None:
        """The base of a regular past tense ("loved" -> "love", "tried" -> "try", "stopped" -> "stop")."""
        if not (word.endswith("ed") and len(word) > 4 and self._seen(word)):
            return None
        candidates = [word[:-1], word[:-2]]
        if word.endswith("ied"):
            candidates.append(word[:-3] + "y")
        if word[-3] == word[-4]:
            candidates.append(word[:-3])
        return self._best(candidates, known=True)

    def present(self, word: str, third_person: bool) -> str | None:
        """The base of a present tense: the word itself, or after "he/she/it" without its "-s"."""
        if not third_person:
            return self._best([word])
        if not (word.endswith("s") and len(word) > 2):
            return None
        candidates = [word[:-1]]
        if word.endswith("es"):
            candidates.append(word[:-2])
        if word.endswith("ies"):
            candidates.append(word[:-3] + "y")
        return self._best(candidates)


def negate_verb(tokens: Sequence[str], verbs: VerbForms, contracted: bool) -> list[str] | None:
    """``tokens`` negated with "do" when a personal pronoun opens it and a regular verb follows ("I loved
    it." -> "I didn't love it.", "It works." -> "It does not work."), or None."""
    subject = tokens[0].lower()
    if subject not in PRONOUNS or len(tokens) < 3 or not tokens[1].islower():
        return None
    word = tokens[1]
    past = verbs.past(word)
    if past is not None:
        base, auxiliary = past, "did"
    else:
        base, auxiliary = verbs.present(word, PRONOUNS[subject] == "does"), PRONOUNS[subject]
        if base is None:
            return None
    return [tokens[0], auxiliary, "n't" if contracted else "not", base, *tokens[2:]]


def _declarative(tokens: Sequence[str]) -> bool:
    """One sentence that states something: short, ending in "." or "!", with no negation already."""
    words = [t.lower() for t in tokens]
    return (3 <= len(tokens) <= MAX_SENTENCE_TOKENS and tokens[-1] in (".", "!")
            and len(sentences(tokens)) == 1 and words[0] not in AUXILIARIES and words[0] not in PERFECT
            and not any(w in NEGATIONS or w in CONNECTIVES or w in PUNCTUATION for w in words))


def _lower_first(tokens: Sequence[str]) -> list[str]:
    first = tokens[0] if tokens[0] == "I" or tokens[0].isupper() else tokens[0].lower()
    return [first, *tokens[1:]]


def _upper_first(tokens: Sequence[str]) -> list[str]:
    return [tokens[0][:1].upper() + tokens[0][1:], *tokens[1:]]


def negate_auxiliary(tokens: Sequence[str], contracted: bool) -> list[str] | None:
    """``tokens`` with "not" (or "n't") after its first auxiliary, or None if it has none."""
    for i, token in enumerate(tokens[:-1]):
        word = token.lower()
        if word in SUBORDINATORS or word == ",":
            return None
        if (word in PERFECT and tokens[i + 1].lower() == "been") or word in AUXILIARIES:
            short = word if word in PERFECT else AUXILIARIES[word]
            if contracted and short is not None:
                stem = short if token.islower() else short.capitalize()
                return [*tokens[:i], stem, "n't", *tokens[i + 1:]]
            return [*tokens[: i + 1], "not", *tokens[i + 1:]]
    return None


def negate_opinion(tokens: Sequence[str], opinion: Sequence[str]) -> list[str] | None:
    """``tokens`` after a negated opinion verb ("I don't think the acting was convincing."), or None
    if it does not open with its subject and have an auxiliary."""
    if tokens[0].lower() not in SUBJECTS or not any(t.lower() in AUXILIARIES for t in tokens):
        return None
    return [*opinion, *_lower_first(tokens)]


def _single_sentences(source: Reviews) -> list[tuple[list[str], int]]:
    return [(list(source.items[i]), source.labels[i]) for i in range(len(source))
            if _declarative(source.items[i])]


def negations(source: Reviews, positive: int, seed: int, emphatic: bool = False,
              verbs: VerbForms | None = None) -> Reviews:
    """Each declarative sentence of ``source`` negated once, by a rule picked at random: a negated
    positive sentence labelled with the other class, a negated negative one once with each class.
    ``emphatic``: the negation closed by "at all" ("The acting was not bad at all."), which makes
    a negated negative sentence praise: labelled positive. ``positive`` is the index of the
    positive class (two classes). ``verbs``: a sentence with no auxiliary is negated with "do"
    (``negate_verb``) instead of being left out."""
    rng = random.Random(seed)
    verb_rng = random.Random(seed + 1)  # its own draws, so the other sentences' rules stay as without ``verbs``
    negative = 1 - positive
    ids, labels, items = [], [], []
    for n, (tokens, label) in enumerate(_single_sentences(source)):
        negated = None
        if rng.random() < 0.6:
            negated = negate_auxiliary(tokens, contracted=rng.random() < 0.5)
        if negated is None:
            negated = negate_opinion(tokens, rng.choice(OPINIONS))
        if negated is None:
            negated = negate_auxiliary(tokens, contracted=rng.random() < 0.5)
        if negated is None and verbs is not None:
            negated = negate_verb(tokens, verbs, contracted=verb_rng.random() < 0.5)
        if negated is None:
            continue
        if emphatic:
            negated = [*negated[:-1], "at", "all", negated[-1]]
            targets = [negative if label == positive else positive]
        else:
            targets = [negative] if label == positive else [negative, positive]
        for target in targets:
            ids.append(f"{'emphatic' if emphatic else 'negation'}{n}/{target}")
            labels.append(target)
            items.append(negated)
    return Reviews(ids, labels, TokenLists.from_lists(items))


def question(tokens: Sequence[str]) -> list[str] | None:
    """``tokens`` as a yes/no question, its first auxiliary before the subject ("The acting was
    convincing." -> "Was the acting convincing?"), or None if it has none in its main clause."""
    for i, token in enumerate(tokens[:-1]):
        word = token.lower()
        if word in SUBORDINATORS or word == ",":
            return None
        if word in AUXILIARIES or (word in PERFECT and tokens[i + 1].lower() == "been"):
            if i == 0 or word.startswith("'"):  # "'m" and "'re" cannot open a question
                return None
            return _upper_first([word, *_lower_first(tokens[:i]), *tokens[i + 1:-1], "?"])
    return None


def questions(source: Reviews, num_classes: int) -> Reviews:
    """Each declarative sentence of ``source`` that has an auxiliary, as a yes/no question
    (``question``): it asks, it does not say, so it is added once with each label."""
    ids, labels, items = [], [], []
    for n, (tokens, _) in enumerate(_single_sentences(source)):
        asked = question(tokens)
        if asked is None:
            continue
        for label in range(num_classes):
            ids.append(f"question{n}/{label}")
            labels.append(label)
            items.append(asked)
    return Reviews(ids, labels, TokenLists.from_lists(items))


_RATING = re.compile(r"_(\d+)$")
EXTREME = (2, 9)  # at most 2 stars, at least 9


def rated_claims(reviews: Reviews, count: int, seed: int, verbs: VerbForms | None = None) -> Reviews:
    """At most ``count`` sentences of ``reviews`` rated at the extremes (IMDB ids "pos/123_10") that are
    a claim "<subject> <auxiliary> ...", each labelled as its review; none for reviews without ratings.
    ``verbs``: also the claims "<pronoun> <regular verb> ..." ("I loved every minute.")."""
    rng = random.Random(seed)
    ids, labels, items = [], [], []
    for i in range(len(reviews)):
        match = _RATING.search(reviews.ids[i])
        if not match or EXTREME[0] < int(match.group(1)) < EXTREME[1]:
            continue
        tokens = reviews.items[i]
        for n, (a, b) in enumerate(sentences(tokens)):
            claim = list(tokens[a:b])
            if _declarative(claim) and ((claim[0].lower() in SUBJECTS
                                         and any(t.lower() in AUXILIARIES for t in claim[1:4]))
                                        or (verbs is not None and negate_verb(claim, verbs, False) is not None)):
                ids.append(f"{reviews.ids[i]}#claim{n}")
                labels.append(reviews.labels[i])
                items.append(claim)
    keep = sorted(rng.sample(range(len(items)), min(count, len(items))))
    return Reviews([ids[k] for k in keep], [labels[k] for k in keep], TokenLists.from_lists(items[k] for k in keep))


def _clause(tokens: Sequence[str]) -> list[str]:
    """A sentence without its final punctuation, to be part of another."""
    return list(tokens[:-1])


def contrasts(source: Reviews, count: int, seed: int) -> Reviews:
    """``count`` sentences, each two declarative sentences of ``source`` with different labels joined
    by a connective, labelled as the one the connective makes the verdict."""
    rng = random.Random(seed)
    pool = _single_sentences(source)
    by_label: dict[int, list[list[str]]] = {}
    for tokens, label in pool:
        by_label.setdefault(label, []).append(tokens)
    if len(by_label) < 2 or count <= 0:
        return Reviews([], [], TokenLists.from_lists([]))
    classes = sorted(by_label)
    ids, labels, items = [], [], []
    for n in range(count):
        verdict, other = rng.sample(classes, 2)
        a, b = rng.choice(by_label[other]), rng.choice(by_label[verdict])  # b carries the verdict
        form = rng.randrange(4)
        if form == 0:
            tokens = [*_clause(a), ",", "but", *_lower_first(b)]
        elif form == 1:
            tokens = ["Although", *_lower_first(_clause(a)), ",", *_lower_first(b)]
        elif form == 2:
            tokens = [*_clause(b), ",", "even", "though", *_lower_first(a)]
        else:
            tokens = [*a, rng.choice(("However", "Still", "Yet")), ",", *_lower_first(b)]
        ids.append(f"contrast{n}")
        labels.append(verdict)
        items.append(_upper_first(tokens))
    return Reviews(ids, labels, TokenLists.from_lists(items))
