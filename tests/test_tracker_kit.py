"""The tracker kit as a user meets it: listed by `bench boards`, its emulated station passing
`bench run`, and its emulator checked from outside (raw pyvisa on its supply, Bumble's own
central on its NUS radio)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import pyvisa
from bumble.core import UUID
from bumble.device import Device, Peer
from bumble.hci import Address
from bumble.transport import open_transport as open_hci

from bench.exitcodes import ExitCode
from bench.station import load_station
from emulators.host import EmulatedStation
from emulators.interfaces import BoardSettings, EmulatedBoard, PowerFace
from emulators.tracker import TrackerEmulator
from emulators.tracker_board import BoardEvent, TrackerBoard
from emulators.tracker_radio import ATT_MTU, NUS_RX, NUS_SERVICE, NUS_TX
from fixtures.tracker import KIT
from tests.plan_runner import ROOT
from tests.test_tracker_codec import _unstuff_outside


def _bench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_bench_boards_lists_the_tracker() -> None:
    done = _bench("boards", "--json")
    assert done.returncode == 0, done.stderr
    (tracker,) = [kit for kit in json.loads(done.stdout) if kit["name"] == "tracker"]
    assert tracker["defects"] == sorted(KIT.defects) and len(tracker["defects"]) >= 4
    assert Path(tracker["plans"]) == ROOT / "testplans" / "tracker"
    assert Path(tracker["emulated_station"]) == ROOT / "fixtures" / "tracker-emulated.toml"
    assert sorted(tracker["faces"]) == ["power", "radio", "serial"]


def test_bench_run_passes_the_emulated_tracker(tmp_path: Path) -> None:
    done = _bench("run", "--station", "fixtures/tracker-emulated.toml", "--reports",
                  str(tmp_path), "--no-index")
    assert done.returncode == ExitCode.PASS, done.stdout[-3000:] + done.stderr[-2000:]
    assert "verdict: PASS" in done.stdout
    (record,) = tmp_path.glob("1eafc0de00002a17/*_PASS/record.jsonl")  # folder: the unique id
    events = [json.loads(line) for line in record.read_text().splitlines()]
    (dut,) = [e for e in events if e.get("kind") == "dut"]
    assert {k: dut[k] for k in ("board", "unique_id", "firmware", "hw_revision")} == {
        "board": "tracker", "unique_id": "1eafc0de00002a17", "firmware": "2.1.0",
        "hw_revision": "3"}
    steps = [e for e in events if e.get("kind") == "step"]
    assert len(steps) >= 25 and {s["outcome"] for s in steps} == {"pass"}


def test_a_ws100_plan_on_the_tracker_station_is_a_usage_error(tmp_path: Path) -> None:
    done = _bench("run", "--station", "fixtures/tracker-emulated.toml", "--reports",
                  str(tmp_path), "--plan", "testplans/ws100/test_link.py", "--no-index")
    assert "is a plan of board 'ws100', but station" in done.stdout + done.stderr
    assert done.returncode == ExitCode.USAGE and not list(tmp_path.rglob("record.jsonl"))


def test_profiles_name_the_tracker_and_bind_roles() -> None:
    emulated, desk = (load_station(ROOT / "fixtures" / f"tracker-{name}.toml")
                      for name in ("emulated", "desk"))
    assert emulated.kit is desk.kit is KIT
    assert emulated.emulated_roles() == ("dut", "psu", "radio") and desk.emulated_roles() == ()
    assert desk.psu is not None and desk.psu.max_voltage <= 5.5  # USB VBUS tolerance


def test_emulator_offers_the_kit_interfaces() -> None:
    emulator = TrackerEmulator(BoardSettings(seed=1))
    try:
        assert isinstance(emulator, EmulatedBoard) and isinstance(emulator.power, PowerFace)
        assert emulator.power.test_point_v("vbus") == 5.0
    finally:
        emulator.shutdown()


def test_supply_reads_run_and_shipping_current_through_raw_pyvisa() -> None:
    """The SCPI supply the host wires to the tracker's power face, read with plain pyvisa."""
    emulator = TrackerEmulator(BoardSettings(seed=2, powered=False))
    with EmulatedStation(emulator, {"psu"}) as station:
        rm = pyvisa.ResourceManager("@py")
        psu = rm.open_resource(station.resources["psu"], read_termination="\n",
                               write_termination="\n", timeout=5000)
        try:
            psu.write("VOLT 5.0,(@1);:CURR 0.5,(@1);:OUTP ON,(@1)")
            assert float(psu.query("MEAS:VOLT? (@1)")) > 4.9
            assert _booted(emulator.board), "no BOOT event 2 s after VBUS rose"
            running = float(psu.query("MEAS:CURR? (@1)"))
            emulator.board.ship()
            shipping = float(psu.query("MEAS:CURR? (@1)"))
            psu.write("OUTP OFF,(@1)")
            off = float(psu.query("MEAS:CURR? (@1)"))
        finally:
            psu.close()
            rm.close()
    assert 12e-3 < running < 25e-3
    assert shipping < 2e-6
    assert abs(off) < 1e-6


def _booted(board: TrackerBoard, timeout: float = 2.0) -> bool:
    """Wait for the board's BOOT event (it boots 80 ms after VBUS rises)."""
    booted = threading.Event()
    board.listen(lambda event: event is BoardEvent.BOOT and booted.set())
    return board.awake or booted.wait(timeout)


def test_bumble_central_reads_fragmented_frames_over_nus() -> None:
    """Bumble's own central (not bleak, not our driver): IDENTIFY written to RX comes back on
    TX in notifications of at most ATT_MTU - 3 bytes, which reassemble into a valid frame."""
    emulator = TrackerEmulator(BoardSettings(seed=4))
    radio = emulator.radio_face().start()
    try:
        notes = asyncio.run(_identify_over_nus(radio.resource, emulator.board.identity.ble_address))
    finally:
        radio.close()
        emulator.shutdown()
    assert len(notes) == 2 and max(map(len, notes)) == ATT_MTU - 3
    stream = b"".join(notes)
    assert stream[0] == 0 and stream[-1] == 0
    frame = _unstuff_outside(stream[1:-1])
    assert frame[:2] == b"\x81\x00" and frame[2:10] == (0x1EAFC0DE00002A17).to_bytes(8, "little")


async def _identify_over_nus(resource: str, address: str) -> list[bytes]:
    hci = await open_hci(resource)
    try:
        device = Device.with_hci("outside", Address("C0:11:22:33:44:55"), hci.source, hci.sink)
        await device.power_on()
        connection = await asyncio.wait_for(device.connect(Address(address)), 10)
        peer = Peer(connection)
        assert await peer.request_mtu(247) == ATT_MTU
        await peer.discover_services([UUID(NUS_SERVICE)])
        (service,) = peer.get_services_by_uuid(UUID(NUS_SERVICE))
        await service.discover_characteristics()
        (rx,) = service.get_characteristics_by_uuid(UUID(NUS_RX))
        (tx,) = service.get_characteristics_by_uuid(UUID(NUS_TX))
        arrived: asyncio.Queue[bytes] = asyncio.Queue()
        await peer.subscribe(tx, lambda value: arrived.put_nowait(bytes(value)))
        await peer.write_value(rx, bytes.fromhex("00 02 01 05 be 23 c2 58 00"),
                               with_response=True)
        notes = [await asyncio.wait_for(arrived.get(), 5)]
        while notes[-1][-1:] != b"\x00" or len(b"".join(notes)) < 3:
            notes.append(await asyncio.wait_for(arrived.get(), 5))
        await connection.disconnect()
        return notes
    finally:
        await hci.close()


def test_emulated_trackers_with_their_own_ids_have_their_own_radio_addresses() -> None:
    """Boards of a batch share one air: each chip id gives its own address (its low bytes, as
    the default board's F0:CA:FE:00:2A:17 ends in its id's 00 2A 17)."""
    addresses = []
    for unique_id in ("", "1eafc0de00002a17", "1eafc0de00002a18", "00000000000000ff"):
        emulator = TrackerEmulator(BoardSettings(unique_id=unique_id))
        addresses.append(emulator.board.identity.ble_address)
        emulator.shutdown()
    assert addresses == ["F0:CA:FE:00:2A:17", "F0:CA:FE:00:2A:17", "F0:CA:FE:00:2A:18",
                         "F0:CA:FE:00:00:FF"]
