"""Only the board can FAIL the board: what the bench's own parts do is never counted against it.

Three ways a verdict was wrong (issue 17, items 12-14): an assertion inside a driver or Bumble
counted as the board's FAIL; one broken third-party kit stopped every board's runs; a station
without a radio ERRORed the BLE steps instead of skipping them as not applicable.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench.station import load_station
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
