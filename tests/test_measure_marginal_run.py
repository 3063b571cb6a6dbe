"""A plan run records the resolution the supply's driver states with its current reading, and a
pass within it of a limit as marginal: still a pass, flagged in the record and the report."""

from __future__ import annotations

from pathlib import Path

from bench.pages import render_report
from bench.record import load_record
from drivers.psu_e36300 import E36300
from tests.plan_runner import run_plan

STEP = "testplans/ws100/test_ble.py::test_mode_write_changes_behaviour"


def current_in_active(tmp_path: Path, amps: float) -> dict:
    outcomes = run_plan([STEP], [], tmp_path, knobs={"power.active_current_a": amps,
                                                      "power.radio_burst_a": 0.0})
    assert outcomes == {STEP: "passed"}
    (step,) = load_record(tmp_path / "record.jsonl").steps
    (m,) = [m for m in step["measurements"] if m["id"] == "current_in_active"]
    return m


def test_a_reading_within_the_supply_resolution_of_a_limit_is_marginal(tmp_path: Path) -> None:
    m = current_in_active(tmp_path, 5.1e-3)  # 0.1 mA over 5 mA, read in 0.25 mA steps
    assert m["resolution"] == E36300.readback_resolution_a  # the emulated station's E36312A
    assert (m["outcome"], m["marginal"]) == ("pass", True)
    page = render_report(load_record(tmp_path / "record.jsonl"))
    assert "Marginal measurements" in page and "PASS MARGINAL" in page


def test_a_reading_clear_of_the_limits_is_not(tmp_path: Path) -> None:
    m = current_in_active(tmp_path, 12e-3)
    assert (m["outcome"], m["marginal"]) == ("pass", False)
