"""Radio capabilities: what each backend gives; a step needing more is skipped, saying why."""

import subprocess
import sys
from pathlib import Path

from bench.station import load_station
from fixtures.radio import radio_capabilities
from tests.plan_runner import DEFAULT_PROFILE, ROOT, junit_outcomes

EVERY_PACKET_STEP = "testplans/ws100/test_ble.py::test_advertising_interval_follows_mode"


def test_bumble_backend_gives_every_packet_and_link_reports() -> None:
    assert radio_capabilities(load_station(DEFAULT_PROFILE)) == {
        "radio", "radio.every_packet", "radio.link_report"}


def test_native_backend_gives_the_radio_alone() -> None:
    assert radio_capabilities(load_station(ROOT / "fixtures" / "ws100-desk.toml")) == {"radio"}


def test_profile_without_radio_gives_nothing(tmp_path: Path) -> None:
    text = DEFAULT_PROFILE.read_text()
    profile = tmp_path / "no-radio.toml"
    profile.write_text(text[:text.index("[radio]")])
    assert radio_capabilities(load_station(profile)) == frozenset()


def test_step_needing_every_packet_is_skipped_on_native_with_the_reason(tmp_path: Path) -> None:
    """No Bluetooth stack here, so the native backend could not even scan: a skip (not a
    failure) proves the capability check runs before the step touches the radio."""
    text = DEFAULT_PROFILE.read_text()
    native = text.replace('resource = "emulator"  # the emulated board\'s radio, reached through '
                          'the Bumble backend\nbackend = "bumble"',
                          'resource = ""\nbackend = "native"')
    assert native != text
    profile = tmp_path / "native.toml"
    profile.write_text(native)
    junit = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", EVERY_PACKET_STEP, "--station", str(profile),
                    "--record", str(tmp_path / "record.jsonl"), f"--junitxml={junit}", "-q",
                    "-p", "no:cacheprovider", "--rootdir", str(ROOT)], cwd=ROOT, timeout=120,
                   capture_output=True)
    assert junit_outcomes(junit) == {EVERY_PACKET_STEP: "skipped"}
    assert "radio.every_packet" in junit.read_text() and "BlueZ" in junit.read_text()
