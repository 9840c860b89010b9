"""The behaviour report as Markdown, for the CLI, model cards and benchmarks."""

from __future__ import annotations

from .. import markdown
from ..report import render
from .runner import DIRECTION_TOLERANCE, INVARIANCE_TOLERANCE, SUMMARY_GROUPS, Example, SuiteResult

READING = (
    "P(positive) is read in three bands: negative below 1/3, neutral from 1/3 to 2/3, positive above 2/3. "
    "*positive*, *negative*: the most probable label; *not negative*: P(positive) at least 1/3; *neutral*: "
    f"in the middle band; *invariant*: the perturbed text stays in the original's band and P(positive) moves by "
    f"at most {INVARIANCE_TOLERANCE:g}; *not less positive*, *not more positive*: P(positive) does not move "
    f"the wrong way by more than {DIRECTION_TOLERANCE:g}."
)


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _example(name: str, example: Example) -> str:
    """One failing case as a list item: 'name: "text" (P(positive) 0.91) -> "perturbed" (0.42)'."""
    line = f'- {markdown.text(name)}: "{markdown.text(example.text)}" ({example.probabilities["positive"]:.2f})'
    if example.perturbed is not None:
        line += f' → "{markdown.text(example.perturbed)}" ({example.perturbed_probabilities["positive"]:.2f})'
    return line


def render_markdown(result: SuiteResult) -> str:
    """The report of one half: the summary figures, then a table per capability and its failing examples."""
    summary = [["figure", "mean failure rate", "tests"]]
    for key, title, member in SUMMARY_GROUPS:
        summary.append([title, _rate(getattr(result.summary, key)), str(sum(map(member, result.tests)))])
    lines = [f"### Behaviour suite {markdown.text(result.version)}, {markdown.text(result.half)} half", "",
             f"{len(result.tests)} tests, {result.cases:,} cases (at most {result.max_cases} a test, seed "
             f"{result.seed}). {READING}", "", render(summary, align="lrr")]
    for capability in dict.fromkeys(test.capability for test in result.tests):
        tests = [test for test in result.tests if test.capability == capability]
        rows = [["test", "expectation", "cases", "failure rate"]]
        rows += [[markdown.text(t.name), markdown.text(t.expectation), f"{t.cases:,}", _rate(t.failure_rate)]
                 for t in tests]
        lines += ["", f"#### {markdown.text(capability)}", "", render(rows, align="llrr")]
        examples = [_example(t.name, example) for t in tests for example in t.examples]
        if examples:
            lines += ["", "Failing examples, P(positive) in parentheses:", "", *examples]
    return "\n".join(lines)
