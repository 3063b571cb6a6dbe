"""Each switchable defect makes the plan that should catch it fail; the healthy board passes all."""

import pytest

from emulators.ws100_defects import DEFECTS
from tests.plan_runner import run_plan

SERIAL_PLANS = ["testplans/ws100/test_identification.py", "testplans/ws100/test_link.py",
                "testplans/ws100/test_sensors.py", "testplans/ws100/test_selftest.py",
                "testplans/ws100/test_robustness.py", "testplans/ws100/test_telemetry.py"]

# defect -> (plan that must catch it, tests in it that must fail)
CAUGHT_BY = {
    "wrong-firmware": ("testplans/ws100/test_identification.py", ["test_firmware_version"]),
    "bad-serial": ("testplans/ws100/test_identification.py", ["test_serial_number_format"]),
    "stuck-sensor": ("testplans/ws100/test_sensors.py", ["test_readings_vary_like_real_sensors"]),
    "sensor-out-of-range": ("testplans/ws100/test_sensors.py",
                            ["test_readings_within_physical_limits"]),
    "selftest-fail": ("testplans/ws100/test_selftest.py", ["test_self_test_passes"]),
    "crc-ignored": ("testplans/ws100/test_robustness.py", ["test_bad_crc_is_nacked"]),
    "telemetry-gaps": ("testplans/ws100/test_telemetry.py", ["test_telemetry_has_no_gaps"]),
    "slow-response": ("testplans/ws100/test_link.py", ["test_ping_round_trip_time"]),
}


def test_healthy_board_passes_every_serial_plan(tmp_path) -> None:
    outcomes = run_plan(SERIAL_PLANS, [], tmp_path)
    assert len(outcomes) >= 15
    assert {node: o for node, o in outcomes.items() if o != "passed"} == {}


@pytest.mark.parametrize("defect", sorted(CAUGHT_BY))
def test_defect_fails_its_plan(defect: str, tmp_path) -> None:
    plan, must_fail = CAUGHT_BY[defect]
    outcomes = run_plan([plan], [defect], tmp_path)
    for test in must_fail:
        assert outcomes[f"{plan}::{test}"] == "failed", outcomes


def test_every_serial_defect_is_covered() -> None:
    serial_defects = list(DEFECTS)[: list(DEFECTS).index("slow-response") + 1]
    assert sorted(serial_defects) == sorted(CAUGHT_BY)
