"""Each defect of the emulated tracker fails the plan, and the measurement, that should catch it;
the healthy tracker passes every plan of its kit.

The plans run in subprocesses against the tracker's emulated station (a real pty to the board,
pyvisa-py to the SCPI supply, bleak on Bumble to its NUS radio), two at a time; each run's
record says which measurement failed.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fixtures.tracker import KIT
from tests.plan_runner import run_plan

PLANS = "testplans/tracker"
IDENTIFY, GNSS, REPORTING, MOTION, POWER, NUS, ACCEL, RESET, DFU = (
    f"{PLANS}/test_{name}.py" for name in ("identify", "gnss", "reporting", "motion", "power",
                                           "nus", "accelerometer", "factory_reset", "dfu"))
# defect -> plans run, and {failing test: the failed measurement, or words of its DutError};
# every other test of those plans must pass
CASES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "": ((PLANS,), {}),
    "wrong-firmware": ((IDENTIFY,), {f"{IDENTIFY}::test_firmware_version": "firmware version"}),
    "motion-events-lost": ((MOTION,), {
        f"{MOTION}::test_every_motion_is_reported": "motion events received",
        f"{MOTION}::test_motion_peak_reported": "motion events received"}),
    "gnss-fix-stale": ((GNSS,), {f"{GNSS}::test_fix_is_fresh": "GNSS fix age"}),
    "interval-ignored": ((REPORTING,), {
        f"{REPORTING}::test_reports_follow_the_interval": "reports received"}),
    "shipping-current-high": ((POWER,), {
        f"{POWER}::test_shipping_mode_current": "shipping-mode current"}),
    "nus-fragment-overrun": ((NUS,), {
        f"{NUS}::test_identify_over_nus": "malformed frame(s) instead",
        f"{NUS}::test_gnss_over_nus": "malformed frame(s) instead",
        f"{NUS}::test_no_malformed_frames_over_nus": "malformed frames over NUS"}),
    "accel-stuck": ((ACCEL,), {f"{ACCEL}::test_axes_are_live": "z noise (standard deviation)"}),
    "factory-reset-keeps-interval": ((RESET,), {
        f"{RESET}::test_factory_reset_restores_defaults": "interval after reset"}),
    "dfu-no-confirm": ((DFU,), {f"{DFU}::test_confirm": "confirm result"}),
    "dfu-no-revert": ((DFU,), {
        f"{DFU}::test_unconfirmed_image_reverts": "version after unconfirmed reset"}),
}


def _failures(record: Path) -> dict[str, str]:
    """Failed step -> its failed measurements' names, or its message when none failed."""
    found = {}
    for line in record.read_text().splitlines():
        step = json.loads(line)
        if step.get("kind") == "step" and step["outcome"] != "pass":
            names = [m["name"] for m in step["measurements"] if m["outcome"] == "fail"]
            found[step["name"]] = "; ".join(names) or step["message"]
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory
         ) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    def run(defect: str) -> tuple[dict[str, str], dict[str, str]]:
        tmp: Path = tmp_path_factory.mktemp(defect or "healthy")
        outcomes = run_plan(list(CASES[defect][0]), [defect] if defect else [], tmp,
                            base=KIT.emulated_station)
        return outcomes, _failures(tmp / "record.jsonl")

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(CASES, pool.map(run, CASES), strict=True))


def test_healthy_tracker_passes_every_plan(runs) -> None:
    outcomes, failures = runs[""]
    assert len(outcomes) >= 25, outcomes
    assert {node for node, outcome in outcomes.items() if outcome != "passed"} == set(), failures


@pytest.mark.parametrize("defect", [d for d in CASES if d])
def test_defect_fails_exactly_its_tests_and_measurements(runs, defect: str) -> None:
    outcomes, failures = runs[defect]
    must_fail = CASES[defect][1]
    assert {node for node, outcome in outcomes.items() if outcome != "passed"} == set(must_fail), \
        failures
    assert {outcomes[node] for node in must_fail} == {"failed"}, outcomes  # FAIL, never ERROR
    for node, named in must_fail.items():
        assert named in failures[node], (node, failures[node])


def test_every_defect_is_covered() -> None:
    assert sorted(KIT.defects) == sorted(d for d in CASES if d)
