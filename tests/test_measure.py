"""Measurements: numeric limits, the comparison implied by them, outcome and margin."""

import math

import pytest

from bench.measure import Comparison, Measurement, Outcome, StepRecorder


@pytest.mark.parametrize(("value", "limits", "comparison", "outcome", "margin"), [
    (3.3, {"low": 3.2, "high": 3.4}, Comparison.GELE, Outcome.PASS, 0.1),
    (3.5, {"low": 3.2, "high": 3.4}, Comparison.GELE, Outcome.FAIL, -0.1),
    (3.4, {"low": 3.2, "high": 3.4}, Comparison.GELE, Outcome.PASS, 0.0),
    (3.4, {"low": 3.2, "high": 3.4, "comparison": "GTLT"}, Comparison.GTLT, Outcome.FAIL, 0.0),
    (5e-6, {"high": 1e-5}, Comparison.LE, Outcome.PASS, 5e-6),
    (2, {"low": 3}, Comparison.GE, Outcome.FAIL, -1),
    ("1.4.2", {"nominal": "1.4.2"}, Comparison.EQ, Outcome.PASS, None),
    ("1.3.9", {"nominal": "1.4.2"}, Comparison.EQ, Outcome.FAIL, None),
    (float("nan"), {"low": 0, "high": 1}, Comparison.GELE, Outcome.FAIL, None),
    ("text", {}, Comparison.LOG, Outcome.PASS, None),
])
def test_judge(value, limits, comparison, outcome, margin) -> None:
    m = Measurement.judge("x", value, units="V", **limits)
    assert (m.comparison, m.outcome) == (comparison, outcome)
    assert m.margin == margin or math.isclose(m.margin, margin, abs_tol=1e-12)


def test_limits_are_numbers_in_the_dict_form() -> None:
    data = Measurement.judge("vcc", 3.3, units="V", low=3.2, high=3.4, nominal=3.3).to_dict()
    assert data == {"name": "vcc", "value": 3.3, "units": "V", "low": 3.2, "high": 3.4,
                    "nominal": 3.3, "comparison": "GELE", "outcome": "pass",
                    "margin": pytest.approx(0.1)}


def test_outcomes_are_ordered_worst_last() -> None:
    assert Outcome.PASS < Outcome.SKIP < Outcome.FAIL < Outcome.ERROR < Outcome.ABORTED


def test_recorder_keeps_every_measurement_and_lists_failures() -> None:
    record = StepRecorder()
    record("a", 1, high=0)
    record("b", 1, high=2)
    assert [m.name for m in record.measurements] == ["a", "b"]
    assert [m.name for m in record.failed] == ["a"]
