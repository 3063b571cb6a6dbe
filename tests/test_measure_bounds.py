"""Every comparison of bench/measure.py at its edges: a verdict is only as good as its `<=`.

Each limit is tested on it, a hair inside and a hair outside, on both sides where both exist;
values that are not numbers (booleans, None, text, NaN) never pass a numeric limit.
"""

import math

import pytest

from bench.measure import Comparison, Measurement, Outcome, StepRecorder

EPS = 1e-9
PASS, FAIL = Outcome.PASS, Outcome.FAIL


def judge(value, **limits) -> Measurement:
    return Measurement.judge("x", value, units="V", **limits)


@pytest.mark.parametrize(("value", "outcome"), [
    (1.0, PASS), (1.0 - EPS, FAIL), (1.0 + EPS, PASS),
    (2.0, PASS), (2.0 + EPS, FAIL), (2.0 - EPS, PASS),
    (1.5, PASS), (-1.5, FAIL), (3, FAIL),
])
def test_gele_includes_both_edges(value: float, outcome: Outcome) -> None:
    m = judge(value, low=1.0, high=2.0)
    assert (m.comparison, m.outcome) == (Comparison.GELE, outcome)


@pytest.mark.parametrize(("value", "outcome"), [
    (1.0, FAIL), (1.0 - EPS, FAIL), (1.0 + EPS, PASS),
    (2.0, FAIL), (2.0 + EPS, FAIL), (2.0 - EPS, PASS),
    (1.5, PASS), (0.0, FAIL), (-5, FAIL), (5, FAIL),
])
def test_gtlt_excludes_both_edges(value: float, outcome: Outcome) -> None:
    m = judge(value, low=1.0, high=2.0, comparison="GTLT")
    assert (m.comparison, m.outcome) == (Comparison.GTLT, outcome)


@pytest.mark.parametrize(("value", "outcome"), [(3, PASS), (3 - EPS, FAIL), (1e9, PASS)])
def test_ge_includes_its_edge_and_has_no_ceiling(value: float, outcome: Outcome) -> None:
    m = judge(value, low=3)
    assert (m.comparison, m.outcome) == (Comparison.GE, outcome)


@pytest.mark.parametrize(("value", "outcome"), [(3, PASS), (3 + EPS, FAIL), (-1e9, PASS)])
def test_le_includes_its_edge_and_has_no_floor(value: float, outcome: Outcome) -> None:
    m = judge(value, high=3)
    assert (m.comparison, m.outcome) == (Comparison.LE, outcome)


def test_an_explicit_ge_or_le_ignores_the_other_limit() -> None:
    assert judge(10, low=1, high=2, comparison="GE").outcome is PASS
    assert judge(-10, low=1, high=2, comparison="LE").outcome is PASS
    assert judge(0, low=1, high=2, comparison="GE").outcome is FAIL
    assert judge(3, low=1, high=2, comparison="LE").outcome is FAIL


@pytest.mark.parametrize(("value", "limits", "margin"), [
    (1.25, {"low": 1.0, "high": 2.0}, 0.25),  # nearer the low limit
    (1.75, {"low": 1.0, "high": 2.0}, 0.25),  # nearer the high limit
    (0.5, {"low": 1.0, "high": 2.0}, -0.5),
    (2.5, {"low": 1.0, "high": 2.0}, -0.5),
    (1.0, {"low": 1.0, "high": 2.0, "comparison": "GTLT"}, 0.0),
    (4.0, {"low": 3.0}, 1.0),
    (2.0, {"low": 3.0}, -1.0),
    (2.0, {"high": 3.0}, 1.0),
    (4.0, {"high": 3.0}, -1.0),
])
def test_margin_is_the_signed_distance_to_the_nearest_limit(value, limits, margin) -> None:
    assert judge(value, **limits).margin == pytest.approx(margin)


@pytest.mark.parametrize("comparison", ["GELE", "GTLT", "GE", "LE"])
@pytest.mark.parametrize("value", [True, False, None, "3.3", float("nan"), [1.5]])
def test_values_that_are_not_numbers_never_pass_a_numeric_limit(comparison: str, value) -> None:
    """True == 1 in Python; a board reporting True for a voltage is not 1 V."""
    m = judge(value, low=0, high=2, comparison=comparison)
    assert (m.outcome, m.margin) == (FAIL, None)


def test_infinity_fails_a_limit_on_its_side_only() -> None:
    assert judge(math.inf, low=0, high=2).outcome is FAIL
    assert judge(math.inf, low=0).outcome is PASS
    assert judge(-math.inf, high=0).outcome is PASS
    assert judge(-math.inf, low=0, high=2).margin == -math.inf


def test_integers_are_numbers() -> None:
    m = judge(2, low=1, high=3)
    assert (m.outcome, m.margin) == (PASS, 1)


@pytest.mark.parametrize(("comparison", "limits", "missing"), [
    ("GELE", {"high": 1}, "low"), ("GELE", {"low": 1}, "high"),
    ("GTLT", {"high": 1}, "low"), ("GTLT", {"low": 1}, "high"),
    ("GE", {"high": 1}, "low"), ("LE", {"low": 1}, "high"),
])
def test_a_comparison_without_its_limit_is_a_clear_error(comparison, limits, missing) -> None:
    with pytest.raises(ValueError, match=f"comparison {comparison} needs a {missing} limit"):
        judge(0.5, comparison=comparison, **limits)


def test_an_unknown_comparison_name_is_refused() -> None:
    with pytest.raises(ValueError, match="'BETWEEN'"):
        judge(1, low=0, high=2, comparison="BETWEEN")


@pytest.mark.parametrize(("limits", "comparison"), [
    ({"low": 1, "high": 2}, Comparison.GELE),
    ({"low": 1, "high": 2, "nominal": 1.5}, Comparison.GELE),
    ({"low": 1}, Comparison.GE),
    ({"low": 1, "nominal": 5}, Comparison.GE),
    ({"high": 2}, Comparison.LE),
    ({"high": 2, "nominal": 5}, Comparison.LE),
    ({"nominal": 1.5}, Comparison.EQ),
    ({"low": 0}, Comparison.GE),  # a zero limit is a limit, not an absent one
    ({"high": 0}, Comparison.LE),
    ({"nominal": 0}, Comparison.EQ),
    ({}, Comparison.LOG),
])
def test_the_comparison_follows_from_the_limits_given(limits, comparison) -> None:
    assert judge(1.5, **limits).comparison is comparison


@pytest.mark.parametrize(("value", "nominal", "outcome", "margin"), [
    (3, 3, PASS, 0), (3, 3.0, PASS, 0), (3.0, 3.5, FAIL, -0.5), (4, 3.5, FAIL, -0.5),
    ("1.4.2", "1.4.2", PASS, None), ("1.4.3", "1.4.2", FAIL, None),
    ("3", 3, FAIL, None), (3, "3", FAIL, None), (None, "1.4.2", FAIL, None),
    ("", "1.4.2", FAIL, None),
    (True, True, PASS, None), (False, True, FAIL, None), (True, 1, FAIL, None),
    (1, True, FAIL, None), (0, False, FAIL, None), (False, False, PASS, None),
])
def test_eq_compares_numbers_by_value_and_text_exactly(value, nominal, outcome, margin) -> None:
    m = judge(value, nominal=nominal)
    assert (m.comparison, m.outcome) == (Comparison.EQ, outcome)
    assert m.margin == margin


@pytest.mark.parametrize("value", [None, "anything", math.nan, True, -1e300])
def test_log_records_anything_and_judges_nothing(value) -> None:
    m = judge(value)
    assert (m.comparison, m.outcome, m.margin) == (Comparison.LOG, PASS, None)
    assert judge(value, low=0, high=1, comparison="LOG").outcome is PASS


@pytest.mark.parametrize(("limits", "text"), [
    ({"low": 1, "high": 2}, "1 ≤ x ≤ 2 V"),
    ({"low": 1, "high": 2, "comparison": "GTLT"}, "1 < x < 2 V"),
    ({"low": 0.5}, "x ≥ 0.5 V"),
    ({"high": 1e-5}, "x ≤ 1e-05 V"),
    ({"nominal": "1.4.2"}, "x = 1.4.2 V"),
    ({}, "(logged)"),
])
def test_limits_text_is_derived_from_the_numbers(limits, text) -> None:
    assert judge(1.5, **limits).limits_text() == text


def test_limits_text_without_units_has_no_trailing_space() -> None:
    assert Measurement.judge("n", 1, low=0).limits_text() == "x ≥ 0"


def test_failed_lists_fails_only_in_order() -> None:
    recorder = StepRecorder()
    recorder("a", 5, low=0, high=1)
    recorder("b", 0.5, low=0, high=1)
    recorder("c", True, low=0, high=1)
    recorder("d", "t")
    assert [m.name for m in recorder.failed] == ["a", "c"]
    assert recorder("e", 1, high=1).outcome is PASS


def test_to_dict_names_the_outcome_and_comparison_as_text() -> None:
    data = judge(True, low=0, high=1).to_dict()
    assert (data["outcome"], data["comparison"], data["margin"]) == ("fail", "GELE", None)
    assert judge(0.5, low=0, high=1, comparison="GTLT").to_dict()["outcome"] == "pass"


def test_attach_keeps_name_media_type_and_content() -> None:
    recorder = StepRecorder()
    recorder.attach("log", "text")
    recorder.attach("plot", "<svg/>", "image/svg+xml")
    assert recorder.attachments == [("log", "text/plain", "text"),
                                    ("plot", "image/svg+xml", "<svg/>")]


def test_to_dict_holds_only_base_types() -> None:
    """A JSON consumer or another language reads the record: no enum leaks into it."""
    for m in (judge(1.5, low=1, high=2), judge("1.4.2", nominal="1.4.2"), judge(None)):
        assert {type(v) for v in m.to_dict().values()} <= {str, int, float, bool, type(None)}


def test_plot_attaches_an_svg_titled_by_the_name_unless_given() -> None:
    recorder = StepRecorder()
    recorder.plot("sleep current", [0.0, 1.0], [1e-6, 2e-6], unit="A")
    recorder.plot("x", [0.0, 1.0], [1.0, 2.0], unit="V", title="supply ramp")
    (name, media, svg), (_, _, titled) = recorder.attachments
    assert (name, media) == ("sleep current", "image/svg+xml")
    assert "<title>sleep current</title>" in svg
    assert "<title>supply ramp</title>" in titled
