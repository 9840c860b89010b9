"""A behavioural test suite of our own (CheckList-style) for sentiment-polarity models.

Templates and lexicons (``data/dev.json``, ``data/heldout.json``) fill in short movie-review
sentences, grouped in tests by capability: vocabulary, negation, contrast, questions,
intensifiers, invariance to names and identity terms, punctuation, contractions, typos. The dev
half is for looking at while improving a model; the held-out half, disjoint from it in templates
and lexicon entries and frozen by its hash, is for reporting::

    result = run_suite(predictor.predict_batch, predictor.labels, "heldout")
    print(render_markdown(result))
    json.dumps(result.to_dict())
"""

from .render import render_markdown
from .runner import (
    DIRECTION_TOLERANCE,
    INVARIANCE_TOLERANCE,
    BehaviourResult,
    Example,
    SuiteResult,
    Summary,
    applies_to,
    band,
    passes,
    run_suite,
)
from .suite import (
    BUG_REPORT_SENTENCES,
    HALVES,
    HELDOUT_SHA256,
    MAX_CASES,
    SUITE_VERSION,
    BehaviourTest,
    Case,
    Suite,
    fill,
    load_half,
    normalize,
    probe_sentences,
)
from .templates import EXPECTATIONS, MAX_FILLS, TemplateError, default_lexicons, run_template, template_test

__all__ = [
    "BUG_REPORT_SENTENCES", "DIRECTION_TOLERANCE", "EXPECTATIONS", "HALVES", "HELDOUT_SHA256", "INVARIANCE_TOLERANCE",
    "MAX_CASES", "MAX_FILLS", "SUITE_VERSION", "BehaviourResult", "BehaviourTest", "Case", "Example", "Suite",
    "SuiteResult", "Summary", "TemplateError", "applies_to", "band", "default_lexicons", "fill", "load_half",
    "normalize", "passes", "probe_sentences", "render_markdown", "run_suite", "run_template", "template_test",
]
