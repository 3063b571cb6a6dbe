"""Measurements as data: value, units and numeric limits, judged the moment they are taken.

    >>> m = Measurement.judge("ping rtt", 0.004, units="s", high=0.050)
    >>> m.outcome.name, round(m.margin, 3)
    ('PASS', 0.046)
    >>> vbat = Limit("vbat", "battery voltage", "V", low=3.0, high=4.2, high_strict=True,
    ...              resolution=0.01)
    >>> m = Measurement.of(vbat, 4.195)
    >>> m.outcome.name, m.marginal, m.limits_text()
    ('PASS', True, '3 ≤ x < 4.2 V')

Limits are numbers, never text like "1 <= x <= 5", so the report, the statistics page and a JSON
consumer all read the same fields. Each side of a limit is inclusive unless declared strict. A
pass closer to a limit than the instrument's stated resolution (or accuracy) is MARGINAL: still a
pass, but flagged in the record, the report and the statistics, since the instrument cannot tell
it from a fail (the guard band a certification lab asks for). A measurement declared in a kit's
product spec carries the spec's stable `id`: statistics and the defect matrix key on it, so the
display name can change without splitting a measurement's history. A step whose measurement
fails is failed by the plugin after the test body ran, so every measurement of the step is still
taken and recorded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
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
class Limit:
    """A measurement as a product spec declares it: stable id, display name, units and limits.

    `low_strict`/`high_strict` make that side exclusive (`<` rather than `≤`); `resolution` is
    what the instrument can resolve (or its stated accuracy) near the limits, so a pass within it
    of a limit is flagged marginal.
    """

    id: str
    name: str
    units: str = ""
    low: float | None = None
    high: float | None = None
    low_strict: bool = False
    high_strict: bool = False
    nominal: float | str | None = None
    resolution: float | None = None

    def at(self, condition: str) -> Limit:
        """The same limit taken under one of several conditions (a supply voltage): its own id
        and name, so each condition keeps its own statistics."""
        return replace(self, id=f"{self.id}@{condition}", name=f"{self.name} at {condition}")


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
    id: str | None = None  # the stable id from the product spec; None for an undeclared one
    low_strict: bool = False  # low < x rather than low <= x
    high_strict: bool = False
    resolution: float | None = None  # the instrument's resolution or accuracy at the value
    marginal: bool = False  # passed by less than `resolution`: the instrument cannot tell

    @classmethod
    def of(cls, limit: Limit, value: float | str | None, **overrides) -> Measurement:
        """`value` judged against a spec's `limit`; `overrides` (a driver's `resolution`) win."""
        declared = {f.name: getattr(limit, f.name) for f in fields(limit)}
        return cls.judge(value=value, **{**declared, **overrides})

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
        low_strict: bool = False,
        high_strict: bool = False,
        resolution: float | None = None,
        id: str | None = None,
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
        if comparison is Comparison.GTLT:
            low_strict = high_strict = True
        passed, margin = _compare(comparison, value, low, high, nominal, low_strict, high_strict)
        marginal = (passed and margin is not None and resolution is not None
                    and comparison is not Comparison.EQ and margin < resolution)
        return cls(name, value, units, low, high, nominal, comparison,
                   Outcome.PASS if passed else Outcome.FAIL, margin, id, low_strict, high_strict,
                   resolution, marginal)

    def limits_text(self) -> str:
        """Human-readable limits for a report cell, derived from the numbers."""
        unit = f" {self.units}" if self.units else ""
        if self.comparison is Comparison.EQ:
            return f"x = {self.nominal}{unit}"
        if self.comparison is Comparison.LOG:
            return "(logged)"
        strict = self.comparison is Comparison.GTLT
        below = "<" if self.low_strict or strict else "≤"
        above = "<" if self.high_strict or strict else "≤"
        if self.comparison is Comparison.GE:
            sign = ">" if below == "<" else "≥"
            return "" if self.low is None else f"x {sign} {self.low:g}{unit}"
        if self.high is None or (self.comparison is not Comparison.LE and self.low is None):
            return ""
        low = f"{self.low:g} {below} " if self.comparison is not Comparison.LE else ""
        return f"{low}x {above} {self.high:g}{unit}"

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}  # flat: no asdict deep copy
        data["comparison"] = self.comparison.value
        data["outcome"] = self.outcome.name.lower()
        return data


def _compare(
    comparison: Comparison, value: float | str | None, low: float | None, high: float | None,
    nominal: float | str | None, low_strict: bool, high_strict: bool,
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
    sides = []  # (margin, strict) per judged side
    if comparison in (Comparison.GELE, Comparison.GTLT, Comparison.GE):
        if low is None:
            raise ValueError(f"comparison {comparison} needs a low limit")
        sides.append((value - low, low_strict))
    if comparison in (Comparison.GELE, Comparison.GTLT, Comparison.LE):
        if high is None:
            raise ValueError(f"comparison {comparison} needs a high limit")
        sides.append((high - value, high_strict))
    passed = all(margin > 0 if strict else margin >= 0 for margin, strict in sides)
    return passed, min(margin for margin, _ in sides)


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

    def __call__(self, what: str | Limit, value: float | str | None, **limits) -> Measurement:
        """`measure("rtt", 0.004, units="s", high=0.05)`, or `measure(spec.limit("rtt"), 0.004)`
        for a measurement the product spec declares (`limits` then add a driver's resolution)."""
        measurement = (Measurement.of(what, value, **limits) if isinstance(what, Limit)
                       else Measurement.judge(what, value, **limits))
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
