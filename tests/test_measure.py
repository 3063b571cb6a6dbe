"""Measurements: numeric limits, the comparison implied by them, outcome and margin."""

import math

import pytest

from bench.measure import Comparison, Limit, Measurement, Outcome, StepRecorder


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
                    "margin": pytest.approx(0.1), "id": None, "low_strict": False,
                    "high_strict": False, "resolution": None, "marginal": False}


def test_outcomes_are_ordered_worst_last() -> None:
    assert Outcome.PASS < Outcome.SKIP < Outcome.FAIL < Outcome.ERROR < Outcome.ABORTED


def test_recorder_keeps_every_measurement_and_lists_failures() -> None:
    record = StepRecorder()
    record("a", 1, high=0)
    record("b", 1, high=2)
    assert [m.name for m in record.measurements] == ["a", "b"]
    assert [m.name for m in record.failed] == ["a"]


@pytest.mark.parametrize(("value", "sides", "outcome", "text"), [
    (3.2, {}, Outcome.PASS, "3.2 ≤ x ≤ 3.4 V"),
    (3.2, {"low_strict": True}, Outcome.FAIL, "3.2 < x ≤ 3.4 V"),
    (3.4, {"low_strict": True}, Outcome.PASS, "3.2 < x ≤ 3.4 V"),
    (3.4, {"high_strict": True}, Outcome.FAIL, "3.2 ≤ x < 3.4 V"),
    (3.2, {"high_strict": True}, Outcome.PASS, "3.2 ≤ x < 3.4 V"),
])
def test_each_side_of_a_limit_can_be_strict(value, sides, outcome, text) -> None:
    m = Measurement.judge("vcc", value, units="V", low=3.2, high=3.4, **sides)
    assert (m.outcome, m.limits_text()) == (outcome, text)
    assert {k: m.to_dict()[k] for k in sides} == sides  # the record keeps the strictness


def test_one_sided_strict_limits_read_with_the_strict_sign() -> None:
    assert Measurement.judge("i", 0.0, high=0.0, high_strict=True).outcome is Outcome.FAIL
    assert Measurement.judge("i", 0.0, high=1.0, high_strict=True).limits_text() == "x < 1"
    assert Measurement.judge("n", 5, low=4, low_strict=True).limits_text() == "x > 4"
    assert Measurement.judge("n", 5, low=4).limits_text() == "x ≥ 4"


@pytest.mark.parametrize(("value", "marginal"), [
    (3.395, True),  # 5 mV from the limit, 10 mV resolution: the meter cannot tell
    (3.4, True),  # on the (inclusive) limit: margin 0
    (3.3, False),
    (3.205, True),
    (3.385, False),  # more than one resolution step away is resolved
])
def test_a_pass_within_the_resolution_of_a_limit_is_marginal(value, marginal) -> None:
    m = Measurement.judge("vcc", value, units="V", low=3.2, high=3.4, resolution=0.01)
    assert m.outcome is Outcome.PASS  # the verdict is still a pass
    assert m.marginal is marginal and m.to_dict()["marginal"] is marginal


def test_a_failure_and_a_measurement_without_resolution_are_never_marginal() -> None:
    assert not Measurement.judge("vcc", 3.405, low=3.2, high=3.4, resolution=0.01).marginal
    assert not Measurement.judge("vcc", 3.4, low=3.2, high=3.4).marginal
    assert not Measurement.judge("n", 3, nominal=3, resolution=1).marginal


def test_a_spec_limit_gives_its_id_name_and_sides_and_a_driver_its_resolution() -> None:
    limit = Limit("idle_current", "idle current", "A", low=1e-3, high=4e-3, high_strict=True,
                  resolution=1e-3)
    record = StepRecorder()
    m = record(limit.at("3.3 V"), 3.5e-3, resolution=0.25e-3)
    assert (m.id, m.name, m.units) == ("idle_current@3.3 V", "idle current at 3.3 V", "A")
    assert (m.high_strict, m.resolution, m.outcome, m.marginal) == (
        True, 0.25e-3, Outcome.PASS, False)
    assert record(limit, 3.5e-3).marginal  # the spec's 1 mA resolution
