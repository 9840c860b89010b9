"""The app's one colour convention: positive is green, negative is red, in every view.

The pair is Okabe and Ito's bluish green and vermillion, which stay apart for the common forms of
colour blindness (a plain green and red look alike to about 1 man in 12), while reading as green
and red to everyone else. The prediction's bars, the word colours, the running-prediction chart,
the confusion matrix and the batch predictions all take their colours from here; ``CSS`` styles the
Gradio parts.
"""

from __future__ import annotations

from typing import Any

POSITIVE_RGB = (0, 158, 115)  # #009E73, bluish green
NEGATIVE_RGB = (213, 94, 0)  # #D55E00, vermillion


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#{:02X}{:02X}{:02X}".format(*rgb)


def rgba(rgb: tuple[int, int, int], alpha: float) -> str:
    return f"rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {alpha:.3g})"


# Curves that are not sentiments (losses, accuracies, one line per run) take these, in order: no green
# or red among them, so those keep their meaning. Each pairs a colour with a light one for faint curves.
SERIES = (("#4C78A8", "#9ECAE9"), ("#9467BD", "#C5B0D5"), ("#7F7F7F", "#C7C7C7"), ("#8C564B", "#C49C94"),
          ("#E377C2", "#F7B6D2"), ("#BCBD22", "#DBDB8D"), ("#17BECF", "#9EDAE5"))

POSITIVE = hex_colour(POSITIVE_RGB)
NEGATIVE = hex_colour(NEGATIVE_RGB)
BY_LABEL = {"positive": POSITIVE_RGB, "negative": NEGATIVE_RGB}
TINT_ALPHA = 0.18  # backgrounds behind text: light enough for dark text, dark enough to see
WORD_ALPHA = 0.8  # the strongest word's background; weaker words are fainter


def tint(label: str) -> str | None:
    """A translucent background for ``label`` (readable in light and dark themes), or None."""
    rgb = BY_LABEL.get(label)
    return rgba(rgb, TINT_ALPHA) if rgb else None


def word_background(score: float | None) -> str:
    """The background of a word scored in [-1, 1]: green towards positive, red towards negative."""
    if not score:
        return "transparent"
    return rgba(POSITIVE_RGB if score > 0 else NEGATIVE_RGB, min(abs(score), 1.0) * WORD_ALPHA)


def style_labels(frame: Any, column: str | list[str]) -> Any:
    """``frame`` (a pandas DataFrame) as a Styler that shows the labels of ``column`` (one name or several) in
    their colours (and numbers with 3 decimals: a Styler would show 6)."""
    def colour(label: Any) -> str:
        rgb = BY_LABEL.get(label)
        return f"color: {hex_colour(rgb)}; font-weight: 600" if rgb else ""

    return frame.style.map(colour, subset=[column] if isinstance(column, str) else column).format(precision=3)


# The prediction's bars are <meter>s that Gradio paints with --stat-background-fill, pseudo-elements included.
CSS = f"""
#prediction meter[aria-label="positive"] {{ --stat-background-fill: {POSITIVE}; }}
#prediction meter[aria-label="negative"] {{ --stat-background-fill: {NEGATIVE}; }}
.swatch {{ display: inline-block; width: 0.9em; height: 0.9em; border-radius: 2px; vertical-align: -0.1em; }}
.swatch.positive {{ background: {POSITIVE}; }}
.swatch.negative {{ background: {NEGATIVE}; }}
.swatch.scale {{ width: 6em; background: linear-gradient(to right, {NEGATIVE}, transparent, {POSITIVE}); }}
.sentiment-positive {{ color: {POSITIVE}; font-weight: 600; }}
.sentiment-negative {{ color: {NEGATIVE}; font-weight: 600; }}
.confusion th:nth-child(2), .confusion tbody tr:nth-child(1) td:first-child {{ color: {NEGATIVE}; font-weight: 600; }}
.confusion th:nth-child(3), .confusion tbody tr:nth-child(2) td:first-child {{ color: {POSITIVE}; font-weight: 600; }}
.confusion tbody tr:nth-child(1) td:nth-child(2) {{ background: {rgba(NEGATIVE_RGB, TINT_ALPHA)}; }}
.confusion tbody tr:nth-child(2) td:nth-child(3) {{ background: {rgba(POSITIVE_RGB, TINT_ALPHA)}; }}
"""
