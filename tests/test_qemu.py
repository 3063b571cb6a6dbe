"""The WS-100 firmware under QEMU: built from source, served like the Python model, torn down.

Every test here needs `qemu-system-arm` and `gcc-arm-none-eabi` (scripts/test installs them);
where they are missing the whole module is skipped with one line saying so
(tests/test_qemu_mailbox.py and tests/test_qemu_profile.py need neither). The plan runs are
kept few (about a minute in all on two cores): one full run of the serial and power plans, and
one plan per firmware defect build.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.emulation import emulate
from bench.record import load_record, measurement_key
from bench.station import load_station
from drivers.serial_link import SerialLink
from drivers.ws100 import Ws100Driver
from drivers.ws100_codec import Ws100Codec
from emulators.interfaces import BoardSettings
from emulators.qemu import qemu_available
from emulators.qemu_board import QemuBoard, firmware_defects
from emulators.qemu_mailbox import GUEST_ADDRESS, FwState
from emulators.qemu_ws100 import PHYSICS
from emulators.serial_transport import open_transport
from protocols.ws100_frames import crc16, encode_frame
from protocols.ws100_messages import Mode, MsgType, NackCode, parse_payload
from tests.plan_runner import ROOT, bench_run, junit_outcomes

FIRMWARE = ROOT / "firmware" / "ws100"
IMAGE = FIRMWARE / "build" / "ws100.elf"
STATION = ROOT / "fixtures" / "ws100-qemu.toml"
MISSING = qemu_available() or (None if shutil.which("arm-none-eabi-gcc") else
                               "arm-none-eabi-gcc is not installed (Debian: apt install "
                               "gcc-arm-none-eabi)")
if MISSING:  # one line in the summary, not one per test
    pytest.skip(f"firmware in the loop: {MISSING}", allow_module_level=True)
pytestmark = pytest.mark.plan_run


def test_firmware_builds_from_source_with_warnings_as_errors(tmp_path: Path) -> None:
    """`make` and `make defects` on a fresh copy of the sources: -Werror, no C library."""
    sources = tmp_path / "ws100"
    shutil.copytree(FIRMWARE, sources, ignore=shutil.ignore_patterns("build"))
    done = subprocess.run(["make", "-C", str(sources), "all", "defects"], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "-Werror" in done.stdout and "-nostdlib" in done.stdout
    built = sorted(p.parent.name for p in (sources / "build").glob("*/ws100.elf"))
    assert built == sorted(firmware_defects(IMAGE))
    assert (sources / "build" / "ws100.elf").stat().st_size > 0


@pytest.fixture
def board(request: pytest.FixtureRequest) -> Iterator[QemuBoard]:
    """The healthy firmware behind an unpowered supply (the station's psu decides); provisioned
    unless parametrized indirectly with False (no serial number in its flash)."""
    provisioned = getattr(request, "param", True)
    board = QemuBoard(BoardSettings(seed=3, powered=False, provisioned=provisioned), IMAGE,
                      "mps2-an385", PHYSICS)
    yield board
    board.shutdown()


@pytest.fixture
def dut(board: QemuBoard) -> Iterator[Ws100Driver]:
    """A driver on the board's UART over a real socket, the board powered and booted."""
    face = board.serial_face(open_transport("socket")).start()
    link = SerialLink(face.port, Ws100Codec(), timeout_s=1.0).open()
    board.power.supply(3.7)
    link.expect(r"boot #1\r\nready", 2.0)
    yield Ws100Driver(link)
    link.close()
    face.close()


def _nack(dut: Ws100Driver, raw: bytes, seq: int) -> int:
    dut.link.send_raw(raw)
    reply = dut.link.wait_reply(seq, 1.0)
    assert reply is not None and reply.type == MsgType.NACK, reply
    return parse_payload(MsgType.NACK, reply.payload).code


def test_every_nack_code(dut: Ws100Driver) -> None:
    """docs/protocol.md's NACK table, code by code, from the firmware itself."""
    link = dut.link
    cases = {
        NackCode.BAD_CRC: lambda s: encode_frame(MsgType.PING, s, b"x")[:-1] + b"\x00",
        NackCode.UNKNOWN_TYPE: lambda s: encode_frame(MsgType.TELEMETRY, s),
        NackCode.BAD_LENGTH: lambda s: encode_frame(MsgType.SET_STREAM, s, b"\x01"),
        NackCode.BAD_VALUE: lambda s: encode_frame(MsgType.SET_STREAM, s, b"\x01\xc9\x00"),
        NackCode.ALREADY_PROVISIONED: lambda s: encode_frame(MsgType.FACTORY_WRITE_SERIAL, s,
                                                             b"\x03ABC"),
    }
    for code, build in cases.items():
        seq = link.next_seq()
        assert _nack(dut, build(seq), seq) == code, code.name
    seq = link.next_seq()
    version_2 = bytes([2, MsgType.PING, seq, 0, 0])  # a well-formed frame of protocol version 2
    frame = b"\xa5\x5a" + version_2 + crc16(version_2).to_bytes(2, "little")
    assert _nack(dut, frame, seq) == NackCode.UNSUPPORTED_VERSION
    seq = link.next_seq()
    too_long = b"\xa5\x5a\x01\x01" + bytes([seq]) + (513).to_bytes(2, "little")
    assert _nack(dut, too_long, seq) == NackCode.BAD_LENGTH


@pytest.mark.parametrize("board", [False], indirect=True, ids=["blank"])
def test_factory_write_serial_is_write_once_and_survives_reset(dut: Ws100Driver) -> None:
    """A blank board takes its serial number once; it is in flash, so a reset keeps it."""
    assert dut.get_info().serial == ""
    reply = dut.request(MsgType.FACTORY_WRITE_SERIAL, {"serial": "CB-WS1-000777"})
    assert reply.serial == "CB-WS1-000777"
    dut.reset()
    assert dut.get_info().serial == "CB-WS1-000777"
    seq = dut.link.next_seq()
    again = encode_frame(MsgType.FACTORY_WRITE_SERIAL, seq, b"\x03ABC")
    assert _nack(dut, again, seq) == NackCode.ALREADY_PROVISIONED


def test_a_cut_frame_is_given_up_after_the_interbyte_timeout(dut: Ws100Driver) -> None:
    """A header promising 10 payload bytes, 3 sent: NACK BAD_LENGTH once the line stays quiet,
    then the next frame is answered (docs/protocol.md, Resynchronization)."""
    seq = dut.link.next_seq()
    cut = encode_frame(MsgType.PING, seq, bytes(10))[:10]
    assert _nack(dut, cut, seq) == NackCode.BAD_LENGTH
    assert dut.ping(b"after") < 1.0


@pytest.mark.parametrize("rate_hz", [1, 200])
def test_telemetry_at_the_ends_of_its_range(dut: Ws100Driver, rate_hz: int) -> None:
    """SET_STREAM 1 and 200 Hz: the counter has no gap and the rate is within 10 %."""
    window = dut.collect_telemetry(3.0 if rate_hz == 1 else 1.0, rate_hz)
    counters = [frame.counter for frame in window]
    assert counters == list(range(counters[0], counters[0] + len(counters)))
    rate = (len(window) - 1) / (window[-1].received_at - window[0].received_at)
    assert abs(rate - rate_hz) <= 0.1 * rate_hz, rate


def test_output_off_pauses_and_resets_the_guest(board: QemuBoard, dut: Ws100Driver) -> None:
    """Off: the guest stops and draws nothing; on: it boots again from its reset vector."""
    power = board.power
    dut.set_mode(Mode.ACTIVE)
    assert power.current_a() >= PHYSICS.mode_current_a[Mode.ACTIVE]
    power.supply(PHYSICS.brownout_v - 0.05)  # brown-out
    assert not board.vm.running()
    assert power.current_a() == 0.0
    assert board.vm.mailbox.view.state == FwState.OFF
    power.supply(3.7)
    dut.link.expect(r"boot #2\r\nready", 2.0)
    assert board.vm.running()
    assert dut.get_info().serial == PHYSICS.default_serial  # flash survives, RAM does not
    assert board.vm.mailbox.view.power_mode == Mode.IDLE
    dut.set_mode(Mode.SLEEP)  # the firmware publishes it; the supply reads the kit's table
    now = power.clock()
    floor = min(power.current_a(at=now + i * 0.01) for i in range(100))
    assert floor == PHYSICS.mode_current_a[Mode.SLEEP]


def test_reset_command_is_a_guest_reset(board: QemuBoard, dut: Ws100Driver) -> None:
    """RESET is answered, then the firmware asks the core for a system reset (SYSRESETREQ):
    QEMU reports a guest reset and the banner counts the boot."""
    banner = dut.reset()
    assert banner["boot"] == "2"
    board.vm.running()  # a QMP round trip collects the events QEMU sent meanwhile
    assert any(event["event"] == "RESET" and event["data"].get("guest")
               for event in board.vm.qmp.events), board.vm.qmp.events


def test_qmp_memory_read_sees_the_mailbox(board: QemuBoard, dut: Ws100Driver) -> None:
    """The bench's file mapping and QEMU's view of the guest address hold the same bytes."""
    seen = board.vm.read_memory(GUEST_ADDRESS, 0x2C)
    view = board.vm.mailbox.view
    assert seen[:4] == b"CBMB"
    assert int.from_bytes(seen[0x0C:0x10], "little") == view.supply_mv == 3700
    assert seen[0x24] == FwState.RUNNING


def _wait_gone(pid: int, timeout: float) -> bool:
    """Await the exit of a process that is not our child (pidfd: an event, not a poll)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def _qemu_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children
            if Path(f"/proc/{c}/comm").read_text().strip().startswith("qemu-system")]


@pytest.mark.parametrize("ending", ["sigkill", "sigterm"])
def test_no_qemu_survives_the_bench(ending: str) -> None:
    """`bench emulate` killed with -9 (or stopped): its QEMU goes with it."""
    bench = subprocess.Popen([sys.executable, "-m", "bench", "emulate", "--station",
                              str(STATION)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in bench.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        assert any(line.strip().startswith("dut") for line in lines), lines
        qemu = _qemu_children(bench.pid)
        assert len(qemu) == 1
        bench.send_signal(signal.SIGKILL if ending == "sigkill" else signal.SIGTERM)
        bench.wait(10)
        assert _wait_gone(qemu[0], 10), f"QEMU {qemu[0]} outlived the bench ({ending})"
    finally:
        bench.kill()
        bench.wait()


def test_closing_the_station_quits_qemu() -> None:
    with emulate(load_station(STATION)) as emulated:
        process = emulated.board.vm.process
        assert process.poll() is None
    assert process.poll() is not None


def test_qemu_station_passes_the_plans_ble_skipped_naming_the_station(tmp_path: Path) -> None:
    """The README's promise: `bench run --station fixtures/ws100-qemu.toml` PASS, every serial and
    power step run, the BLE and firmware-update steps skipped with the station's name."""
    done, record = bench_run(tmp_path, "--station", str(STATION))
    assert "verdict: PASS" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    outcomes: dict[str, set[str]] = {}
    for node, outcome in junit_outcomes(record.parent / "junit.xml").items():
        outcomes.setdefault(Path(node.split("::")[0]).name, set()).add(outcome)
    assert outcomes.pop("test_ble.py") == {"skipped"}
    assert outcomes.pop("test_dfu.py") == {"skipped"}  # the firmware has no MCUboot nor SMP
    assert set().union(*outcomes.values()) == {"passed"}, outcomes
    assert {"test_power_on.py", "test_power_current.py", "test_power_meter.py", "test_link.py",
            "test_robustness.py", "test_telemetry.py", "test_sensors.py"} <= set(outcomes)
    reasons = {skipped.get("message") for skipped in
               ET.parse(record.parent / "junit.xml").getroot().iter("skipped")}
    assert reasons and all("station qemu-ws100-no-radio" in reason for reason in reasons), reasons


@pytest.mark.parametrize("defect", sorted(firmware_defects(IMAGE)))
def test_firmware_defect_build_fails_its_measurement(defect: str, tmp_path: Path) -> None:
    """Each defect build (firmware/ws100/defects.toml) FAILs the measurement it names."""
    build = firmware_defects(IMAGE)[defect]
    done, record = bench_run(tmp_path, "--station", str(STATION), "--defect", defect,
                             "--plan", str(ROOT / "testplans" / "ws100" / build["plan"]))
    assert "verdict: FAIL" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    failed = {measurement_key(m) for step in load_record(record).steps
              for m in step.get("measurements", []) if m.get("outcome") == "fail"}
    assert build["caught_by"] in failed
