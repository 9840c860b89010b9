"""Vega-Lite line charts for ``gr.Plot``: lines with point markers, so one data point is visible too.

``gr.LinePlot`` draws lines only, and a series with a single point (the first training step,
the first epoch) stays blank. ``gr.Plot`` renders any Vega-Lite spec handed to it as
``AltairPlotData``; with ``chart="line"`` Gradio fits the width and applies the page theme
(fonts, dark mode, its colour palette in series order). Each layer's colour scale therefore
needs a ``range`` for Gradio to replace.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gradio.components.plot import AltairPlotData

# Beyond this many points per series, markers hide the line instead of marking it.
MAX_MARKED_POINTS = 40


def _layer(rows: list[dict[str, Any]], x: dict, y: dict, series: str | None, domain: Sequence[str],
           marked: bool, opacity: float = 1.0, width: float = 2.0) -> dict[str, Any]:
    encoding: dict[str, Any] = {
        "x": x, "y": y,
        "tooltip": [{"field": "series", "type": "nominal"}, *[_tip(enc) for enc in (x, y)]],
    }
    if "token" in rows[0]:
        encoding["tooltip"].insert(0, {"field": "token", "type": "nominal"})
    # Every layer carries the colour scale (Gradio recolours it), filtered to its own series.
    encoding["color"] = {"field": "series", "type": "nominal", "scale": {"domain": list(domain), "range": list(domain)},
                         "legend": {"orient": "bottom", "title": None} if len(domain) > 1 else None}
    mark: dict[str, Any] = {"type": "line", "opacity": opacity, "strokeWidth": width, "clip": True}
    if marked:
        mark["point"] = {"filled": True, "size": 45, "strokeWidth": 0, "opacity": opacity}
    layer: dict[str, Any] = {"mark": mark, "encoding": encoding}
    if series is not None:
        layer["transform"] = [{"filter": {"field": "series", "equal": series}}]
    return layer


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
    rule: float | None = None,
    height: int = 260,
) -> AltairPlotData | None:
    """A chart of ``rows`` (dicts with x, y and ``series`` keys), one coloured line per series.

    Series named in ``faint`` are drawn thin and translucent (raw, noisy values under a
    smoothed curve). ``rule`` draws a dashed horizontal reference line. No rows: None (blank).
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
    if y_domain is not None:
        y_enc["scale"] = {"domain": list(y_domain)}
        y_enc["axis"] = {"tickCount": 5}
    if y_format:
        y_enc.setdefault("axis", {})["format"] = y_format
    counts = {s: sum(1 for r in rows if r["series"] == s) for s in order}
    layers = [
        _layer(rows, x_enc, y_enc, s, order, counts[s] <= MAX_MARKED_POINTS,
               opacity=0.35 if s in faint else 1.0, width=1.0 if s in faint else 2.0)
        for s in order if counts[s]
    ]
    if rule is not None:
        layers.append({"mark": {"type": "rule", "strokeDash": [4, 4], "opacity": 0.5},
                       "encoding": {"y": {"datum": rule}}})
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "height": height,
        "data": {"values": rows},
        "layer": layers,
    }
    return AltairPlotData(chart="line", plot=json.dumps(spec))


def thin(rows: list[dict[str, Any]], max_points: int) -> list[dict[str, Any]]:
    """Every k-th row (and always the last), so a long history stays a light chart."""
    if len(rows) <= max_points:
        return rows
    step = -(-len(rows) // max_points)
    return rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else [])
