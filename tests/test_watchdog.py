"""Outputs off however the run ends: `kill -9` of `bench run` mid-capture, SIGHUP, `bench safe`.

The emulated station lives in this process and the run in a subprocess against a profile that
binds every role to it, as on a desk; the outputs are read back over a separate pyvisa
session, as a lab's own script would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvisa

from bench.emulation import emulate
from bench.exitcodes import ExitCode
from bench.station import load_station
from bench.watchdog import log_path
from emulators.host import EmulatedStation
from emulators.psu import E36312A
from emulators.scpi_server import ScpiServer
from emulators.ws100_board import BoardModel
from tests.plan_runner import ROOT, write_profile
from tests.test_safety_interrupt import assert_safe, desk_profile, with_psu_model

CAPTURE_PLAN = "testplans/ws100/test_power_current.py"  # opens with a 1 s sleep capture
DEADLINE_S = 1.0


@pytest.fixture
def station(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmulatedStation]:
    model = getattr(request, "param", "N6705C")
    profile = with_psu_model(write_profile(tmp_path, []), model)
    with emulate(load_station(profile)) as emulated:
        yield emulated


def outputs(resource: str) -> str:
    """`OUTP?` of every channel, over a session of our own (raw pyvisa, no citebench driver)."""
    manager = pyvisa.ResourceManager("@py")
    with manager.open_resource(resource, read_termination="\n", write_termination="\n",
                               timeout=2000) as psu:
        return psu.query("OUTP? (@1:4)")


def bench_run(tmp: Path, station: EmulatedStation) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--station", str(desk_profile(tmp, station)),
         "--plan", CAPTURE_PLAN, "--reports", str(tmp / "reports"), "--no-index"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_kill_9_of_bench_run_mid_capture_leaves_every_output_off_within_a_second(
        tmp_path: Path, station: EmulatedStation) -> None:
    psu = station.instruments["psu"]
    process = bench_run(tmp_path, station)
    try:
        assert psu.device.wait_command("MEAS:ARR", timeout=60), "the run never started a capture"
        assert outputs(psu.resource) == "1,0,0,0", "the board should be powered mid-capture"
        process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        process.wait(timeout=10)
        while (state := outputs(psu.resource)) != "0,0,0,0":
            assert time.monotonic() - killed < DEADLINE_S, f"outputs still {state}"
        elapsed = time.monotonic() - killed
    finally:
        process.kill()
    assert elapsed < DEADLINE_S
    assert not station.board.power.powered
    log = log_path(process.pid)
    while "every output off" not in log.read_text():  # it logs after reading the states back
        assert time.monotonic() - killed < 10, f"watchdog log: {log.read_text()!r}"
        time.sleep(0.05)


def test_sighup_is_handled_like_sigterm(tmp_path: Path, station: EmulatedStation) -> None:
    psu = station.instruments["psu"]
    process = bench_run(tmp_path, station)
    try:
        assert psu.device.wait_command("MEAS:ARR", timeout=60), "the run never started a capture"
        process.send_signal(signal.SIGHUP)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert "SIGHUP: supply outputs switched off" in output
    assert_safe(station)
    assert log_path(process.pid).read_text() == ""  # the run did it: the watchdog never acted


def test_a_clean_run_disarms_the_watchdog(tmp_path: Path, station: EmulatedStation) -> None:
    process = bench_run(tmp_path, station)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == ExitCode.PASS, output
    assert log_path(process.pid).read_text() == ""  # it never had to act
    assert_safe(station)


@pytest.mark.parametrize("station", ["E36312A", "DP832", "SPD3303X"], indirect=True)
def test_bench_safe_switches_every_output_off(tmp_path: Path, station: EmulatedStation) -> None:
    supply = station.instruments["psu"].device
    supply.power_on(3.7)
    for ch in supply.outputs:
        if ch != supply.board_channel:
            supply.switch(ch, True)
    done = subprocess.run([sys.executable, "-m", "bench", "safe", "--station",
                           str(desk_profile(tmp_path, station))],
                          cwd=ROOT, capture_output=True, text=True, timeout=30, env=os.environ)
    assert done.returncode == ExitCode.PASS, done.stdout + done.stderr
    assert "every output off" in done.stdout
    assert not any(out.on for out in supply.outputs.values())
    assert not station.board.power.powered


def test_bench_safe_names_an_unreachable_supply(tmp_path: Path) -> None:
    profile = tmp_path / "desk.toml"
    profile.write_text('[station]\nid = "x"\n[dut]\nboard = "ws100"\nport = "/dev/null"\n'
                       '[psu]\nresource = "TCPIP0::127.0.0.1::1::SOCKET"\n')
    done = subprocess.run([sys.executable, "-m", "bench", "safe", "--station", str(profile),
                           "--timeout-ms", "300"], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == ExitCode.ERROR
    assert "TCPIP0::127.0.0.1::1::SOCKET" in done.stderr


def test_the_watchdog_tries_an_unanswering_supply_again_until_it_answers() -> None:
    """A LAN supply may still be closing the dead run's session: the watchdog's first connection
    is refused, and it keeps trying (RETRY_FOR_S) instead of leaving the output on."""
    placeholder = socket.socket()  # bound, not listening: connections to it are refused
    placeholder.bind(("127.0.0.1", 0))
    port = placeholder.getsockname()[1]
    resource = f"TCPIP0::127.0.0.1::{port}::SOCKET"
    read_fd, write_fd = os.pipe()
    watchdog = subprocess.Popen([sys.executable, "-m", "bench.watchdog", str(read_fd),
                                 f"{resource}=E36312A@"], pass_fds=(read_fd,), cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    os.close(read_fd)
    os.close(write_fd)  # the run is gone
    board = BoardModel(powered=False, seed=5)
    try:
        first = watchdog.stdout.readline()
        assert f"{resource}: could not switch off" in first and "trying again" in first, first
        placeholder.close()
        with ScpiServer(E36312A(board, board_channel=1, seed=5), port=port) as server:
            server.device.power_on(3.7)
            rest = watchdog.communicate(timeout=30)[0]
            assert watchdog.returncode == 0, rest
            assert "(E36312A): every output off" in rest.splitlines()[-1], rest
            assert not any(out.on for out in server.device.outputs.values())
    finally:
        watchdog.kill()
        board.shutdown()
