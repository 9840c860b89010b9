"""The model card's sections over what training records beyond the splits' figures: the members of
a model soup, the seeds of a recipe, the calibration, and the behaviour suite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import markdown
from .behaviour import SuiteResult
from .behaviour.render import READING
from .behaviour.runner import SUMMARY_GROUPS
from .report import reliability_table, render

WORTSMAN = ("Wortsman et al., \"Model soups: averaging weights of multiple fine-tuned models improves accuracy "
            "without increasing inference time\", ICML 2022")
GUO = 'Chuan Guo, Geoff Pleiss, Yu Sun and Kilian Q. Weinberger. "On Calibration of Modern Neural Networks." ICML 2017.'


def soup_size(record: Any) -> int | None:
    """How many candidates a soup record keeps; None for a record that is not one (the header check does not
    look inside it)."""
    if not isinstance(record, dict) or not isinstance(record.get("candidates"), list):
        return None
    return sum(1 for row in record["candidates"] if isinstance(row, dict) and row.get("kept"))


def soup_section(record: dict[str, Any]) -> list[str]:
    """The candidates of a model soup: their own validation accuracy, which were kept, and their commands."""
    rows = [["candidate", "own validation accuracy", "in the soup"]]
    commands = []
    for n, row in enumerate(record["candidates"], 1):
        rows.append([f"{n}. {markdown.code(row['file'])}", f"{row['val_accuracy']:.2%}",
                     f"yes (added {_ordinal(row['kept'])})" if row["kept"] else "no"])
        if row.get("command"):
            stages = ", then ".join(markdown.code(c) for c in row.get("stages") or [])
            commands.append(f"{n}. {markdown.code(row['command'])}"
                            + (f", continued from a model made by {stages}" if stages else ""))
    kept = soup_size(record)
    if record["rule"] == "greedy":
        rule = ("tried in order of their own validation accuracy, each kept only where the soup's validation accuracy "
                f"did not drop (a greedy soup): {kept} of {len(rows) - 1} kept")
    else:
        rule = "all of them, with equal weights (a uniform soup)"
    lines = ["", "## Soup", "",
             f"The weights are the element-wise average of these classifiers' weights, {rule}. Classifiers "
             "fine-tuned from one start stay in one basin of the loss, so their average keeps what each learned; "
             f"unlike an ensemble it reads a text once, as fast as any one of them ({WORTSMAN}).", "",
             render(rows, "markdown", align="lrl")]
    if commands:
        lines += ["", "The candidates were made by:", "", *commands]
    return lines


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def seeds_section(record: list[dict[str, Any]]) -> list[str]:
    """Validation and test accuracy of every seed of this recipe, with their mean and spread."""
    rows = [["seed", "validation", "test", "held-out behaviour failures (polar / negation / identity)"]]
    for run in record:
        beh = run.get("heldout") or {}
        rows.append([str(run["init_seed"]) + (" (this file)" if run.get("this") else ""), percent(run["val"]),
                     percent(run["test"]),
                     " / ".join(percent(beh.get(key)) for key in ("polar", "negation", "identity"))])
    tests = [run["test"] for run in record]
    mean = sum(tests) / len(tests)
    spread = (sum((t - mean) ** 2 for t in tests) / max(1, len(tests) - 1)) ** 0.5
    return ["", "## Seeds", "",
            f"The same recipe and split with {len(record)} initialisation seeds (`--init-seed`); the file shipped is "
            f"the one with the best validation accuracy. Test accuracy: mean {mean:.2%}, standard deviation "
            f"{spread:.2%}.", "", render(rows, "markdown", align="lrrr")]


def recorded_section(name: str, section: Callable[[dict[str, Any]], list[str]], record: Any) -> list[str]:
    """The card lines of a record of the metrics: none if the checkpoint predates it, a note if it is malformed.

    The header check does not look inside these records, so a hand-edited one must not break the card.
    """
    if record is None:
        return []
    try:
        return section(record)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        return ["", f"## {name.capitalize()}", "", f"The checkpoint's {name} record is unreadable."]


def percent(value: float | None) -> str:
    """A share as a percentage with one decimal; n/a when it was not measured."""
    return "n/a" if value is None else f"{value:.1%}"


def calibration_section(record: dict[str, Any]) -> list[str]:
    """The card's Calibration section: the temperature, the calibration errors and reliability tables."""
    lines = ["", "## Calibration", ""]
    ece = [["texts", "expected calibration error"]]
    if "skipped" in record:
        lines.append(f"Probabilities are not calibrated: {markdown.text(record['skipped'])}.")
    elif "temperature" not in record:
        lines.append("Probabilities are not temperature-scaled: the model was trained before calibration was part "
                     "of training. How well they match its accuracy on short sentences:")
    else:
        t = float(record["temperature"])
        trend = "over-confident" if t > 1 else "under-confident" if t < 1 else "calibrated"
        lines.append(f"Probabilities are temperature-scaled (Guo et al., 2017): the final layer was divided by "
                     f"T = {t:.3f}, fitted on the {record['val_count']:,} validation reviews to minimise their "
                     f"log-loss (T above 1 means the trained model was over-confident; this one was {trend}). "
                     "Predictions are unchanged; a probability of 90% should now be right about 90% of the time. "
                     "The results above are the scaled model's; the per-epoch losses were measured before scaling.")
        ece += [["validation reviews, before scaling", percent(record["val_ece_before"])],
                ["validation reviews, after scaling", percent(record["val_ece_after"])]]
    if "short_ece" in record:
        ece.append([f"short sentences of the behaviour suite ({record['short_count']:,}, both halves, "
                    "expecting a label)", percent(record["short_ece"])])
    if len(ece) > 1:
        bins = record.get("bins", 15)
        lines += ["", f"Expected calibration error (ECE): over {bins} equal-width bins of confidence (the "
                  "probability of the predicted class), the gap between mean confidence and accuracy, weighted by "
                  "the bin's share of the texts; 0 is perfect.", "", render(ece, align="lr")]
    legend = "bar: accuracy (█), with ┃ at the mean confidence; empty bins left out"
    if record.get("val_reliability"):
        lines += ["", f"Reliability on the validation reviews, after scaling ({legend}):", "",
                  reliability_table(record["val_reliability"], unit="reviews")]
    if record.get("short_reliability"):
        lines += ["", "Reliability on the behaviour suite's short sentences expecting a label:", "",
                  reliability_table(record["short_reliability"], unit="sentences")]
    if "temperature" in record:
        lines += ["", f"Temperature scaling: {GUO}"]
    return lines


def behaviour_section(record: dict[str, Any]) -> list[str]:
    """The card's Behaviour section: failure rates per half of the suite, by capability."""
    halves = {name: SuiteResult.from_dict(record[key]) for name, key in (("held-out", "heldout"), ("dev", "dev"))
              if key in record}
    if not halves:
        raise ValueError("no half of the suite recorded")
    first = next(iter(halves.values()))
    lines = ["", "## Behaviour", "",
             f"Behaviour suite {markdown.text(first.version)} (`sentiment_core.behaviour`, CheckList-style): short "
             "template sentences, grouped by capability, at most "
             f"{first.max_cases} a test (seed {first.seed}). The held-out half shares no template or word with the dev "
             f"half and was not looked at while building models: quote its figures. {READING}", "",
             "Mean failure rate (lower is better):", ""]
    summary = [["figure", *(f"{name} (tests)" for name in halves)]]
    for key, title, member in SUMMARY_GROUPS:
        summary.append([title, *(f"{percent(getattr(r.summary, key))} ({sum(map(member, r.tests))})"
                                 for r in halves.values())])
    lines.append(render(summary))
    capabilities = dict.fromkeys(t.capability for r in halves.values() for t in r.tests)
    for capability in capabilities:
        rows = [["half", "test", "expectation", "cases", "failure rate"]]
        rows += [[name, markdown.text(t.name), markdown.text(t.expectation), f"{t.cases:,}", percent(t.failure_rate)]
                 for name, r in halves.items() for t in r.tests if t.capability == capability]
        lines += ["", f"### {markdown.text(capability)}", "", render(rows, align="lllrr")]
    lines += ["", "Failing examples: `python -m sentiment_core behaviour --half both --checkpoint <file>`."]
    return lines
