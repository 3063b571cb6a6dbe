"""Statistics across archived boards: per measurement, its distribution against the limits, mean,
standard deviation, Cpk and yield, as the archive's `statistics.html`.

    >>> s = Summary("vbat", "V", 3.0, 4.0, [3.4, 3.5, 3.6], passed=3)
    >>> round(s.mean, 2), round(s.cpk, 2), s.yield_pct
    (3.5, 1.67, 100.0)

Each board counts once, with its latest archived run, so a board retested five times does not
weigh five times. Only numeric measurements are summarized; the page is static HTML and SVG.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from html import escape
from pathlib import Path

from bench.archive import RECORD, find_runs, html_page, safe_name
from bench.record import load_record
from bench.station import DEFAULT_PROFILE

STATISTICS = "statistics.html"
BINS = 20


@dataclass(frozen=True)
class Summary:
    name: str  # "<step> :: <measurement>"
    units: str
    low: float | None
    high: float | None
    values: list[float]
    passed: int

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def stdev(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    @property
    def cpk(self) -> float | None:
        """Process capability to the nearer limit, in units of 3 σ; None without σ or limits."""
        sides = [self.high - self.mean] if self.high is not None else []
        sides += [self.mean - self.low] if self.low is not None else []
        if not sides or self.stdev == 0:
            return None
        return min(sides) / (3 * self.stdev)

    @property
    def yield_pct(self) -> float:
        return 100.0 * self.passed / len(self.values)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def collect(root: Path) -> tuple[list[Summary], int]:
    """Summaries of every numeric measurement over each board's latest run; and the board count."""
    latest: dict[str, tuple[float, Path]] = {}
    for run in find_runs(root):
        view = load_record(run / RECORD)
        serial = str(view.dut.get("unique_id", view.dut.get("serial", run.parent.name)))
        started = view.start.get("time", 0.0)
        if serial not in latest or started >= latest[serial][0]:
            latest[serial] = (started, run)
    found: dict[str, dict] = {}
    for _, run in sorted(latest.values()):
        for step in load_record(run / RECORD).steps:
            for m in step["measurements"]:
                value = _number(m["value"])
                if value is None or m["comparison"] == "EQ":
                    continue
                entry = found.setdefault(f"{step['name']} :: {m['name']}", {
                    "units": m["units"], "low": m["low"], "high": m["high"], "values": [],
                    "passed": 0})
                entry["values"].append(value)
                entry["passed"] += m["outcome"] == "pass"
    summaries = [Summary(name, e["units"], _number(e["low"]), _number(e["high"]),
                            e["values"], e["passed"]) for name, e in sorted(found.items())]
    return summaries, len(latest)


def histogram_svg(summary: Summary, width: int = 420, height: int = 150) -> str:
    """Bars of the values' distribution, with the limits in red and the mean in blue."""
    marks = [v for v in (summary.low, summary.high) if v is not None]
    lo, hi = min(summary.values), max(summary.values)
    span = (hi - lo) or abs(hi) or 1.0
    # Limits far from the data would squash the bars to one column: show them only when near.
    shown = [v for v in marks if lo - 2 * span <= v <= hi + 2 * span]
    left, right = min([lo, *shown]) - span * 0.05, max([hi, *shown]) + span * 0.05
    counts = [0] * BINS
    for value in summary.values:
        counts[min(BINS - 1, int((value - left) / (right - left) * BINS))] += 1
    pad, plot_w, plot_h = 30, width - 40, height - 40
    x = lambda v: pad + (v - left) / (right - left) * plot_w  # noqa: E731
    top = max(counts)
    bar_w = plot_w / BINS
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"font-family='sans-serif' font-size='10' role='img'>"
             f"<title>{escape(summary.name)}</title>"]
    for i, count in enumerate(counts):
        h = count / top * plot_h
        parts.append(f"<rect x='{pad + i * bar_w:.1f}' y='{10 + plot_h - h:.1f}' "
                     f"width='{bar_w - 1:.1f}' height='{h:.1f}' fill='#5b8def'/>")
    for value, colour, label in [*((v, "#c62828", "limit") for v in shown),
                                 (summary.mean, "#1a237e", "mean")]:
        parts.append(f"<line x1='{x(value):.1f}' x2='{x(value):.1f}' y1='8' "
                     f"y2='{12 + plot_h}' stroke='{colour}' stroke-width='1.5'/>"
                     f"<text x='{x(value):.1f}' y='{height - 16}' text-anchor='middle' "
                     f"fill='{colour}'>{escape(label)} {value:.4g}</text>")
    parts.append(f"<text x='{pad}' y='{height - 3}'>{escape(f'{left:.4g}')}</text>"
                 f"<text x='{pad + plot_w}' y='{height - 3}' text-anchor='end'>"
                 f"{escape(f'{right:.4g} {summary.units}')}</text></svg>")
    return "".join(parts)


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def render_statistics(summaries: list[Summary], boards: int) -> str:
    sections = [f"<h1>Statistics across boards</h1><p>{boards} board(s), each with its latest "
                "archived run. <a href='index.html'>All runs</a></p>"]
    head = ("<tr><th>boards</th><th>mean</th><th>std dev</th><th>min</th><th>max</th>"
            "<th>low</th><th>high</th><th>Cpk</th><th>yield</th></tr>")
    for s in summaries:
        row = "".join(f"<td>{c}</td>" for c in (
            len(s.values), _cell(s.mean), _cell(s.stdev), _cell(min(s.values)),
            _cell(max(s.values)), _cell(s.low), _cell(s.high), _cell(s.cpk),
            f"{s.yield_pct:.1f} %"))
        units = f" ({escape(s.units)})" if s.units else ""
        sections.append(f"<h2>{escape(s.name)}{units}</h2><table>{head}<tr>{row}</tr></table>"
                        f"{histogram_svg(s)}")
    return html_page("citebench statistics", "".join(sections))


def write_statistics(root: Path) -> Path:
    """Write `root/statistics.html` from the archived runs under `root`."""
    target = root / STATISTICS
    target.write_text(render_statistics(*collect(root)), encoding="utf-8")
    return target


def demo_profile(folder: Path, seed: int, serial: str, base: Path = DEFAULT_PROFILE) -> Path:
    """A copy of the emulated station profile whose board has its own seed and serial number."""
    text = base.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(seed|board_serial)\s*=.*\n", "", text)
    text, found = re.subn(r"(?m)^\[emulator\]\n",
                          f'[emulator]\nseed = {seed}\nboard_serial = "{serial}"\n', text)
    if found != 1:
        raise ValueError(f"{base}: no [emulator] section to derive a demo board from")
    target = folder / f"{safe_name(serial)}.toml"
    target.write_text(text, encoding="utf-8")
    return target
