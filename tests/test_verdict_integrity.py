"""Only the board can FAIL the board: what the bench's own parts do is never counted against it.

Three ways a verdict was wrong (issue 17, items 12-14): an assertion inside a driver or Bumble
counted as the board's FAIL; one broken third-party kit stopped every board's runs; a station
without a radio ERRORed the BLE steps instead of skipping them as not applicable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench.exitcodes import ExitCode
from bench.station import DEFAULT_PROFILE, load_station
from tests.plan_runner import ROOT, run_plan

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
