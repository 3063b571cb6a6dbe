"""However a power run ends, the supply's outputs are off and its sessions closed.

The emulated station lives in this process and the plan runs in a subprocess against a profile
that binds the roles to it, as a real desk would; so after the run (or its interruption) the
emulated supply can still be asked what state its outputs are in.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.emulation import emulate
from bench.station import load_station
from emulators.host import EmulatedStation
from tests.plan_runner import DEFAULT_PROFILE, ROOT, write_profile

PLAN_WITH_CAPTURE = "testplans/ws100/test_power_current.py"  # opens with a 1 s sleep capture
CAPTURING_SUPPLY = "N6705C"  # the supply itself captures, so it sees the capture start
SHORT_PLAN = "testplans/ws100/test_power_meter.py"


def with_psu_model(path: Path, model: str) -> Path:
    """The profile at `path` with `[emulator] psu_model = model`."""
    text = path.read_text().replace("[emulator]\n", f'[emulator]\npsu_model = "{model}"\n')
    path.write_text(text)
    return path


def desk_profile(tmp: Path, station: EmulatedStation) -> Path:
    """A profile without [emulator]: every role bound to a resource of `station`."""
    sections = DEFAULT_PROFILE.read_text().split("\n[")
    text = "\n[".join(s for s in sections if not s.startswith("emulator]"))
    for role, resource in station.resources.items():
        key = "port" if role == "dut" else "resource"
        board = 'board = "ws100"\n' if role == "dut" else ""
        text = text.replace(f'[{role}]\n{board}{key} = "emulator"',
                            f'[{role}]\n{board}{key} = "{resource}"')
    path = tmp / "desk.toml"
    path.write_text(text)
    assert load_station(path).emulated_roles() == (), text
    return path


@pytest.fixture
def station(request: pytest.FixtureRequest, tmp_path: Path):
    defects = getattr(request, "param", [])
    profile = with_psu_model(write_profile(tmp_path, defects), CAPTURING_SUPPLY)
    with emulate(load_station(profile)) as emulated:
        yield emulated


def run(tmp: Path, station: EmulatedStation, plan: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", plan, "--station", str(desk_profile(tmp, station)),
         "--record", str(tmp / "record.jsonl"), "-q", "-p", "no:cacheprovider",
         "--rootdir", str(ROOT)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def assert_safe(station: EmulatedStation) -> None:
    server = station.instruments["psu"]
    assert server.wait_connections(0, timeout=15), "the run left a supply session open"
    assert not any(out.on for out in server.device.outputs.values())
    assert not station.board.power.powered


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_capture_leaves_outputs_off(tmp_path, station, signum) -> None:
    psu = station.instruments["psu"].device
    process = run(tmp_path, station, PLAN_WITH_CAPTURE)
    try:
        assert psu.wait_command("MEAS:ARR", timeout=60), "the plan never started a capture"
        assert psu.outputs[1].on, "the board should be powered mid-plan"
        process.send_signal(signum)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert signum.name in output  # the guard said why it stopped
    assert_safe(station)


@pytest.mark.parametrize(("station", "code"), [([], 0), (["battery-reading-offset"], 1)],
                         ids=["passing run", "failing run"], indirect=["station"])
def test_finished_run_leaves_outputs_off(tmp_path, station, code) -> None:
    process = run(tmp_path, station, SHORT_PLAN)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == code, output
    assert_safe(station)
