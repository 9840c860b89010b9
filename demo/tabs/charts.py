"""Vega-Lite line charts for ``gr.Plot``: lines with point markers, so one data point is visible too.

``gr.LinePlot`` draws lines only, and a series with a single point (the first training step,
the first epoch) stays blank. ``gr.Plot`` renders any Vega-Lite spec handed to it as
``AltairPlotData``; with ``chart="line"`` Gradio fits the width and applies the page theme
(fonts, dark mode), and replaces the range of every ``color`` scale with its own palette, which
starts with red and green. Colours here are therefore ``stroke`` and ``fill`` encodings or mark
colours, which Gradio leaves alone: green and red only for positive and negative (``palette``),
``palette.SERIES`` for everything else.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from gradio.components.plot import AltairPlotData

from . import palette

# Beyond this many points per series, markers hide the line instead of marking it.
MAX_MARKED_POINTS = 40


def _layers(x: dict, y: dict, series: str, domain: Sequence[str], colours: Sequence[str], marked: bool,
            tooltip: list[dict[str, Any]], width: float = 2.0) -> list[dict[str, Any]]:
    """One series: its line (which carries the legend) and, when few, its points."""
    scale = {"domain": list(domain), "range": list(colours)}
    legend = {"orient": "bottom", "title": None, "symbolType": "stroke"} if len(domain) > 1 else None
    only = [{"filter": {"field": "series", "equal": series}}]
    layers = [{"mark": {"type": "line", "strokeWidth": width, "clip": True}, "transform": only,
               "encoding": {"x": x, "y": y, "tooltip": tooltip,
                            "stroke": {"field": "series", "type": "nominal", "scale": scale, "legend": legend}}}]
    if marked:
        layers.append({"mark": {"type": "point", "filled": True, "size": 45, "strokeWidth": 0, "opacity": 1},
                       "transform": only,
                       "encoding": {"x": x, "y": y, "tooltip": tooltip,
                                    "fill": {"field": "series", "type": "nominal", "scale": scale, "legend": None}}})
    return layers


def _tip(enc: dict) -> dict:
    tip = {"field": enc["field"], "type": "quantitative", "title": enc.get("title", enc["field"])}
    if enc.get("axis", {}).get("format"):
        tip["format"] = enc["axis"]["format"]
    return tip


def line_chart(
    rows: list[dict[str, Any]],
    x: str,
    y: str,
    *,
    x_title: str,
    y_title: str,
    series_order: Sequence[str] | None = None,
    faint: Sequence[str] = (),
    y_domain: tuple[float, float] | None = None,
    y_format: str | None = None,
    x_integer: bool = True,
    height: int = 260,
) -> AltairPlotData | None:
    """A chart of ``rows`` (dicts with x, y and ``series`` keys), one coloured line per series.

    Series named in ``faint`` are drawn thin, in the light shade of the next series' colour (raw,
    noisy values under their smoothed curve). No rows: None (blank).
    """
    if not rows:
        return None
    order = list(series_order or dict.fromkeys(r["series"] for r in rows))
    # Padding keeps the first and last markers inside the plot.
    x_enc: dict[str, Any] = {"field": x, "type": "quantitative", "title": x_title,
                             "scale": {"zero": False, "nice": False, "padding": 8}}
    if x_integer:
        x_enc["axis"] = {"format": "d", "tickMinStep": 1}
        distinct = sorted({r[x] for r in rows})
        if len(distinct) <= 12:  # few values (epochs): tick exactly those
            x_enc["axis"]["values"] = distinct
    y_enc: dict[str, Any] = {"field": y, "type": "quantitative", "title": y_title, "scale": {"zero": False}}
    values = [r[y] for r in rows]
    if y_domain is None and min(values) == max(values):  # one value: a small range around it, not a lone label
        pad = max(abs(values[0]) * 0.05, 0.01)
        y_domain = (values[0] - pad, values[0] + pad)
    if y_domain is not None:
        y_enc["scale"] = {"domain": list(y_domain)}
        y_enc["axis"] = {"tickCount": 5}
    if y_format and y_format.endswith("%"):
        domain, ticks, y_format = percent_scale(values)
        y_enc["scale"] = {"domain": domain, "nice": False}
        y_enc["axis"] = {"values": ticks}
    if y_format:
        y_enc.setdefault("axis", {})["format"] = y_format
    counts = {s: sum(1 for r in rows if r["series"] == s) for s in order}
    colours, shade = [], 0
    for s in order:  # a faint series shares the next series' colour, in its light shade
        colours.append(palette.SERIES[shade % len(palette.SERIES)][1 if s in faint else 0])
        shade += s not in faint
    tooltip = [{"field": "series", "type": "nominal"}, _tip(x_enc), _tip(y_enc)]
    layers = [layer for s in order if counts[s]
              for layer in _layers(x_enc, y_enc, s, order, colours, counts[s] <= MAX_MARKED_POINTS, tooltip,
                                   width=1.0 if s in faint else 2.0)]
    return _plot(rows, layers, height)


def _plot(rows: list[dict[str, Any]], layers: list[dict[str, Any]], height: int) -> AltairPlotData:
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "height": height,
        "data": {"values": rows},
        "layer": layers,
    }
    return AltairPlotData(chart="line", plot=json.dumps(spec))


# Data of one empty row, for layers drawn once (a rule, a band, a label): over the chart's data
# they would be drawn once per row, stacking translucent colours into solid ones.
_ONCE = {"values": [{}]}


def _rule(y: float) -> dict[str, Any]:
    """A dashed horizontal reference line at ``y``."""
    return {"data": _ONCE, "mark": {"type": "rule", "strokeDash": [4, 4], "opacity": 0.6, "color": "#888888"},
            "encoding": {"y": {"datum": y}}}


def percent_scale(values: Sequence[float]) -> tuple[list[float], list[float], str]:
    """(domain, tick values, format) of a percentage axis over ``values``: round ticks whose labels all differ.

    Left to Vega, a narrow range (77.1% to 77.4%) gets ticks every 0.1% printed as whole
    percents, "77% 77% 77%". Here the tick step is 1, 2 or 5 times a power of ten, the largest
    that gives at least four ticks, and the format shows as many decimals as the step needs.
    """
    low, high = min(values), max(values)
    pad = max((high - low) * 0.1, 0.005)
    low, high = max(0.0, low - pad), min(1.0, high + pad)

    def ticks_of(step: float) -> list[float]:
        first = math.ceil(low / step - 1e-9) * step
        return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]

    # The largest round step that still gives four ticks or more.
    power = 10 ** math.ceil(math.log10(high - low))
    step = next(m * p for p in (power, power / 10, power / 100) for m in (5, 2, 1) if len(ticks_of(m * p)) >= 4)
    ticks = ticks_of(step)
    decimals = max(0, -math.floor(math.log10(step * 100) + 1e-9))
    return [low, high], ticks, f".{decimals}%"


def running_chart(positions: Sequence[int], values: Sequence[float], tokens: Sequence[str],
                  height: int = 220, target: str | None = None, opposite: str | None = None
                  ) -> AltairPlotData | None:
    """P(positive) after each token read: a neutral line over a green (positive) and a red (negative) half.

    Each point takes the colour of the side it lies on, and the halves are labelled in the plot,
    so the chart needs no separate legend. ``target``: for a model of more classes, the class the
    values are the probability of; its half is the green one, the other is labelled ``opposite`` (the other
    class of two), else "not" it.
    """
    if not positions:
        return None
    # A class name is only a title: it may hold characters a Vega-Lite field name can't ('.', '[').
    field, title = ("P(positive)", "P(positive)") if target is None else ("probability", f"P({target})")
    above, below = ("positive", "negative") if target is None else (target, opposite or f"not {target}")
    rows = [{"tokens read": pos, field: p, "token": tok} for pos, p, tok in zip(positions, values, tokens)]
    x = {"field": "tokens read", "type": "quantitative", "title": "tokens read",
         "scale": {"zero": False, "nice": False, "padding": 8}, "axis": {"format": "d", "tickMinStep": 1}}
    if len(positions) <= 12:
        x["axis"]["values"] = list(positions)
    y = {"field": field, "type": "quantitative", "title": title, "scale": {"domain": [0.0, 1.0]},
         "axis": {"tickCount": 5}}
    tooltip = [{"field": "token", "type": "nominal"}, {"field": "tokens read", "type": "quantitative"},
               {"field": field, "type": "quantitative", "format": ".1%", "title": title}]
    halves = []
    for label, rgb, low, high, baseline in ((above, palette.POSITIVE_RGB, 0.5, 1.0, "top"),
                                            (below, palette.NEGATIVE_RGB, 0.0, 0.5, "bottom")):
        colour = palette.hex_colour(rgb)
        band = {"type": "rect", "fill": colour, "fillOpacity": 0.1, "strokeWidth": 0}
        halves.append({"data": _ONCE, "mark": band, "encoding": {"y": {"datum": low}, "y2": {"datum": high}}})
        name = {"type": "text", "text": label, "align": "left", "baseline": baseline, "dx": 6,
                "dy": 4 if baseline == "top" else -4, "color": colour, "fontWeight": "bold", "strokeWidth": 0}
        edge = high if baseline == "top" else low
        halves.append({"data": _ONCE, "mark": name, "encoding": {"x": {"value": 0}, "y": {"datum": edge}}})
    line = {"mark": {"type": "line", "color": "#6B7280", "strokeWidth": 1.5, "clip": True},
            "encoding": {"x": x, "y": y, "tooltip": tooltip}}
    side = {"condition": {"test": f"datum['{field}'] >= 0.5", "value": palette.POSITIVE}, "value": palette.NEGATIVE}
    points = {"mark": {"type": "point", "filled": True, "size": 40 if len(rows) <= MAX_MARKED_POINTS else 18,
                       "strokeWidth": 0, "opacity": 1},
              "encoding": {"x": x, "y": y, "fill": side, "tooltip": tooltip}}
    return _plot(rows, [*halves, _rule(0.5), line, points], height)


def thin(rows: list[dict[str, Any]], max_points: int) -> list[dict[str, Any]]:
    """Every k-th row (and always the last), so a long history stays a light chart."""
    if len(rows) <= max_points:
        return rows
    step = -(-len(rows) // max_points)
    return rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else [])


GRADIENT_FLOOR = 1e-12  # norms below this (down to an exact 0.0, where float32 underflows) are drawn on it


def gradient_chart(flows: Sequence[tuple[str, Sequence[str], Sequence[int], Sequence[float]]], selected: str = "",
                   height: int = 280) -> AltairPlotData | None:
    """One line per model, (name, tokens, distances, norms): the gradient norm at each token against its
    distance from the end of the review, on a log scale floored at ``GRADIENT_FLOOR``.

    The ``selected`` model's line is drawn thicker. A dashed line marks the floor, which a vanished
    gradient reaches and follows.
    """
    rows = [{"distance from the end": d, "gradient norm": max(n, GRADIENT_FLOOR), "token": t, "series": name}
            for name, tokens, distances, norms in flows for t, d, n in zip(tokens, distances, norms, strict=True)]
    if not rows:
        return None
    order = [name for name, *_ in flows]
    colours = [palette.SERIES[i % len(palette.SERIES)][0] for i in range(len(order))]
    x = {"field": "distance from the end", "type": "quantitative", "title": "tokens between this one and the end",
         "scale": {"zero": True, "nice": False}, "axis": {"format": "d", "tickMinStep": 1}}
    top = max(r["gradient norm"] for r in rows)
    y = {"field": "gradient norm", "type": "quantitative", "title": "‖d logit / d embedding‖ (log)",
         "scale": {"type": "log", "domain": [GRADIENT_FLOOR, max(top * 2, GRADIENT_FLOOR * 10)], "nice": False},
         "axis": {"format": ".0e", "values": [10.0 ** k for k in range(-12, 3, 2)]}}
    tooltip = [{"field": "series", "type": "nominal", "title": "model"}, {"field": "token", "type": "nominal"},
               {"field": "distance from the end", "type": "quantitative"},
               {"field": "gradient norm", "type": "quantitative", "format": ".2e"}]
    layers = [_rule(GRADIENT_FLOOR)]
    layers.append({"data": _ONCE, "mark": {"type": "text", "text": f"{GRADIENT_FLOOR:.0e} or less (vanished)",
                                           "align": "right", "baseline": "bottom", "dy": -3, "color": "#888888"},
                   "encoding": {"x": {"datum": max(r["distance from the end"] for r in rows)},
                                "y": {"datum": GRADIENT_FLOOR}}})
    for name in order:
        layers += _layers(x, y, name, order, colours, False, tooltip, width=3.0 if name == selected else 1.5)
    return _plot(rows, layers, height)
