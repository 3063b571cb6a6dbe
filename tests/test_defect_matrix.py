"""The defect matrix: every defect of every board is caught by the named measurement built to
catch it, and each healthy board fails nothing. One run of every board's whole plan per defect."""

import json
import subprocess
import sys
from collections import Counter

import pytest

from bench.kits import installed_kits
from tests.plan_runner import ROOT

pytestmark = pytest.mark.timeout(1200)  # one whole-plan run per defect, two at a time

# board -> defect -> a measurement that must be among those failing on it
CAUGHT_BY = {
    "ws100": {
        "adv-missing-manufacturer-data": "manufacturer data present",
        "bad-serial": "serial number matches CB-XXX-NNNNNN",
        "battery-level-wrong": "battery level",
        "battery-reading-offset": "battery reading error at 3.3 V",
        "ble-serial-mismatch": "GATT serial number",
        "boot-slow": "output-on to banner",
        "brownout-threshold-wrong": "brown-out threshold",
        "crc-ignored": "NACK code for bad CRC",
        "notify-rate-drift": "notification interval mean",
        "selftest-fail": "self-test failed bitmap",
        "sensor-out-of-range": "humidity_pct",
        "sleep-current-high": "sleep current (average)",
        "slow-response": "ping rtt median",
        "stuck-sensor": "temperature_c distinct values",
        "telemetry-gaps": "telemetry frames lost",
        "wrong-firmware": "firmware version",
        "active-current-high": "active current",
        "banner-firmware-mismatch": "banner firmware",
        "telemetry-rate-slow": "telemetry rate",
        "telemetry-temperature-offset": "telemetry temperature max",
        "ble-notify-loss": "counted notifications lost",
        "ble-link-survives-reset": "link loss detected",
        "dfu-crash-on-boot": "version after test reset",
        "dfu-no-confirm": "confirm result",
        "dfu-match-false": "upload result",
        "dfu-slow-flash": "upload rate",
        "dfu-no-revert": "version after unconfirmed reset",
    },
    "tracker": {
        "wrong-firmware": "firmware version",
        "motion-events-lost": "motion events received",
        "gnss-fix-stale": "GNSS fix age",
        "interval-ignored": "reports received",
        "shipping-current-high": "shipping-mode current",
        "nus-fragment-overrun": "malformed frames over NUS",
        "accel-stuck": "z noise (standard deviation)",
        "factory-reset-keeps-interval": "interval after reset",
    },
}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "bench", "defects", "--matrix", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def test_every_defect_is_caught_by_its_measurement(rows: list[dict]) -> None:
    found = {(row["board"], row["defect"]): row for row in rows}
    for board, defects in CAUGHT_BY.items():
        assert set(defects) == set(installed_kits()[board].defects), \
            f"{board}: a defect without its expected measurement here, or the other way round"
        for defect, measurement in defects.items():
            row = found[(board, defect)]
            assert not row["error"], row["error"]
            assert measurement in row["caught_by"], (board, defect, row["caught_by"])


def test_healthy_boards_fail_nothing(rows: list[dict]) -> None:
    healthy = [row for row in rows if not row["defect"]]
    assert {row["board"] for row in healthy} == set(installed_kits())
    assert [(row["board"], row["failed_steps"], row["error"]) for row in healthy
            if row["failed_steps"] or row["error"]] == []


def test_the_catalogue_covers_every_face_and_plan(rows: list[dict]) -> None:
    defects = [row for row in rows if row["defect"]]
    assert len(defects) >= 24
    faces = Counter(row["face"] for row in defects)
    assert all(faces[face] >= 3 for face in ("serial", "power", "radio", "identity")), faces
    for kit in installed_kits().values():
        plans = {path.name for path in kit.plans.glob("test_*.py")}
        caught = {plan.rsplit("/", 1)[-1] for row in defects if row["board"] == kit.name
                  for plan in row["plans"]}
        assert plans <= caught, f"{kit.name}: plans that catch no defect: {plans - caught}"
