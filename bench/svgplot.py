"""Waveform plots as static SVG text, readable in any report without JavaScript.

    >>> svg = waveform_svg([0.0, 1e-3, 2e-3], [8e-6, 8e-3, 8e-6], title="sleep", unit="A")
    >>> svg.startswith("<svg") and "8 mA" in svg
    True

A capture of 100,000 points is drawn as its min/max envelope per pixel column: a 2 ms radio
burst in a 1 s window still shows, the file stays a few tens of kilobytes, and nothing needs a
script to render (mail clients and strict report viewers block scripts). `log=True` draws the
current on decades, so microamp sleep floors and milliamp bursts share one picture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 70, 12, 28, 40
PREFIXES = ((1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""), (1e3, "k"))


def si(value: float, unit: str) -> str:
    """`2.4e-05, "A"` -> `24 µA`: three significant digits and an SI prefix."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    scale, prefix = next(((s, p) for s, p in reversed(PREFIXES) if abs(value) >= s), PREFIXES[0])
    return f"{value / scale:.3g} {prefix}{unit}"


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = (high - low) or abs(high) or 1.0
    raw = span / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if raw <= m * step)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _envelope(values: Sequence[float], columns: int) -> list[tuple[int, float, float]]:
    """(column, min, max) of the samples falling in each pixel column."""
    n = len(values)
    per = max(1, math.ceil(n / columns))
    return [(i // per, min(values[i:i + per]), max(values[i:i + per])) for i in range(0, n, per)]


def waveform_svg(times: Sequence[float], values: Sequence[float], *, title: str, unit: str,
                 log: bool = False, marks: Sequence[tuple[float, str]] = ()) -> str:
    """An SVG document of `values` against `times` (seconds), with labelled axes and marks."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    t0, t1 = times[0], times[-1] if times[-1] > times[0] else times[0] + 1.0
    floor = 1e-7
    shown = [math.log10(max(v, floor)) for v in values] if log else list(values)
    low, high = min(shown), max(shown)
    if log:
        low, high = math.floor(low), math.ceil(high) + (math.ceil(high) == math.floor(low))
        yticks = [float(d) for d in range(int(low), int(high) + 1)]
    else:
        low = min(low, 0.0)
        high = high + 0.08 * (high - low) if high > low else low + 1.0  # room above the peak
        yticks = _nice_ticks(low, high)
        high = max(high, yticks[-1])

    def x(t: float) -> float:
        return LEFT + (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - (v - low) / (high - low) * plot_h

    columns = _envelope(shown, plot_w)
    per = len(shown) / max(1, len(columns))
    upper = " ".join(f"{LEFT + c * plot_w / len(columns):.1f},{y(hi):.1f}" for c, _, hi in columns)
    lower = " ".join(f"{LEFT + c * plot_w / len(columns):.1f},{y(lo):.1f}"
                     for c, lo, _ in reversed(columns))
    time_scale, time_unit = (1e-3, "ms") if t1 - t0 < 2 else (1.0, "s")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" '
        'stroke="#888"/>',
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for tick in yticks:
        label = si(10 ** tick, unit) if log else si(tick, unit)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}" stroke="#ddd"/><text x="{LEFT - 4}" '
                     f'y="{y(tick) + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    for tick in _nice_ticks(t0, t1):
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{TOP}" '
                     f'y2="{TOP + plot_h}" stroke="#eee"/><text x="{x(tick):.1f}" '
                     f'y="{TOP + plot_h + 14}" text-anchor="middle">'
                     f"{tick / time_scale:g}</text>")
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle">'
                 f"time ({time_unit}); {len(values)} samples, {per:.0f} per column"
                 f"{', log scale' if log else ''}</text>")
    parts.append(f'<polygon points="{upper} {lower}" fill="#1f77b4" fill-opacity="0.35" '
                 'stroke="#1f77b4" stroke-width="1"/>')
    for at, label in marks:
        parts.append(f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
                     f'stroke="#d62728" stroke-dasharray="4 3"/><text x="{x(at) + 3:.1f}" '
                     f'y="{TOP + 12}" fill="#d62728">{escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def histogram_svg(name: str, units: str, counts: Sequence[int], left: float, right: float,
                  marks: Sequence[tuple[float, str, str]], width: int = 420,
                  height: int = 150) -> str:
    """Bars of a distribution binned over [left, right], with vertical `(value, colour, label)`
    marks (limits, mean) labelled under the axis."""
    pad, plot_w, plot_h = 30, width - 40, height - 40
    top = max(counts) or 1
    bar_w = plot_w / len(counts)

    def x(value: float) -> float:
        return pad + (value - left) / (right - left) * plot_w

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"font-family='sans-serif' font-size='10' role='img'><title>{escape(name)}</title>"]
    for i, count in enumerate(counts):
        h = count / top * plot_h
        parts.append(f"<rect x='{pad + i * bar_w:.1f}' y='{10 + plot_h - h:.1f}' "
                     f"width='{bar_w - 1:.1f}' height='{h:.1f}' fill='#5b8def'/>")
    for value, colour, label in marks:
        parts.append(f"<line x1='{x(value):.1f}' x2='{x(value):.1f}' y1='8' "
                     f"y2='{12 + plot_h}' stroke='{colour}' stroke-width='1.5'/>"
                     f"<text x='{x(value):.1f}' y='{height - 16}' text-anchor='middle' "
                     f"fill='{colour}'>{escape(label)} {value:.4g}</text>")
    parts.append(f"<text x='{pad}' y='{height - 3}'>{escape(f'{left:.4g}')}</text>"
                 f"<text x='{pad + plot_w}' y='{height - 3}' text-anchor='end'>"
                 f"{escape(f'{right:.4g} {units}')}</text></svg>")
    return "".join(parts)
