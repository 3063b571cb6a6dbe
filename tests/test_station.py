"""Station profiles: a wrong profile is one clear error naming the file and the key."""

import os
import subprocess
import sys

import pytest

from bench.station import (
    DEFAULT_PROFILE,
    StationError,
    load_station,
    use_lab_archive,
    with_defects,
)
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


@pytest.mark.parametrize(("archive", "needle"), [
    ('index = "postgresql://bench:s3cret@db.lab/citebench"', r"\[archive\]\.index holds a "
                                                              r"password.*~/\.pgpass"),
    ('index = "postgresql://bench@db.lab/citebench?password=s3cret"', "holds a password"),
    ('index = "sqlite:///lab/index.sqlite"', r"\[archive\]\.index = 'sqlite:.*a postgresql://"),
    ('bench_id = "desk 3/a"', r"\[archive\]\.bench_id = 'desk 3/a': letters, digits"),
    ('ledger = "x"', r"\[archive\]: unknown key\(s\) ledger"),
])
def test_a_wrong_archive_section_is_named(tmp_path, archive: str, needle: str) -> None:
    path = _write(tmp_path, f"{GOOD}\n[archive]\n{archive}\n")
    with pytest.raises(StationError, match=needle):
        load_station(path)


def test_the_archive_section_is_what_the_run_archives_with(tmp_path, monkeypatch) -> None:
    """`[archive]` becomes BENCH_INDEX/BENCH_ID for the run and its children; another value
    already in the environment is refused, naming both, rather than one of them chosen."""
    url = "postgresql://bench@db.lab/citebench"
    profile = load_station(_write(tmp_path, f'{GOOD}\n[archive]\nindex = "{url}"\n'
                                            'bench_id = "desk-3"\n'))
    monkeypatch.setenv("BENCH_INDEX", url)  # so that the end of the test restores it
    monkeypatch.delenv("BENCH_INDEX")
    monkeypatch.setenv("BENCH_ID", "desk-3")  # the same value: no conflict
    use_lab_archive(profile)
    assert (os.environ["BENCH_INDEX"], os.environ["BENCH_ID"]) == (url, "desk-3")
    monkeypatch.setenv("BENCH_INDEX", "postgresql://bench@other.lab/citebench")
    with pytest.raises(StationError, match=r"\[archive\]\.index = 'postgresql://bench@db\.lab/"
                                           r"citebench', but BENCH_INDEX = 'postgresql://"
                                           r"bench@other\.lab/citebench' in the environment"):
        use_lab_archive(profile)
