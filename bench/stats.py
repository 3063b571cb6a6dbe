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
        return histogram_svg(self.name, self.units, self.counts, self.left, self.right,
                             [*marks, (self.mean, "#1a237e", "mean")])


def _bounds(low: float | None, high: float | None, lo: float, hi: float) -> tuple[float, float]:
    """Histogram range: the data, and the limits when near (far ones would squash the bars)."""
    span = (hi - lo) or abs(hi) or 1.0
    shown = [v for v in (low, high) if v is not None and lo - 2 * span <= v <= hi + 2 * span]
    return min([lo, *shown]) - span * 0.05, max([hi, *shown]) + span * 0.05


LATEST = """
CREATE TEMP TABLE IF NOT EXISTS latest (folder TEXT PRIMARY KEY);
DELETE FROM latest;
INSERT INTO latest SELECT folder FROM (
    SELECT folder, MAX(started) FROM runs
    GROUP BY CASE unique_id WHEN '' THEN folder ELSE unique_id END);
CREATE TEMP TABLE IF NOT EXISTS shape (step TEXT, name TEXT, mean REAL, left REAL, right REAL,
                                       PRIMARY KEY (step, name));
DELETE FROM shape;
"""
FIRST_PASS = """
SELECT m.step, m.name, MIN(m.units), MIN(m.low), MAX(m.high), COUNT(*), AVG(m.value),
       MIN(m.value), MAX(m.value), SUM(m.passed)
FROM measurements m JOIN latest USING (folder) GROUP BY m.step, m.name ORDER BY m.step, m.name
"""
SPREAD = """
SELECT s.step, s.name, SUM((m.value - s.mean) * (m.value - s.mean))
FROM measurements m JOIN latest USING (folder) JOIN shape s ON s.step = m.step AND s.name = m.name
GROUP BY s.step, s.name
"""
HISTOGRAM = """
SELECT s.step, s.name, MIN(:bins - 1, CAST((m.value - s.left) / (s.right - s.left) * :bins AS INT)),
       COUNT(*)
FROM measurements m JOIN latest USING (folder) JOIN shape s ON s.step = m.step AND s.name = m.name
GROUP BY 1, 2, 3
"""


def collect(db: sqlite3.Connection) -> tuple[list[Summary], int]:
    """Summaries of every numeric measurement over each board's latest run; and the board count."""
    db.executescript(LATEST)
    boards = db.execute("SELECT COUNT(*) FROM latest").fetchone()[0]
    first = db.execute(FIRST_PASS).fetchall()
    shapes = {}
    for step, name, units, low, high, n, mean, lo, hi, passed in first:
        left, right = _bounds(low, high, lo, hi)
        shapes[step, name] = (units, low, high, n, mean, lo, hi, passed, left, right)
    db.executemany("INSERT INTO shape VALUES (?, ?, ?, ?, ?)",
                   [(s, n, v[4], v[8], v[9]) for (s, n), v in shapes.items()])
    counts = {key: [0] * BINS for key in shapes}
    for step, name, index, count in db.execute(HISTOGRAM, {"bins": BINS}):
        counts[step, name][index] = count
    summaries = []
    for step, name, squares in db.execute(SPREAD):
        units, low, high, n, mean, lo, hi, passed, left, right = shapes[step, name]
        summaries.append(Summary(f"{step} :: {name}", units, low, high, n, mean,
                                 math.sqrt(squares / (n - 1)) if n > 1 else 0.0, lo, hi, passed,
                                 tuple(counts[step, name]), left, right))
    return sorted(summaries, key=lambda s: s.name), boards


def write_statistics(root: Path, db: sqlite3.Connection | None = None) -> Path:
    """Write `root/statistics.html` from the archive's index."""
    db = db or index_db.connect(root)
    summaries, boards = collect(db)
    return write_atomic(root / STATISTICS, render("statistics.html", title="citebench statistics",
                                                  summaries=summaries, boards=boards))


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
