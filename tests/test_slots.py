"""Several boards on one station: `[[slot]]` profiles, emulated boards on one supply, channel
ownership, and `bench run --slots` batches whose every ending leaves the outputs off.

The batches run real slot processes (`bench run` each, pytest inside) against emulated boards
on ptys and a supply served over loopback TCP in this process, so its commands can be read.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import slots
from bench.cli import main
from bench.emulation import emulate_slots
from bench.station import DEFAULT_PROFILE, StationError, load_station
from drivers.psu import open_supply
from emulators.psu import E36312A
from emulators.psu_n6700 import N6705C
from emulators.scpi_server import ScpiServer
from emulators.ws100_board import BoardModel

ROOT = Path(__file__).resolve().parent.parent
SLOTS_PROFILE = ROOT / "fixtures" / "ws100-slots.toml"
LIMITS = {"max_voltage": 4.4, "max_current": 0.5}
PLAN = str(ROOT / "testplans" / "ws100" / "test_identification.py")
OFF = re.compile(r"OUTP OFF,\(@([\d,]+)\)")


def _profile(tmp: Path, text: str) -> Path:
    path = tmp / "station.toml"
    path.write_text(text, encoding="utf-8")
    return path


STATION = """
[station]
id = "slots-test"
[emulator]
seed = 5
[dut]
board = "ws100"
port = "emulator"
[psu]
resource = "{psu}"
[[slot]]
number = 1
port = "emulator"
channel = 2
[[slot]]
number = 2
port = "emulator"
channel = {second}
"""


def test_a_profile_declares_its_slots():
    profile = load_station(SLOTS_PROFILE)
    assert [(s.number, s.channel) for s in profile.slots] == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert profile.meter_slot == 1


def test_two_slots_on_one_channel_are_refused_naming_both(tmp_path):
    path = _profile(tmp_path, STATION.format(psu="emulator", second=2))
    with pytest.raises(StationError, match=r"\[\[slot\]\] #2\.channel = 2 is already "
                                           r"slot #1's"):
        load_station(path)


def test_an_unknown_slot_is_a_usage_error_before_anything_runs(tmp_path, capsys):
    code = main(["run", "--station", str(SLOTS_PROFILE), "--slots", "1,7",
                 "--reports", str(tmp_path)])
    assert code == 2
    assert "no [[slot]] number 7; it has 1, 2, 3, 4" in capsys.readouterr().err
    assert not (tmp_path / "batches").exists()


def test_emulated_slots_need_a_channel_each(capsys):
    code = main(["emulate", "--slots", "4"])  # the default station's E36312A has 3 channels
    assert code == 2
    assert "the emulated E36312A has 3 channels" in capsys.readouterr().err
    profile = load_station(DEFAULT_PROFILE)
    assert [(s.number, s.channel) for s in slots.emulated_slots(profile, 3)] == [
        (1, 1), (2, 2), (3, 3)]


def test_a_slots_profile_is_a_station_profile_of_its_own(tmp_path):
    profile = load_station(SLOTS_PROFILE)
    resources = {"dut": "/dev/pts/99", "psu": "TCPIP0::127.0.0.1::5025::SOCKET",
                 "dmm": "TCPIP0::127.0.0.1::5026::SOCKET", "radio": "tcp-client:127.0.0.1:1"}
    text = slots.slot_profile(profile, profile.slot(2), resources)
    derived = load_station(_profile(tmp_path, text))
    assert (derived.station.slot, derived.dut.port, derived.psu.channel) == (2, "/dev/pts/99", 2)
    assert derived.psu.resource == resources["psu"] and derived.emulator is None
    assert derived.dmm is None  # the meter's probes are on slot 1's board
    assert derived.psu.calibration_due == profile.psu.calibration_due


@pytest.fixture
def shared() -> Iterator[dict]:
    """Two emulated boards of the slots station on one emulated N6705C."""
    profile = load_station(SLOTS_PROFILE)
    with emulate_slots(profile, profile.slots[:2]) as emulated:
        yield {"resource": emulated.resources[1]["psu"],
               "boards": {n: emulated.stations[n].board.power for n in (1, 2)}}


def test_each_emulated_board_is_powered_by_its_own_channel(shared):
    with open_supply(shared["resource"], limits=LIMITS, timeout_ms=2000) as supply:
        supply.channel(2).voltage = 3.6
        supply.channel(2).output = True
        assert shared["boards"][2].supply_v == 3.6
        assert shared["boards"][1].supply_v == 0.0
        assert supply.channel(2).current > 0 and supply.channel(1).current < 1e-4


def test_a_slot_switching_off_touches_only_its_own_channel(shared):
    with open_supply(shared["resource"], limits=LIMITS, timeout_ms=2000) as first, \
            open_supply(shared["resource"], limits=LIMITS, timeout_ms=2000) as second:
        first.own([1])
        second.own([2])
        for supply, number in ((first, 1), (second, 2)):
            supply.channel(number).voltage = 3.7
            supply.channel(number).output = True
        second.all_off()
        assert not second.channel(2).output  # answered after the off message ran
        assert shared["boards"][1].supply_v == 3.7, "slot 2 switched slot 1's board off"
        assert shared["boards"][2].supply_v == 0.0
        with pytest.raises(ValueError, match="no channel 1"):
            second.channel(1)


class _Unopened:
    """A resource never written to: the off message is built, not sent."""

    resource_name = "TCPIP0::192.0.2.1::5025::SOCKET"


@pytest.mark.parametrize("family", ["E36300", "N6700", "DP800", "SPD3303X"])
def test_every_familys_off_message_names_only_the_owned_channel(family):
    from drivers.psu import family_of

    cls = next(family_of(model) for model in ("E36312A", "N6705C", "DP832", "SPD3303X")
               if family_of(model).family == family)
    supply = cls(_Unopened(), LIMITS)
    assert "1" in supply.off_message()  # the whole supply: channel 1 too
    supply.own([2])
    assert re.findall(r"\d", supply.off_message()) == ["2"], supply.off_message()


@pytest.fixture(params=[E36312A])
def supply(request: pytest.FixtureRequest) -> Iterator[ScpiServer]:
    """A supply served in this process for batches of real slot processes to share."""
    board = BoardModel(powered=False, seed=5)
    try:
        with ScpiServer(request.param(board, board_channel=1, seed=5)) as server:
            yield server
    finally:
        board.shutdown()


def _off_messages(device: E36312A) -> list[list[int]]:
    return [[int(n) for n in found.group(1).split(",")]
            for found in map(OFF.search, list(device.commands)) if found]


@pytest.mark.plan_run
@pytest.mark.parametrize("supply", [E36312A, N6705C], indirect=True)
def test_a_batch_runs_each_slot_on_its_own_channel_and_ends_with_outputs_off(supply, tmp_path):
    profile = load_station(_profile(tmp_path, STATION.format(psu=supply.resource, second=3)))
    reports = tmp_path / "reports"
    code = slots.run_batch(profile, profile.slots, reports, ["--plan", PLAN, "--no-index"])
    assert code == 0
    device = supply.device
    commands = [c.upper() for c in device.commands]
    assert commands.count("*CLS") == 1, "only the batch clears"
    if isinstance(device, N6705C):  # the I/O watchdog is instrument-wide: the batch's alone
        assert [c for c in commands if c.startswith("OUTP:PROT:WDOG ")] == [
            "OUTP:PROT:WDOG 1", "OUTP:PROT:WDOG OFF"]
    every = sorted(device.ratings)
    offs = _off_messages(device)
    assert offs.count(every) == 2, "the batch switches every output off, first and last"
    foreign = [channels for channels in offs if channels != every
               and channels not in ([2], [3])]
    assert not foreign, f"a slot switched off channels it does not own: {foreign}"
    assert [2] in offs and [3] in offs
    assert not any(out.on for out in device.outputs.values())
    page = next((reports / "batches").glob("*/batch.html")).read_text()
    assert page.count("<td>PASS</td>") == 2 and "report.html" in page
    assert len(list(reports.glob("CB-WS1-*/*_PASS/report.html"))) == 2


def _sensors_batch(supply: ScpiServer, tmp_path: Path
                   ) -> tuple[threading.Thread, dict[str, int]]:
    """A 2-slot batch of the sensors plan on `supply`, started in a thread; its code lands in
    the dict once it ends."""
    profile = load_station(_profile(tmp_path, STATION.format(psu=supply.resource, second=3)))
    plan = str(ROOT / "testplans" / "ws100" / "test_sensors.py")
    result: dict[str, int] = {}
    batch = threading.Thread(target=lambda: result.setdefault("code", slots.run_batch(
        profile, profile.slots, tmp_path / "reports", ["--plan", plan, "--no-index"])))
    batch.start()
    return batch, result


@pytest.mark.plan_run
def test_a_killed_slot_switches_off_only_its_channel_and_the_batch_says_error(supply,
                                                                             tmp_path):
    """Its watchdog acts before the batch's own last all-off, however late: here it is held
    (SIGSTOP) until the other slot has ended, and the batch still waits for it."""
    batch, result = _sensors_batch(supply, tmp_path)
    watchdog = 0
    try:
        assert supply.device.wait_command("OUTP 1,(@3)", timeout=60), "slot 2 never powered"
        victim, other = _slot_process(2), _slot_process(1)
        watchdog = _child(victim, b"bench.watchdog")
        os.kill(watchdog, signal.SIGSTOP)
        os.kill(victim, signal.SIGKILL)
        _wait_gone(other)
    finally:
        if watchdog:
            os.kill(watchdog, signal.SIGCONT)
        batch.join(timeout=180)
    assert result["code"] == 3  # ERROR: a slot ended without a verdict
    commands = list(supply.device.commands)
    after_kill = commands[max(i for i, c in enumerate(commands) if c.startswith("OUTP 1,(@3)")):]
    assert "OUTP OFF,(@3)" in after_kill, "the killed slot's watchdog did not switch it off"
    assert after_kill.index("OUTP OFF,(@3)") < after_kill.index("OUTP OFF,(@1,2,3)"), (
        "the batch's last all-off came before the killed slot's watchdog had acted")
    offs = _off_messages(supply.device)
    assert offs.count([1, 2, 3]) == 2
    assert all(channels in ([1, 2, 3], [2], [3]) for channels in offs), offs
    assert not any(out.on for out in supply.device.outputs.values())
    page = next((tmp_path / "reports" / "batches").glob("*/batch.html")).read_text()
    assert "<td>PASS</td>" in page and "none (exit -9)" in page
    assert re.search(r"run gone; TCPIP0::127\.0\.0\.1::\d+::SOCKET \(E36312A\): every output "
                     r"off", page), "the batch page does not say what the watchdog did"


@pytest.mark.plan_run
def test_a_lost_zygote_makes_the_batch_an_error_naming_it_and_its_slots_end_their_runs(
        supply, tmp_path, capsys):
    batch, result = _sensors_batch(supply, tmp_path)
    try:
        assert supply.device.wait_command("OUTP 1,(@3)", timeout=60), "slot 2 never powered"
        zygote = _child(os.getpid(), b"bench.zygote")
        os.kill(zygote, signal.SIGKILL)
    finally:
        batch.join(timeout=180)
    assert result["code"] == 3  # ERROR
    out = capsys.readouterr().out
    assert re.search(rf"batch ERROR: the slot zygote \(pid {zygote}\) is gone \(exit -9\), its "
                     rf"log {tmp_path}/reports/batches/\w+/zygote\.log", out), out
    assert not any(out.on for out in supply.device.outputs.values())
    # the batch waited for them (their pipes): each archived its own run, whatever its verdict
    assert len(list((tmp_path / "reports").glob("CB-WS1-*/*/record.jsonl"))) == 2


def processes_of(parent: int) -> dict[int, bytes]:
    """pid -> command line of `parent`'s child processes."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found[int(entry.name)] = (entry / "cmdline").read_bytes()
    return found


def _child(parent: int, marker: bytes) -> int:
    """The pid of `parent`'s child process whose command line holds `marker`."""
    found = [pid for pid, command in processes_of(parent).items() if marker in command]
    assert found, f"process {parent} has no child running {marker.decode()}"
    return found[0]


def _wait_gone(pid: int) -> None:
    """Until process `pid` (not this one's child) has exited: its pidfd turns readable."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        assert select.select([fd], [], [], 120)[0], f"process {pid} still runs after 120 s"
    finally:
        os.close(fd)


def slot_processes(batch: int) -> dict[int, int]:
    """Slot number -> pid of the slots process `batch` has started: forks of its zygote
    (bench/zygote.py), each named `bench-slot<number>`."""
    found = {}
    for pid in (slot for zygote in processes_of(batch) for slot in processes_of(zygote)):
        with contextlib.suppress(OSError):  # ended meanwhile
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            if comm.startswith("bench-slot"):
                found[int(comm.removeprefix("bench-slot"))] = pid
    return found


def _slot_process(number: int) -> int:
    """The pid of this test's slot process `number`."""
    found = slot_processes(os.getpid())
    assert number in found, f"no slot {number} process found: {found}"
    return found[number]


@pytest.mark.plan_run
def test_a_batch_stopped_by_sigterm_ends_every_slot_aborted_with_outputs_off(supply, tmp_path):
    profile = load_station(_profile(tmp_path, STATION.format(psu=supply.resource, second=3)))
    plan = str(ROOT / "testplans" / "ws100" / "test_telemetry.py")  # 2 s of steps once powered

    def stop_when_the_first_is_on() -> None:
        if supply.device.wait_command("OUTP 1,(@2)", timeout=60):  # slot 1's first step
            os.kill(os.getpid(), signal.SIGTERM)  # the batch runs in this (the main) thread

    threading.Thread(target=stop_when_the_first_is_on, daemon=True).start()
    code = slots.run_batch(profile, profile.slots, tmp_path / "reports",
                           ["--plan", plan, "--no-index"])
    assert code == 4  # ABORTED
    page = next((tmp_path / "reports" / "batches").glob("*/batch.html")).read_text()
    # slot 1 is stopped in a step; slot 2 wherever it was: in a step, before its first one (no
    # record), still starting Python (killed before anything was powered: exit -15), or past
    # its last step (it took the shared supply first): then the verdict it earned
    rows = dict(re.findall(r"<tr><td>(\d)</td><td>([^<]*)</td>", page))
    assert list(rows) == ["1", "2"], page
    assert rows["1"] == "ABORTED", rows
    assert rows["2"].startswith("ABORTED") or rows["2"] in ("none (exit -15)", "PASS"), rows
    assert all(channels in ([1, 2, 3], [2], [3]) for channels in _off_messages(supply.device))
    assert not any(out.on for out in supply.device.outputs.values())
