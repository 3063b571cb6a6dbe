"""Measurements as data: value, units and numeric limits, judged the moment they are taken.

    >>> m = Measurement.judge("ping rtt", 0.004, units="s", high=0.050)
    >>> m.outcome.name, round(m.margin, 3)
    ('PASS', 0.046)

Limits are numbers, never text like "1 <= x <= 5", so the report, the statistics page and a JSON
consumer all read the same fields. A step whose measurement fails is failed by the plugin after
the test body ran, so every measurement of the step is still taken and recorded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from enum import IntEnum, StrEnum

import pytest


class Outcome(IntEnum):
    """Verdicts in order of severity: the worst of a run's steps is the run's verdict."""

    PASS = 0
    SKIP = 1
    FAIL = 2
    ERROR = 3
    ABORTED = 4


class Comparison(StrEnum):
    """How a value is compared with its limits (the names test stations have used for decades)."""

    GELE = "GELE"  # low <= x <= high
    GTLT = "GTLT"  # low < x < high
    GE = "GE"  # x >= low
    LE = "LE"  # x <= high
    EQ = "EQ"  # x == nominal
    LOG = "LOG"  # recorded, not judged


@dataclass(frozen=True)
class Measurement:
    name: str
    value: float | str | None
    units: str = ""
    low: float | None = None
    high: float | None = None
    nominal: float | str | None = None
    comparison: Comparison = Comparison.LOG
    outcome: Outcome = Outcome.PASS
    margin: float | None = None  # distance to the nearest limit, negative when outside

    @classmethod
    def judge(
        cls,
        name: str,
        value: float | str | None,
        *,
        units: str = "",
        low: float | None = None,
        high: float | None = None,
        nominal: float | str | None = None,
        comparison: Comparison | str | None = None,
    ) -> Measurement:
        """Build a measurement and its outcome; the comparison follows from the limits given."""
        if comparison is None:
            if low is not None and high is not None:
                comparison = Comparison.GELE
            elif low is not None:
                comparison = Comparison.GE
            elif high is not None:
                comparison = Comparison.LE
            elif nominal is not None:
                comparison = Comparison.EQ
            else:
                comparison = Comparison.LOG
        comparison = Comparison(comparison)
        passed, margin = _compare(comparison, value, low, high, nominal)
        return cls(name, value, units, low, high, nominal, comparison,
                   Outcome.PASS if passed else Outcome.FAIL, margin)

    def limits_text(self) -> str:
        """Human-readable limits for a report cell, derived from the numbers."""
        unit = f" {self.units}" if self.units else ""
        return {
            Comparison.GELE: f"{self.low:g} ≤ x ≤ {self.high:g}{unit}" if self.low is not None
            and self.high is not None else "",
            Comparison.GTLT: f"{self.low:g} < x < {self.high:g}{unit}" if self.low is not None
            and self.high is not None else "",
            Comparison.GE: f"x ≥ {self.low:g}{unit}" if self.low is not None else "",
            Comparison.LE: f"x ≤ {self.high:g}{unit}" if self.high is not None else "",
            Comparison.EQ: f"x = {self.nominal}{unit}",
            Comparison.LOG: "(logged)",
        }[self.comparison]

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}  # flat: no asdict deep copy
        data["comparison"] = self.comparison.value
        data["outcome"] = self.outcome.name.lower()
        return data


def _compare(
    comparison: Comparison, value: float | str | None, low: float | None, high: float | None,
    nominal: float | str | None,
) -> tuple[bool, float | None]:
    if comparison is Comparison.LOG:
        return True, None
    if comparison is Comparison.EQ:
        if _is_number(value) and _is_number(nominal):
            return value == nominal, -abs(value - nominal)
        # True == 1 in Python: a flag only equals a flag
        return value == nominal and isinstance(value, bool) == isinstance(nominal, bool), None
    if not _is_number(value) or math.isnan(value):
        return False, None
    margins = []
    if comparison in (Comparison.GELE, Comparison.GTLT, Comparison.GE):
        if low is None:
            raise ValueError(f"comparison {comparison} needs a low limit")
        margins.append(value - low)
    if comparison in (Comparison.GELE, Comparison.GTLT, Comparison.LE):
        if high is None:
            raise ValueError(f"comparison {comparison} needs a high limit")
        margins.append(high - value)
    margin = min(margins)
    passed = margin > 0 if comparison is Comparison.GTLT else margin >= 0
    return passed, margin


def _is_number(value: object) -> bool:
    """Ints and floats, but not booleans (a bool is an int to Python, never to a limit)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class StepRecorder:
    """The `measure` fixture: takes the measurements and attachments of one test step."""

    measurements: list[Measurement] = field(default_factory=list)
    # name, media type, content (text, or bytes for binary data such as raw capture samples)
    attachments: list[tuple[str, str, str | bytes]] = field(default_factory=list)
    # faults of the bench seen during the step (a port re-enumerated, a link re-established):
    # a step that fails with one ends in ERROR, since what it measured across the fault is not
    # the board's doing
    bench_faults: list[str] = field(default_factory=list)

    def __call__(self, name: str, value: float | str | None, **limits) -> Measurement:
        measurement = Measurement.judge(name, value, **limits)
        self.measurements.append(measurement)
        return measurement

    def attach(self, name: str, content: str | bytes, media_type: str = "text/plain") -> None:
        self.attachments.append((name, media_type, content))

    def plot(self, name: str, times: Sequence[float], values: Sequence[float], *, unit: str,
             title: str = "", log: bool = False,
             marks: Sequence[tuple[float, str]] = ()) -> None:
        """Attach `values` against `times` (s) as an SVG plot; plans never draw pages."""
        from bench.svgplot import waveform_svg

        self.attach(name, waveform_svg(times, values, title=title or name, unit=unit, log=log,
                                       marks=marks), "image/svg+xml")

    @property
    def failed(self) -> list[Measurement]:
        return [m for m in self.measurements if m.outcome is Outcome.FAIL]


# Where the plugin keeps each test's StepRecorder (fixtures attach logs to it).
RECORDER = pytest.StashKey[StepRecorder]()
