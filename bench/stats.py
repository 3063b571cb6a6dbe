"""Statistics across archived boards: per measurement, its distribution against the limits, mean,
standard deviation, Cpk and yield, computed with SQL on the archive's index (bench.index_db).

    >>> s = Summary.of("vbat", "V", 3.0, 4.0, [3.4, 3.5, 3.6], passed=3)
    >>> round(s.mean, 2), round(s.cpk, 2), s.yield_pct
    (3.5, 1.67, 100.0)

Each board counts once, with its latest archived run, so a board retested five times does not
weigh five times. Only numeric measurements are summarized; the page is static HTML and SVG.
The standard deviation is taken around the mean in a second pass (not from a sum of squares),
so a 3.3 V rail that varies by microvolts keeps its digits.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sqlite3
import statistics
from dataclasses import dataclass
from pathlib import Path

from bench import index_db
from bench.pages import render, write_atomic
from bench.station import DEFAULT_PROFILE
from bench.svgplot import histogram_svg
from bench.visible import visible

STATISTICS = "statistics.html"
BINS = 20


@dataclass(frozen=True)
class Summary:
    name: str  # "<step> :: <measurement>"
    units: str
    low: float | None
    high: float | None
    n: int
    mean: float
    stdev: float
    minimum: float
    maximum: float
    passed: int
    counts: tuple[int, ...] = ()  # histogram over [left, right]
    left: float = 0.0
    right: float = 1.0
    marginal: int = 0  # passes within the instrument's resolution of a limit

    @classmethod
    def of(cls, name: str, units: str, low: float | None, high: float | None,
           values: list[float], passed: int) -> Summary:
        """A summary of values in memory (the reference the SQL one is tested against)."""
        stdev = statistics.stdev(values) if len(values) > 1 else 0.0
        return cls(name, units, low, high, len(values), statistics.fmean(values), stdev,
                   min(values), max(values), passed)

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
        return 100.0 * self.passed / self.n

    @property
    def svg(self) -> str:
        """Bars of the distribution, with the limits near the data in red and the mean in blue."""
        marks = [(v, "#c62828", "limit") for v in (self.low, self.high)
                 if v is not None and self.left <= v <= self.right]
        return histogram_svg(visible(self.name), visible(self.units), self.counts, self.left,
                             self.right,
                             [*marks, (self.mean, "#1a237e", "mean")])


def _bounds(low: float | None, high: float | None, lo: float, hi: float) -> tuple[float, float]:
    """Histogram range: the data, and the limits when near (far ones would squash the bars)."""
    span = (hi - lo) or abs(hi) or 1.0
    shown = [v for v in (low, high) if v is not None and lo - 2 * span <= v <= hi + 2 * span]
    return min([lo, *shown]) - span * 0.05, max([hi, *shown]) + span * 0.05


# A series is keyed on the measurement's spec id (bench.index_db), and shown by its label: the
# latest display name seen, which may change without splitting the series. The queries are
# SQLite's and PostgreSQL's alike (bench.index_db translates placeholders, hints and the cast).
FIRST_PASS = """
SELECT m.series, s.step, COALESCE(s.label, s.name), s.units, s.low, s.high, COUNT(*),
       AVG(m.value), MIN(m.value), MAX(m.value), SUM(m.passed)
FROM measurements m INDEXED BY measurements_latest JOIN series s ON s.id = m.series
WHERE m.latest = 1 GROUP BY m.series, s.id
"""
MARGINAL = """
SELECT series, COUNT(*) FROM measurements INDEXED BY measurements_marginal
WHERE latest = 1 AND marginal = 1 GROUP BY series
"""
SECOND_PASS = """
SELECT series, CASE WHEN bin < ? THEN bin ELSE ? END, COUNT(*), SUM(square)
FROM (SELECT m.series AS series, CAST((m.value - h.lo) / (h.hi - h.lo) * ? AS INT) AS bin,
             (m.value - h.mean) * (m.value - h.mean) AS square
      FROM measurements m INDEXED BY measurements_latest JOIN shape h ON h.series = m.series
      WHERE m.latest = 1) AS binned
GROUP BY 1, 2
"""


def collect(db: sqlite3.Connection) -> tuple[list[Summary], int]:
    """Summaries of every numeric measurement over each board's latest run; and the board count.
    Two passes over the latest measurements, both read from one covering index: the first gives
    count, mean, extremes and passes; the second the histogram and the squares around the mean."""
    boards = db.execute(f"SELECT COUNT(DISTINCT {index_db.BOARD}) FROM runs "
                        "INDEXED BY runs_board_key").fetchone()[0]
    shapes = {}
    for series, step, name, units, low, high, n, mean, lo, hi, passed in db.execute(FIRST_PASS):
        left, right = _bounds(low, high, lo, hi)
        shapes[series] = (f"{step} :: {name}", units, low, high, n, mean, lo, hi, passed, left,
                          right)
    db.execute("CREATE TEMP TABLE IF NOT EXISTS shape (series INTEGER PRIMARY KEY, "
               "mean DOUBLE PRECISION, lo DOUBLE PRECISION, hi DOUBLE PRECISION)")
    db.execute("DELETE FROM shape")
    db.executemany("INSERT INTO shape VALUES (?, ?, ?, ?)",
                   [(series, v[5], v[9], v[10]) for series, v in shapes.items()])
    counts = {series: [0] * BINS for series in shapes}
    squares = dict.fromkeys(shapes, 0.0)
    for series, index, count, spread in db.execute(SECOND_PASS, (BINS, BINS - 1, BINS)):
        counts[series][index] = count
        squares[series] += spread
    marginal = dict(db.execute(MARGINAL).fetchall())
    summaries = []
    for series, (name, units, low, high, n, mean, lo, hi, passed, left, right) in shapes.items():
        stdev = math.sqrt(squares[series] / (n - 1)) if n > 1 else 0.0
        summaries.append(Summary(name, units, low, high, n, mean, stdev, lo, hi, passed,
                                 tuple(counts[series]), left, right, marginal.get(series, 0)))
    return sorted(summaries, key=lambda s: s.name), boards


def write_statistics(root: Path, db: sqlite3.Connection | None = None) -> Path:
    """Write `root/statistics.html` from the archive's index."""
    db = db or index_db.connect(root)
    summaries, boards = collect(db)
    computed = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return write_atomic(root / STATISTICS, render(
        "statistics.html", title="citebench statistics", summaries=summaries, boards=boards,
        runs=index_db.count(db), computed=computed))


def demo_profile(folder: Path, seed: int, serial: str, base: Path = DEFAULT_PROFILE) -> Path:
    """A copy of the emulated station profile whose board has its own seed and serial number."""
    from bench.archive import safe_name

    text = base.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(seed|board_serial)\s*=.*\n", "", text)
    text, found = re.subn(r"(?m)^\[emulator\]\n",
                          f'[emulator]\nseed = {seed}\nboard_serial = "{serial}"\n', text)
    if found != 1:
        raise ValueError(f"{base}: no [emulator] section to derive a demo board from")
    target = folder / f"{safe_name(serial)}.toml"
    target.write_text(text, encoding="utf-8")
    return target
