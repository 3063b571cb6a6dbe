"""What guards a run's supply outputs, and a run that loses a guard or an output stops at once.

The emulated station lives in this process and `bench run` in a subprocess against a desk
profile bound to it (so the run starts its watchdog, as on a desk). The plan tells the test
when it has reached a step through a FIFO and waits on another before going on: the test acts
on the bench (`bench safe`, `kill -9` of the watchdog) at a known instant, without sleeping.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvisa

from bench import archive
from bench.emulation import emulate
from bench.exitcodes import ExitCode
from bench.record import RecordView, load_record
from bench.station import StationError, load_station
from emulators.host import EmulatedStation
from tests.plan_runner import ROOT, write_profile
from tests.test_safety_interrupt import desk_profile, with_psu_model

PLAN = '''
import os


def test_powered(dut, psu, measure):
    measure("ping rtt", dut.ping(), units="s", high=1.0)


def test_interrupted(dut):
    with open(os.environ["NOTES"], "w") as fifo:  # blocks until the test reads: an event
        fifo.write("waiting")
    with open(os.environ["GATE"]) as gate:  # held open until the test has acted on the bench
        gate.read()
    dut.ping()


def test_serial_only(dut):
    dut.ping()


def test_powers_the_board_again(psu, dut):
    psu.output = True
    dut.ping()
'''


@pytest.fixture
def station(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmulatedStation]:
    profile = with_psu_model(write_profile(tmp_path, []), getattr(request, "param", "E36312A"))
    with emulate(load_station(profile)) as emulated:
        yield emulated


class Run:
    """`bench run` of PLAN on a desk profile of `station`, held at test_interrupted's gate."""

    def __init__(self, tmp: Path, station: EmulatedStation, psu_keys: str = "") -> None:
        tmp.mkdir(exist_ok=True)
        self.tmp = tmp
        self.profile = desk_profile(tmp, station)
        self.profile.write_text(self.profile.read_text().replace("[psu]\n", f"[psu]\n{psu_keys}"))
        (tmp / "test_guarding_plan.py").write_text(PLAN)
        self.notes, self.gate = tmp / "notes", tmp / "gate"
        for fifo in (self.notes, self.gate):
            os.mkfifo(fifo)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench", "run", "--station", str(self.profile), "--plan",
             str(tmp / "test_guarding_plan.py"), "--reports", str(tmp / "reports"),
             "--no-index"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env={**os.environ, "NOTES": str(self.notes), "GATE": str(self.gate)})

    def held(self) -> None:
        """Return once the plan waits at the gate; fail with the run's output if it ended first."""
        notes = os.open(self.notes, os.O_RDONLY | os.O_NONBLOCK)  # lets the plan's open return
        ended = os.pidfd_open(self.process.pid)
        try:
            ready = select.select([notes, ended], [], [], 120)[0]
            if notes not in ready:
                self.process.kill()
                pytest.fail(f"the run never reached the gate:\n{self.process.communicate()[0]}")
            assert os.read(notes, 64) == b"waiting"
        finally:
            os.close(notes)
            os.close(ended)

    def release(self) -> str:
        with self.gate.open("w"):
            pass
        output, _ = self.process.communicate(timeout=120)
        return output

    def record(self) -> RecordView:
        (run,) = archive.find_runs(self.tmp / "reports")
        return load_record(run / archive.RECORD)

    def staged_record(self) -> RecordView:
        return load_record(next((self.tmp / "reports" / archive.INCOMING).glob("*/record.jsonl")))


def kill_9(pid: int) -> None:
    """SIGKILL `pid` and return once it has ended (its pidfd turns readable: an event)."""
    ended = os.pidfd_open(pid)
    os.kill(pid, signal.SIGKILL)
    assert select.select([ended], [], [], 30)[0], f"process {pid} outlived SIGKILL"
    os.close(ended)


def outcomes(view: RecordView) -> list[tuple[str, str]]:
    return [(step["name"].rpartition("::")[2], step["outcome"]) for step in view.steps]


# an output switched on in any of the makes' syntax: `OUTP 1,(@1)`, `:OUTP CH1,1`, `OUTP CH1,ON`
OUTPUT_ON = re.compile(r"OUTP(UT)?(:STAT(E)?)?\s+(CH\d,)?(1|ON)\b", re.IGNORECASE)
NOT_COVERED = {  # what the record and report say stays on when run and watchdog both die
    "E36312A": "at the last setting, bounded by OVP 4.4 V, OCP on; switch",
    "DP832": "at the last setting, bounded by OVP 4.4 V, OCP on; switch",
    "SPD3303X": "at the last setting; switch",  # no OVP/OCP on this model
    "N6705C": "at the last setting for up to 60 s, until the supply's own watchdog holds them "
              "off, bounded by OVP 4.4 V, OCP on; switch",
}


@pytest.mark.parametrize("station", list(NOT_COVERED), indirect=True)
def test_bench_safe_during_a_step_stops_the_run_with_one_error_naming_the_supply(
        tmp_path: Path, station: EmulatedStation) -> None:
    supply = station.instruments["psu"]
    model = type(supply.device).__name__
    run = Run(tmp_path, station)
    try:
        run.held()
        done = subprocess.run([sys.executable, "-m", "bench", "safe", "--station",
                               str(run.profile)], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == ExitCode.PASS, done.stdout + done.stderr
        switched_off = len(supply.device.commands)
        output = run.release()
    finally:
        run.process.kill()
    assert run.process.returncode == ExitCode.ERROR, output
    assert "1 passed, 2 skipped, 1 error" in output, output
    view = run.record()
    assert outcomes(view) == [("test_powered", "pass"), ("test_interrupted", "error")]
    assert view.steps[0]["measurements"][0]["name"] == "ping rtt"  # kept
    message = view.steps[1]["message"]
    assert f"{supply.resource} ({model}) channel 1: output found off" in message, message
    assert view.ending["cause"] == "resource_lost" and len(view.ending["not_run"]) == 2
    commands = list(supply.device.commands)
    assert not [c for c in commands[switched_off:] if OUTPUT_ON.search(c)]  # never powered again
    before_power = commands[:next(i for i, c in enumerate(commands) if OUTPUT_ON.search(c))]
    protected = any("VOLT:PROT" in c.upper() for c in before_power)
    assert protected == (model != "SPD3303X"), before_power  # OVP set before the first output on
    assert not station.board.power.powered
    guard = view.guards["psu"]
    assert guard["not_covered"] == ("run and watchdog both killed: the outputs stay on "
                                    f"{NOT_COVERED[model]} them off with `bench safe --station "
                                    f"{run.profile}`")
    assert (guard["instrument_timeout"] != "none") == (model == "N6705C")  # only it has WDOG
    (archived,) = archive.find_runs(tmp_path / "reports")
    page = (archived / "report.html").read_text()
    assert "Output guards (psu)" in page and f"bench safe --station {run.profile}" in page


def test_a_killed_watchdog_stops_the_run_and_the_record_says_so(
        tmp_path: Path, station: EmulatedStation) -> None:
    run = Run(tmp_path, station)
    try:
        run.held()
        pid = run.staged_record().guards["psu"]["watchdog_pid"]
        kill_9(pid)
        output = run.release()
    finally:
        run.process.kill()
    assert run.process.returncode == ExitCode.ERROR, output
    view = run.record()
    assert outcomes(view) == [("test_powered", "pass"), ("test_interrupted", "error")]
    expected = f"watchdog process {pid} is gone (killed by SIGKILL)"
    assert expected in view.steps[1]["message"]
    assert view.guards["psu"]["watchdog"] == f"LOST: {expected}; the run stopped"
    assert view.ending["cause"] == "resource_lost"
    assert not station.board.power.powered


@pytest.mark.parametrize("station", ["N6705C"], indirect=True)
def test_run_and_watchdog_both_killed_the_n6705c_holds_its_outputs_off_itself(
        tmp_path: Path, station: EmulatedStation) -> None:
    supply = station.instruments["psu"]
    run = Run(tmp_path, station, psu_keys="io_watchdog_s = 1\n")
    try:
        run.held()
        guard = run.staged_record().guards["psu"]
        assert station.board.power.powered, "the board should be powered mid-step"
        kill_9(guard["watchdog_pid"])
        kill_9(run.process.pid)  # as a crash of the PC or an OOM kill of the group does
    finally:
        run.process.kill()
        run.process.communicate()
    power = station.board.power
    with supply.device.changed:  # notified when the supply holds its outputs off
        assert supply.device.changed.wait_for(lambda: not power.powered, 30), "still powered"
    manager = pyvisa.ResourceManager("@py")  # a lab script's own session, no citebench driver
    with manager.open_resource(supply.resource, read_termination="\n",
                               write_termination="\n", timeout=2000) as psu:
        # programmed on, held off by the PROT protection, as the N6700 guide describes
        assert psu.query("OUTP? (@1);:STAT:QUES:COND? (@1)") == "1;+2048"
    assert guard["instrument_timeout"] == (
        "OUTP:PROT:WDOG: every output held off after 1 s without a message")
    assert "for up to 1 s, until the supply's own watchdog holds them off" in guard["not_covered"]
    again = Run(tmp_path / "again", station, psu_keys="io_watchdog_s = 1\n")
    try:  # the next run clears the hold, and disarms the supply's watchdog when it is done
        again.held()
        output = again.release()
    finally:
        again.process.kill()
    assert again.process.returncode == ExitCode.PASS, output
    with manager.open_resource(supply.resource, read_termination="\n",
                               write_termination="\n", timeout=2000) as psu:
        assert psu.query("OUTP:PROT:WDOG?;:OUTP? (@1);:STAT:QUES:COND? (@1)") == "0;0;+0"


def test_an_io_watchdog_delay_the_n6700_cannot_take_is_refused_at_load(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, [])
    profile.write_text(profile.read_text().replace("[psu]\n", "[psu]\nio_watchdog_s = 5000\n"))
    with pytest.raises(StationError, match=r"\[psu\]\.io_watchdog_s must be 0 \(off\) or "
                                           r"1\.\.3600 s, got 5000"):
        load_station(profile)
