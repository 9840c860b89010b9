"""What the Behaviour tab shows: the capability table coloured by severity, the failing examples, one's own
test's failing fills, and an edit beside its review with the changed words marked."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from sentiment_core import markdown as md
from sentiment_core.behaviour import SuiteResult

from ..services.behaviour import ModelReport, OwnResult
from ..services.flip import FlipRow, diff
from . import palette

# Severity is not sentiment: green and red keep their meaning, so failure rates are shades of one purple.
SEVERITY_RGB = (148, 103, 189)
SEVERITY = ((0.6, "severe", 0.75), (0.3, "high", 0.5), (0.1, "some", 0.25), (0.0, "low", 0.0))
EXAMPLE_COLUMNS = ["capability", "test", "expects", "test fails (dev)", "capability fails (held-out)", "sentence",
                   "P(positive)", "rewritten", "P(positive) after"]
EXAMPLE_WIDTHS = ["150px", "200px", "110px", "90px", "110px", "280px", "90px", "280px", "90px"]
OWN_WIDTHS = ["110px", "300px", "90px", "300px", "90px"]
OWN_COLUMNS = ["model", "sentence", "P(positive)", "rewritten", "P(positive) after"]
MAX_OWN_ROWS = 300  # failing fills shown on the page (all of them through the API)


def severity(rate: float | None) -> tuple[str, str]:
    """(band name, CSS background) of a failure rate."""
    if rate is None:
        return "n/a", "transparent"
    for low, name, alpha in SEVERITY:
        if rate >= low:
            return name, f"rgba({SEVERITY_RGB[0]}, {SEVERITY_RGB[1]}, {SEVERITY_RGB[2]}, {alpha})"
    return "low", "transparent"


def _cell(rate: float | None) -> str:
    name, background = severity(rate)
    text = "n/a" if rate is None else f"{rate:.0%}"
    return f'<td class="rate" style="background: {background}" title="{name}">{text}</td>'


def _capability_rates(result: SuiteResult) -> dict[str, float | None]:
    """Mean failure rate of each capability's tests (those with cases)."""
    rates: dict[str, list[float]] = {}
    for test in result.tests:
        if test.cases:
            rates.setdefault(test.capability, []).append(test.failure_rate)
    return {cap: sum(r) / len(r) for cap, r in rates.items()}


def _first_failure(models: list[ModelReport], capability: str) -> str:
    """An example of the dev half that fails this capability, for the first model that fails one."""
    for m in models:
        dev = m.results.get("dev")
        for test in dev.tests if dev else []:
            if test.capability == capability and test.examples:
                e = test.examples[0]
                shown = f"“{e.text}” → “{e.perturbed}”" if e.perturbed else f"“{e.text}”"
                return (f"{html.escape(shown)} <span class='subdued'>({html.escape(m.entry.path.stem)}, "
                        f"expected {html.escape(test.expectation)})</span>")
    return "<span class='subdued'>none fails</span>"


def capability_table(models: list[ModelReport]) -> str:
    """The report as an HTML table: a row per capability, a dev and a held-out column per model."""
    ran = [m for m in models if m.results]
    notes = [f"<p>{html.escape(m.note)}</p>" for m in models if m.note]
    if not ran:
        return "".join(notes)
    halves = list(dict.fromkeys(h for m in ran for h in m.results))
    rates = {(m.entry.key, h): _capability_rates(r) for m in ran for h, r in m.results.items()}
    capabilities = list(dict.fromkeys(t.capability for m in ran for r in m.results.values() for t in r.tests))
    head = "".join(f'<th colspan="{len(halves)}">{html.escape(m.entry.path.stem)}</th>' for m in ran)
    sub = "".join(f"<th>{'held-out' if h == 'heldout' else h}</th>" for _ in ran for h in halves)
    rows = []
    for cap in capabilities:
        cells = "".join(_cell(rates[m.entry.key, h].get(cap)) for m in ran for h in halves)
        rows.append(f"<tr><th scope='row'>{html.escape(cap)}</th>{cells}<td class='example'>"
                    f"{_first_failure(ran, cap)}</td></tr>")
    overall = "".join(_cell(m.results[h].summary.overall) for m in ran for h in halves)
    rows.append(f"<tr class='overall'><th scope='row'>all tests</th>{overall}<td></td></tr>")
    legend = " ".join(f'<span class="sev" style="background: {severity(low)[1]}">{name} ≥ {low:.0%}</span>'
                      for low, name, _ in reversed(SEVERITY))
    return ("".join(notes) + f'<div class="behaviour-legend">Mean failure rate of the capability\'s tests: '
            f"{legend}</div><div class='behaviour-scroll'><table class='behaviour'><thead><tr><th rowspan='2'>"
            f"capability</th>{head}<th rowspan='2'>an example that fails (dev half)</th></tr><tr>{sub}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def examples_frame(model: ModelReport) -> pd.DataFrame:
    """One model's tests, each with its failing examples of the dev half (a row per example)."""
    dev, held = model.results.get("dev"), model.results.get("heldout")
    held_rates = _capability_rates(held) if held else {}  # the halves share capabilities, not tests
    rows = []
    for test in dev.tests if dev else []:
        common = [test.capability, test.name, test.expectation, test.failure_rate, held_rates.get(test.capability)]
        for e in test.examples:
            after = e.perturbed_probabilities["positive"] if e.perturbed_probabilities else None
            rows.append([*common, e.text, e.probabilities["positive"], e.perturbed or "", after])
    return pd.DataFrame(rows, columns=EXAMPLE_COLUMNS)


def _shade(value: Any) -> str:
    return f"background: {severity(value)[1]}" if isinstance(value, float) and value == value else ""


def styled_examples(frame: pd.DataFrame) -> Any:
    """The examples table with its failure rates as percentages, shaded by severity."""
    rates = EXAMPLE_COLUMNS[3:5]
    return (frame.style.map(_shade, subset=rates)
            .format(dict.fromkeys(rates, "{:.0%}") | {"P(positive)": "{:.2f}", "P(positive) after": "{:.2f}"},
                    na_rep=""))


def own_summary(template: str, expectation: str, results: list[OwnResult]) -> str:
    """One line per model: how many fills fail."""
    lines = [f"**{md.text(template)}**, expected *{md.text(expectation)}*:"]
    for r in results:
        if r.result is None:
            lines.append(f"- {md.text(r.note)}")
        else:
            lines.append(f"- {md.code(r.entry.path.stem)}: **{r.result.failures:,} of {r.result.cases:,}** fills fail "
                         f"({r.result.failure_rate:.1%})")
    if any(r.result and r.result.failures for r in results):
        lines.append("\n**Click a failing fill** to load it into the Classify tab's Review box.")
    return "\n".join(lines)


def own_frame(results: list[OwnResult]) -> pd.DataFrame:
    """Every failing fill of every model (the first ``MAX_OWN_ROWS``)."""
    rows = []
    for r in results:
        for e in r.result.examples if r.result else []:
            after = e.perturbed_probabilities["positive"] if e.perturbed_probabilities else None
            rows.append([r.entry.path.stem, e.text, e.probabilities["positive"], e.perturbed or "", after])
    frame = pd.DataFrame(rows[:MAX_OWN_ROWS], columns=OWN_COLUMNS)
    return frame.style.format({"P(positive)": "{:.2f}", "P(positive) after": "{:.2f}"}, na_rep="")


def _marked(pieces: list[tuple[str, bool]]) -> str:
    return "".join(f"<mark>{html.escape(p)}</mark>" if changed else html.escape(p) for p, changed in pieces)


def diff_html(original: str, edited: str) -> str:
    """The review and its edit side by side, the changed words marked."""
    left, right = diff(original, edited)
    return (f"<div class='flip-diff'><div><b>Review</b><p>{_marked(left)}</p></div>"
            f"<div><b>Edit</b><p>{_marked(right)}</p></div></div>")


def flip_frame(rows: list[FlipRow], target: str) -> Any:
    """Per model: the label of the review and of the edit, and P(target) before, after and its change."""
    out = []
    for r in rows:
        before, after = r.before.get(target), r.after.get(target)
        change = None if before is None else after - before
        out.append([r.entry.path.stem, r.label(r.before), r.label(r.after), before, after, change])
    columns = ["model", "review", "edit", f"P({target}) review", f"P({target}) edit", "change"]
    frame = pd.DataFrame(out, columns=columns)
    return palette.style_labels(frame, ["review", "edit"]).format(
        {c: "{:.3f}" for c in columns[3:5]} | {"change": "{:+.3f}"}, na_rep="—")


CSS = """
.behaviour-scroll { overflow-x: auto; }
table.behaviour { border-collapse: collapse; font-size: var(--text-sm); }
table.behaviour th, table.behaviour td { padding: 0.3em 0.6em; border: 1px solid var(--border-color-primary); }
table.behaviour td.rate { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.behaviour th[scope=row] { text-align: left; white-space: nowrap; font-weight: 600; }
table.behaviour td.example { min-width: 18em; }
table.behaviour tr.overall th, table.behaviour tr.overall td { border-top-width: 2px; }
.behaviour-legend { font-size: var(--text-sm); margin: var(--spacing-md) 0; }
.behaviour-legend .sev { padding: 0.1em 0.5em; border-radius: var(--radius-sm); margin-right: 0.3em; }
.subdued { color: var(--body-text-color-subdued); }
.flip-diff { display: grid; grid-template-columns: repeat(auto-fit, minmax(16em, 1fr)); gap: var(--spacing-lg); }
.flip-diff p { white-space: pre-wrap; line-height: 1.6; }
.flip-diff mark { background: rgba(240, 200, 60, 0.55); color: inherit; border-radius: 2px; padding: 0 0.1em; }
"""
