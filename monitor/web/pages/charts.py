"""Charts drawn on the server as inline SVG: no script, no CDN, readable by the CSP.

Each chart has a title for screen readers and sits beside a table with the same numbers
(the page's job, not this module's), so the picture is never the only way to read them.
Colours come from classes styled in static/monitor.css; the CSP allows no inline style.

The drawing is 480 units wide and its text 15 units high (monitor.css), so on a phone 390 px
wide, where the chart is drawn about 358 px wide, a label is still 11 px or more. A chart with
nothing to show says "ingen data" instead of drawing an axis for nothing. Axis ticks on the
count axis are round numbers (1, 2 or 5 times a power of ten) written like every other
number on the pages (`integer`: 6.000, 35.000, 1.200.000), on every page alike.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from flask_babel import gettext as _
from markupsafe import Markup, escape

from .bands import bin_of
from .format import day, integer, number

WIDTH, HEIGHT = 480, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 20, 44
CHAR_WIDTH = 8.5  # a digit at the charts' 15-unit font, generously


def _svg(title: str, body: list[str], css: str) -> Markup:
    # Everything interpolated below is a number or has passed through escape().
    return Markup(
        f'<svg class="chart {css}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, css: str = "", anchor: str = "middle") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{css}">{escape(text)}</text>'


def _no_data(title: str, css: str) -> Markup:
    """An empty chart that says so, instead of an axis with made-up ticks."""
    return _svg(title, [_text(WIDTH / 2, HEIGHT / 2, _("ingen data"), "empty-label")], f"{css} empty")


def nice_ticks(top: float, count: int = 4) -> list[int]:
    """Round tick values from 0 to at least `top`: steps of 1, 2 or 5 times a power of ten."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(1, int(step))
    n = math.ceil(top / step)
    return [i * step for i in range(n + 1)]


def score_bins(scores: Sequence[float | None]) -> list[int]:
    """Counts of conclusive scores in the nine bins [1,2), [2,3) … [9,10], of each score as shown
    (3.96 reads "4,0" and counts in 4–5, as its colour says)."""
    bins = [0] * 9
    for s in scores:
        if s is None or not math.isfinite(s):
            continue
        bins[bin_of(s)] += 1
    return bins


def distribution(scores: Sequence[float | None], title: str, axis_label: str) -> Markup:
    """A histogram of scores on the 1–10 scale, one bar per whole point."""
    bins = score_bins(scores)
    if not any(bins):
        return _no_data(title, "distribution")
    top = max(bins)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bar_w = plot_w / 9
    body = [f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}"/>']
    for i, count in enumerate(bins):
        h = plot_h * count / top
        x = LEFT + i * bar_w
        y = TOP + plot_h - h
        label = f"{i + 1}–{i + 2}"
        body.append(f'<rect class="bar band-{i + 1}" x="{x + 3:.1f}" y="{y:.1f}" width="{bar_w - 6:.1f}" '
                    f'height="{h:.1f}"><title>{escape(label)}: {count}</title></rect>')
        body.append(_text(x + bar_w / 2, y - 4 if count else TOP + plot_h - 4, str(count), "value"))
        body.append(_text(x + bar_w / 2, TOP + plot_h + 20, label, "tick"))
    body.append(_text(LEFT + plot_w / 2, HEIGHT - 6, axis_label, "axis-label"))
    return _svg(title, body, "distribution")


def history(points: Sequence[tuple[dt.date, float | None]], title: str) -> Markup:
    """The score over time on a fixed 1–10 axis; days without a conclusive score leave a gap."""
    if not any(s is not None for _, s in points):
        return _no_data(title, "history")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    body = []
    for v in (1, 4, 7, 10):
        y = TOP + plot_h * (10 - v) / 9
        body.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        body.append(_text(LEFT - 6, y + 4, str(v), "tick", "end"))
    pts = sorted(points)
    first, last = pts[0][0], pts[-1][0]
    span = max(1, (last - first).days)

    def xy(d: dt.date, s: float) -> tuple[float, float]:
        x = LEFT + plot_w * ((d - first).days / span if len(pts) > 1 else 0.5)
        return x, TOP + plot_h * (10 - s) / 9

    segment: list[str] = []
    segments: list[list[str]] = [segment]
    for d, s in pts:
        if s is None:
            segment = []
            segments.append(segment)
            continue
        x, y = xy(d, s)
        segment.append(f"{x:.1f},{y:.1f}")
        body.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                    f"<title>{escape(day(d))}: {escape(number(s))}</title></circle>")
    for seg in segments:
        if len(seg) > 1:
            body.insert(0, f'<polyline class="line" points="{" ".join(seg)}"/>')
    body.append(_text(LEFT, HEIGHT - 10, day(first), "tick", "start"))
    if last != first:
        body.append(_text(WIDTH - RIGHT, HEIGHT - 10, day(last), "tick", "end"))
    return _svg(title, body, "history")


def calls(points: Sequence[tuple[dt.date, int]], title: str) -> Markup:
    """Daily calls as bars; the y axis starts at zero so that a drop looks like one."""
    pts = sorted(points)
    top = max((c for _, c in pts), default=0)
    if not pts or top <= 0:
        return _no_data(title, "calls")
    ticks = nice_ticks(top)
    labels = [integer(t) for t in ticks]
    left = max(LEFT, 10 + CHAR_WIDTH * max(len(label) for label in labels))
    plot_w, plot_h = WIDTH - left - RIGHT, HEIGHT - TOP - BOTTOM
    scale_top = ticks[-1]
    body = [f'<line class="axis" x1="{left:.1f}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}"/>']
    for value, label in zip(ticks[1:], labels[1:], strict=True):
        y = TOP + plot_h * (1 - value / scale_top)
        body.append(f'<line class="grid" x1="{left:.1f}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        body.append(_text(left - 6, y + 5, label, "tick", "end"))
    body.append(_text(left - 6, TOP + plot_h + 5, labels[0], "tick", "end"))
    first = pts[0][0]
    n = max(1, (pts[-1][0] - first).days + 1)
    bar_w = plot_w / n
    for d, c in pts:
        h = plot_h * c / scale_top
        x = left + (d - first).days * bar_w
        body.append(f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{max(1.0, bar_w - 1):.1f}" '
                    f'height="{h:.1f}"><title>{escape(day(d))}: {escape(integer(c))}</title></rect>')
    body.append(_text(left, HEIGHT - 10, day(first), "tick", "start"))
    if pts[-1][0] != first:
        body.append(_text(WIDTH - RIGHT, HEIGHT - 10, day(pts[-1][0]), "tick", "end"))
    return _svg(title, body, "calls")
