"""Station profiles: a wrong profile is one clear error naming the file and the key."""

import subprocess
import sys

import pytest

from bench.station import DEFAULT_PROFILE, StationError, load_station, with_defects
from tests.plan_runner import ROOT

GOOD = DEFAULT_PROFILE.read_text()


def _write(tmp_path, text: str):
    path = tmp_path / "station.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "needle"), [
    (GOOD.replace("baudrate = 115200", "baudrate = \"fast\""),
     r"\[dut\]\.baudrate must be int, got str 'fast'"),
    (GOOD.replace("retries = 2", "retries = 2\nparity = \"N\""),
     r"\[dut\]: unknown key\(s\) parity"),
    (GOOD.replace('port = "emulator"\n', ""), r"\[dut\]: missing key\(s\) port"),
    (GOOD.replace("defects = []", 'defects = ["flux-capacitor"]'),
     r"\[emulator\]\.defects: unknown defect\(s\) flux-capacitor"),
    (GOOD.replace("[emulator]", "[emulatorz]"), r"unknown section\(s\) \[emulatorz\]"),
    (GOOD.replace("[station]", "[station\n"), "not valid TOML"),
    (GOOD.replace('serial = "pty"', 'serial = "usb"'), r"\[emulator\]\.serial must be"),
])
def test_wrong_profile_names_file_and_key(tmp_path, text: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(StationError, match=needle) as error:
        load_station(path)
    assert str(path) in str(error.value)


def test_emulated_role_needs_an_emulator_section(tmp_path) -> None:
    text = GOOD.split("[emulator]")[0] + "[dut]" + GOOD.split("[dut]")[1]
    with pytest.raises(StationError, match=r"role\(s\) dut(, \w+)* use \"emulator\""):
        load_station(_write(tmp_path, text))


def test_missing_file_is_named(tmp_path) -> None:
    with pytest.raises(StationError, match=r"nowhere\.toml: cannot read"):
        load_station(tmp_path / "nowhere.toml")


def test_desk_profile_binds_a_real_port() -> None:
    desk = load_station(ROOT / "fixtures" / "ws100-desk.toml")
    assert desk.dut.port == "/dev/ttyACM0" and desk.emulated_roles() == ()


def test_defects_from_the_command_line_are_checked() -> None:
    profile = with_defects(load_station(DEFAULT_PROFILE), ["stuck-sensor"], "--defect")
    assert profile.emulator.defects == ("stuck-sensor",)
    with pytest.raises(StationError, match="--defect: unknown defect"):
        with_defects(profile, ["nope"], "--defect")


def test_pytest_stops_once_on_a_wrong_profile(tmp_path) -> None:
    path = _write(tmp_path, GOOD.replace("timeout_s = 1.0", "timeout_s = \"soon\""))
    done = subprocess.run([sys.executable, "-m", "pytest", "testplans", "--station", str(path),
                           "-q", "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 4  # pytest's usage error: nothing ran
    assert done.stderr.count("[dut].timeout_s must be float") == 1
