"""Each radio defect makes its BLE plan step fail; the healthy board passes the whole BLE plan."""

import pytest

from emulators.ws100_defects import DEFECTS
from tests.plan_runner import run_plan

PLAN = "testplans/ws100/test_ble.py"
# defect -> the plan step that must catch it
CAUGHT_BY = {
    "ble-serial-mismatch": "test_device_information_equals_serial_identity",
    "notify-rate-drift": "test_notification_interval",
    "adv-missing-manufacturer-data": "test_advertising_matches_identity",
    "battery-level-wrong": "test_battery_level_follows_battery_voltage",
    "ble-notify-loss": "test_counted_notifications_lose_nothing",
    "ble-link-survives-reset": "test_reset_seen_as_supervision_timeout",
}


def test_healthy_board_passes_the_ble_plan(tmp_path) -> None:
    outcomes = run_plan([PLAN], [], tmp_path)
    assert len(outcomes) >= 8
    assert {node: o for node, o in outcomes.items() if o != "passed"} == {}


@pytest.mark.parametrize("defect", sorted(CAUGHT_BY))
def test_defect_fails_its_ble_step(defect: str, tmp_path) -> None:
    # Only the catching step runs: the healthy run above shows the others pass without the defect.
    step = CAUGHT_BY[defect]
    outcomes = run_plan([f"{PLAN}::{step}"], [defect], tmp_path)
    assert outcomes == {f"{PLAN}::{step}": "failed"}


def test_every_radio_defect_is_covered() -> None:
    radio_defects = list(DEFECTS)[list(DEFECTS).index("ble-serial-mismatch"):]
    assert sorted(radio_defects) == sorted(CAUGHT_BY)
