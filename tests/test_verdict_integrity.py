"""Only the board can FAIL the board: what the bench's own parts do is never counted against it.

Three ways a verdict was wrong (issue 17, items 12-14): an assertion inside a driver or Bumble
counted as the board's FAIL; one broken third-party kit stopped every board's runs; a station
without a radio ERRORed the BLE steps instead of skipping them as not applicable.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from bleak.exc import BleakError

from bench.exitcodes import ExitCode
from bench.record import load_record
from bench.station import DEFAULT_PROFILE, load_station
from drivers.bleak_bumble import bumble_backend
from drivers.psu import SupplyChannel
from drivers.psu_dp800 import DP800
from tests.plan_runner import ROOT, junit_outcomes, run_plan
from tests.test_instrument_replay import RESOURCE, Replay

ASSERTING_PLAN = '''
from bumble import hci

import benchlib


def _in_range(value, low, high):
    assert low <= value <= high, f"{value} outside {low}..{high}"


def test_plan_assert(measure):
    measure("vbat", 3.3, units="V")
    assert 3.3 >= 3.4, "vbat below the product's minimum"


def test_plan_helper_assert(measure):
    _in_range(2.9, 3.2, 3.4)


def test_measurement_out_of_limits(measure):
    measure("vbat", 3.0, units="V", low=3.2, high=3.4)


def test_bumble_assert(measure):
    measure("vbat", 3.3, units="V", low=3.2, high=3.4)
    hci.HCI_Object.dict_from_bytes(b"\\x00", 0, [(1, 1)])  # a field spec Bumble asserts on


def test_driver_assert(measure):
    measure("vbat", 3.3, units="V", low=3.2, high=3.4)
    benchlib.read_channel(None)


def test_fixture_assert(probe, measure):
    measure("vbat", 3.3, units="V", low=3.2, high=3.4)
    probe.read()
'''

CONFTEST = '''
import pytest


class Probe:
    def read(self):
        assert self.__dict__, "probe read before it was opened"


@pytest.fixture
def probe():
    return Probe()
'''

BENCHLIB = '''
def read_channel(channel):
    assert channel is not None, "a driver's bare assert"
'''


@pytest.mark.plan_run
def test_only_the_plans_own_asserts_fail_the_board(tmp_path: Path) -> None:
    """An AssertionError raised in Bumble, a driver-like module or fixture code is the bench's
    ERROR; the plan's own assert (in its body or a helper of its file) and a measurement out of
    limits FAIL; what was measured before the bench's assert is kept."""
    (tmp_path / "test_plan.py").write_text(ASSERTING_PLAN)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "benchlib.py").write_text(BENCHLIB)
    record, junit = tmp_path / "record.jsonl", tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "test_plan.py"), "--station",
                    str(DEFAULT_PROFILE), "--record", str(record), f"--junitxml={junit}", "-q",
                    "-p", "no:cacheprovider", "--rootdir", str(tmp_path)], cwd=tmp_path,
                   capture_output=True, text=True, timeout=120,
                   env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"})
    steps = {step["name"].rsplit("::", 1)[1]: step for step in load_record(record).steps}
    assert {name: step["outcome"] for name, step in steps.items()} == {
        "test_plan_assert": "fail", "test_plan_helper_assert": "fail",
        "test_measurement_out_of_limits": "fail", "test_bumble_assert": "error",
        "test_driver_assert": "error", "test_fixture_assert": "error"}
    assert {node.rsplit("::", 1)[1]: outcome for node, outcome in junit_outcomes(junit).items()
            } == {"test_plan_assert": "failed", "test_plan_helper_assert": "failed",
                  "test_measurement_out_of_limits": "failed", "test_bumble_assert": "error",
                  "test_driver_assert": "error", "test_fixture_assert": "error"}
    for name in ("test_bumble_assert", "test_driver_assert", "test_fixture_assert"):
        assert [(m["name"], m["value"], m["outcome"]) for m in steps[name]["measurements"]] == [
            ("vbat", 3.3, "pass")], steps[name]
    assert "a driver's bare assert" in steps["test_driver_assert"]["message"]


def test_an_att_exchange_before_any_connection_is_a_bleak_error_naming_the_device() -> None:
    _, client_class = bumble_backend("tcp-client:127.0.0.1:1")
    client = client_class("F0:0D:00:00:00:01", disconnected_callback=None, timeout=1.0)

    async def read() -> bytes:
        return b"never sent"

    with pytest.raises(BleakError, match=r"F0:0D:00:00:00:01: an ATT exchange needs a "
                                         r"connection"):
        asyncio.run(client._att(read()))


def test_dp800_protection_on_a_foreign_channel_is_a_type_error_naming_the_supply() -> None:
    supply = DP800(Replay([]), {"max_voltage": 4.4, "max_current": 0.5})
    with pytest.raises(TypeError, match=f"{RESOURCE}: channel 1 is a SupplyChannel, not a "
                                        f"DP800Channel"):
        supply._protect(SupplyChannel(supply, 1))


BLE_PLANS = {"ws100": "testplans/ws100/test_ble.py", "tracker": "testplans/tracker/test_nus.py"}


def _without_radio(tmp_path: Path, board: str) -> Path:
    """The board's emulated station profile with its `[radio]` table cut out."""
    text = (ROOT / "fixtures" / f"{board}-emulated.toml").read_text()
    start = text.index("\n[radio]")
    end = text.find("\n[", start + 1)
    profile = tmp_path / f"{board}-no-radio.toml"
    profile.write_text(text[:start] + (text[end:] if end >= 0 else "\n"))
    assert load_station(profile).radio is None
    return profile


@pytest.mark.plan_run
@pytest.mark.parametrize("board", sorted(BLE_PLANS))
def test_ble_steps_on_a_station_without_radio_are_skipped_naming_it(tmp_path: Path,
                                                                     board: str) -> None:
    base = _without_radio(tmp_path, board)
    station_id = load_station(base).station.id
    outcomes = run_plan([BLE_PLANS[board]], [], tmp_path, base=base)
    assert outcomes and set(outcomes.values()) == {"skipped"}, outcomes
    reasons = [skipped.get("message", "") for skipped in
               ET.parse(tmp_path / "junit.xml").getroot().iter("skipped")]
    assert len(reasons) == len(outcomes)
    for reason in reasons:  # the collection-time reason, not a fixture's skip or lookup error
        assert f"station {station_id} (" in reason and "lacks role 'radio'" in reason, reason


def _broken_kit_site(tmp_path: Path) -> Path:
    """A team's kit installed as its package would be (a distribution with a `citebench.boards`
    entry point), whose module raises on import."""
    site = tmp_path / "site"
    info = site / "brokenkit-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenkit\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[citebench.boards]\nbrokenboard = brokenkit:KIT\n")
    (site / "brokenkit.py").write_text("raise RuntimeError('the vendor SDK is not installed')\n")
    return site


def _with_site(site: Path, *command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(site)})


@pytest.mark.plan_run
def test_a_broken_kit_is_left_out_with_one_warning_naming_its_package(tmp_path: Path) -> None:
    site = _broken_kit_site(tmp_path)
    (tmp_path / "test_plan.py").write_text(
        "def test_vbat(measure):\n    measure('vbat', 3.3, units='V', low=3.2, high=3.4)\n")
    done = _with_site(site, "pytest", str(tmp_path / "test_plan.py"), "--station",
                      str(DEFAULT_PROFILE), "-q", "-p", "no:cacheprovider", "--rootdir",
                      str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    output = done.stdout + done.stderr
    assert output.count("KitWarning") == 1, output
    assert "'brokenboard' (brokenkit:KIT, package brokenkit 1.0) failed to load: RuntimeError: " \
           "the vendor SDK is not installed" in output


@pytest.mark.plan_run
def test_the_broken_kit_asked_for_is_a_usage_error_naming_its_package(tmp_path: Path) -> None:
    site = _broken_kit_site(tmp_path)
    station = tmp_path / "broken.toml"
    station.write_text(DEFAULT_PROFILE.read_text().replace('board = "ws100"',
                                                           'board = "brokenboard"'))
    done = _with_site(site, "bench", "run", "--station", str(station), "--reports",
                      str(tmp_path / "reports"), "--no-index")
    assert done.returncode == ExitCode.USAGE, done.stdout + done.stderr
    assert "[dut].board: board kit 'brokenboard' (brokenkit:KIT, package brokenkit 1.0) failed " \
           "to load: RuntimeError: the vendor SDK is not installed" in done.stdout + done.stderr
