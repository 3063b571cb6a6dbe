"""The defect matrix: every defect of every board is caught by the named measurement built to
catch it, and each healthy board fails nothing. One run of every board's whole plan per defect."""

import json
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from bench.defect_matrix import failures
from bench.kits import installed_kits
from bench.measure import Limit, Measurement, Outcome
from bench.record import RunRecord
from tests.plan_runner import ROOT

pytestmark = pytest.mark.timeout(1200)  # one whole-plan run per defect, four at a time

# board -> defect -> the id of a measurement that must be among those failing on it
CAUGHT_BY = {
    "ws100": {
        "adv-missing-manufacturer-data": "manufacturer_data_present",
        "bad-serial": "serial_number_format",
        "battery-level-wrong": "battery_level",
        "battery-reading-offset": "battery_reading_error@3.3 V",
        "ble-serial-mismatch": "gatt_serial_number",
        "boot-slow": "banner_after_power_on",
        "brownout-threshold-wrong": "brownout_threshold",
        "crc-ignored": "nack_bad_crc",
        "notify-rate-drift": "notification_interval_mean",
        "selftest-fail": "selftest_bitmap",
        "sensor-out-of-range": "humidity_pct",
        "sleep-current-high": "sleep_current_average",
        "slow-response": "ping_rtt_median",
        "stuck-sensor": "temperature_c_distinct",
        "telemetry-gaps": "telemetry_lost",
        "wrong-firmware": "firmware_version",
        "active-current-high": "active_current",
        "banner-firmware-mismatch": "banner_firmware",
        "telemetry-rate-slow": "telemetry_rate",
        "telemetry-temperature-offset": "telemetry_temperature_max",
        "ble-notify-loss": "counted_notifications_lost",
        "ble-link-survives-reset": "link_loss_detected",
        "dfu-crash-on-boot": "dfu_version_after_test_reset",
        "dfu-no-confirm": "dfu_confirm_result",
        "dfu-match-false": "dfu_upload_result",
        "dfu-slow-flash": "dfu_upload_rate",
        "dfu-no-revert": "dfu_version_after_unconfirmed_reset",
    },
    "tracker": {
        "wrong-firmware": "firmware_version",
        "motion-events-lost": "motion_events",
        "gnss-fix-stale": "fix_age",
        "interval-ignored": "reports_received",
        "shipping-current-high": "shipping_current",
        "nus-fragment-overrun": "malformed_frames_over_nus",
        "accel-stuck": "z_noise",
        "factory-reset-keeps-interval": "interval_after_reset",
        "dfu-no-confirm": "dfu_confirm_result",
        "dfu-no-revert": "dfu_version_after_unconfirmed_reset",
    },
}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    # four runs at once: a plan run waits on its board most of the time (a WS-100 run is 32 s
    # for 7 s of CPU), so two at a time left a two-core machine half idle for 10 minutes
    done = subprocess.run([sys.executable, "-m", "bench", "defects", "--matrix", "--json",
                           "--jobs", "4"], cwd=ROOT, capture_output=True, text=True,
                          timeout=1200)
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
    # a QEMU station's rows are labelled by its profile (tests/test_qemu.py checks its builds)
    assert {row["board"] for row in healthy if not row["station"]} == set(installed_kits())
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


def test_a_run_is_caught_by_measurement_ids_whatever_their_names(tmp_path: Path) -> None:
    """The matrix keys on the spec id: a renamed measurement still catches its defect; a
    measurement without an id (a record older than ids) is named by its name."""
    sleep = Limit("sleep_current_average", "sleep current (average)", "A", high=40e-6)
    caught = []
    for run, name in enumerate(("sleep current (average)", "mean current asleep")):
        record = RunRecord(tmp_path / str(run) / "record.jsonl")
        record.start({"id": "emulated"}, {})
        taken = [Measurement.of(replace(sleep, name=name), 42e-6),
                 Measurement.judge("legacy count", 3, high=2)]
        record.step("testplans/ws100/test_power_current.py::test_sleep_current", "",
                    Outcome.FAIL, taken, [], 0.0, 1.0)
        record.end(Outcome.FAIL)
        record.close()
        caught.append(failures(record.path))
    assert caught[0] == caught[1] == (
        ["legacy count", "sleep_current_average"],
        ["testplans/ws100/test_power_current.py::test_sleep_current"],
        ["testplans/ws100/test_power_current.py"])
