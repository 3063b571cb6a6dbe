"""One radio for all slots: emulated boards on one air, the radio broker's one central shared by
sessions (slot processes), through bleak's public API; and a real batch of slots on it.

Each session is an event loop of its own (the backend keeps one session per loop and socket),
so two loops in this process are two slots' sessions; a slot that dies is a real process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble.core import AdvertisingData
from bumble.device import Device
from bumble.hci import Address
from bumble.transport import open_transport

from bench import slots
from bench.emulation import emulate_slots
from bench.kits import board_kit
from bench.station import StationError, load_station
from drivers.bleak_broker import broker_backend
from drivers.bleak_bumble import bumble_backend
from drivers.psu import open_supply
from emulators.ble_peripheral import Air
from emulators.radio import RadioFace
from emulators.ws100 import radio_identity
from emulators.ws100_board import BoardModel, Identity
from protocols import gatt
from protocols.ws100_messages import Mode
from tests.test_slots import processes_of, slot_processes

ROOT = Path(__file__).resolve().parent.parent
RADIO_SPEC = radio_identity(board_kit("ws100").product_spec().data)
BOARDS = {"C0:FF:EE:00:00:01": "CB-WS1-000001", "C0:FF:EE:00:00:02": "CB-WS1-000002"}
A, B = BOARDS
ABSENT = "C0:00:00:00:00:09"
ATT_WRITE_NOT_PERMITTED = 0x03
LIMITS = {"max_voltage": 4.4, "max_current": 0.5}


class Loop:
    """An event loop on a thread of its own: one broker session, as one slot process has."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def submit(self, coroutine: Coroutine) -> Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine, timeout: float = 30) -> Any:
        return self.submit(coroutine).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def air() -> Iterator[dict[str, Any]]:
    """Two WS-100 boards on one air, advertising every 20 ms (RADIO_TEST)."""
    shared = Air(seed=3).start()
    boards, faces = {}, {}
    try:
        for number, (address, serial) in enumerate(BOARDS.items(), start=1):
            board = boards[address] = BoardModel(Identity(serial=serial, ble_address=address),
                                                 seed=number)
            board.set_mode(Mode.RADIO_TEST)
            faces[address] = RadioFace(board, **RADIO_SPEC).join(shared).start()
        yield {"air": shared, "boards": boards, "faces": faces}
    finally:
        for face in faces.values():
            face.close()
        shared.close()
        for board in boards.values():
            board.shutdown()


def _start_broker(transport: str, tmp: Path) -> tuple[subprocess.Popen, str, Path]:
    sock, log = tmp / "radio.sock", tmp / "broker.log"
    with log.open("w") as err:
        process = subprocess.Popen([sys.executable, "-m", "bench.radio_broker", transport,
                                    str(sock)], stdout=subprocess.PIPE, stderr=err, cwd=ROOT)
    line = process.stdout.readline().decode()  # type: ignore[union-attr]
    assert line.startswith(slots.BROKER_READY), log.read_text()
    return process, f"broker:{sock}", log


@pytest.fixture
def broker(air: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    process, transport, log = _start_broker(air["air"].resource, tmp_path)
    loops = [Loop(), Loop()]
    try:
        yield {"transport": transport, "loops": loops, "process": process, "log": log}
    finally:
        for loop in loops:
            loop.close()
        process.terminate()
        process.wait(10)
        process.stdout.close()  # type: ignore[union-attr]


def _connected(air: dict[str, Any], address: str) -> threading.Event:
    """Set once the board at `address` has lost its link, its connection seen first."""
    dropped = threading.Event()
    device = air["faces"][address].device
    device.on("connection", lambda c: c.on("disconnection", lambda _r: dropped.set()))
    return dropped


def test_one_scan_through_the_broker_sees_every_board_with_its_own_name_and_address(
        air, broker) -> None:
    scanner, _ = broker_backend(broker["transport"])

    async def discover() -> dict:
        return await BleakScanner.discover(timeout=0.5, return_adv=True, backend=scanner)

    found = broker["loops"][0].run(discover())
    assert {A, B} <= set(found)
    for address in (A, B):
        _, adv = found[address]
        assert adv.local_name == "citebench-ws" and adv.service_uuids == [
            gatt.ENVIRONMENTAL_SENSING]
        assert RADIO_SPEC["company_id"] in adv.manufacturer_data


def test_two_sessions_each_reach_their_own_board_and_not_the_others(air, broker) -> None:
    _, client_cls = broker_backend(broker["transport"])
    ready = threading.Barrier(2)

    first, second = broker["loops"]

    async def run(address: str, other: str) -> dict[str, Any]:
        """Connect, meet the other session (both links up), try its board, then use ours."""
        async with BleakClient(address, backend=client_cls, timeout=10) as client:
            await asyncio.to_thread(ready.wait, 20)
            try:
                await BleakClient(other, backend=client_cls, timeout=5).connect()
                refused = ""
            except BleakError as error:
                refused = str(error)
            await asyncio.to_thread(ready.wait, 20)  # nobody lets go before both tried
            queue = asyncio.Queue()
            serial = (await client.read_gatt_char(gatt.SERIAL_NUMBER)).decode()
            await client.start_notify(gatt.CONTROL_RESPONSE, lambda _c, d: queue.put_nowait(d))
            mode = Mode.SLEEP if address == A else Mode.ACTIVE
            await client.write_gatt_char(gatt.CONTROL_COMMAND, gatt.CONTROL_REQUEST.build(
                dict(op=gatt.ControlOp.SET_MODE, value=mode)), response=True)
            reply = gatt.CONTROL_REPLY.parse(await asyncio.wait_for(queue.get(), 10))
            return {"serial": serial, "mode": Mode(reply.mode), "refused": refused,
                    "parameters": client._backend.connection_parameters}

    futures = {A: first.submit(run(A, B)), B: second.submit(run(B, A))}
    results = {address: future.result(60) for address, future in futures.items()}
    for address, other in ((A, B), (B, A)):
        result = results[address]
        assert result["serial"] == BOARDS[address]
        assert result["mode"] == (Mode.SLEEP if address == A else Mode.ACTIVE)
        assert other in result["refused"] and "held by another slot's session (pid" in \
            result["refused"]
        assert result["parameters"]["interval_ms"] > 0
    assert air["boards"][A].mode == Mode.SLEEP and air["boards"][B].mode == Mode.ACTIVE


def test_errors_cross_the_broker_as_the_bleak_types_they_are(air, broker) -> None:
    _, client_cls = broker_backend(broker["transport"])

    async def main() -> None:
        with pytest.raises(BleakDeviceNotFoundError, match=ABSENT):
            await BleakClient(ABSENT, backend=client_cls, timeout=0.5).connect()
        async with BleakClient(A, backend=client_cls, timeout=10) as client:
            with pytest.raises(BleakGATTProtocolError) as refused:
                await client.write_gatt_char(gatt.SERIAL_NUMBER, b"x", response=True)
            assert refused.value.code == ATT_WRITE_NOT_PERMITTED
            with pytest.raises(BleakError, match="cannot notify"):
                await client.start_notify(gatt.SERIAL_NUMBER, lambda _c, _d: None)
            assert (await client.read_gatt_char(gatt.MODEL_NUMBER)) == b"WS-100"  # still up

    broker["loops"][0].run(main())


HOLDER = """
import asyncio, sys
from bleak import BleakClient
from drivers.bleak_broker import broker_backend
from drivers.bleak_bumble import bumble_backend
from drivers.psu import open_supply

async def main():
    _, client_cls = broker_backend(sys.argv[1])
    client = BleakClient(sys.argv[2], backend=client_cls, timeout=10)
    await client.connect()
    print("connected", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_a_killed_slots_link_is_dropped_and_only_its(air, broker) -> None:
    _, client_cls = broker_backend(broker["transport"])
    dropped = _connected(air, A)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, broker["transport"], A],
                              stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert holder.stdout.readline() == b"connected\n"  # type: ignore[union-attr]

        async def main() -> tuple[int, int, bool]:
            notes: asyncio.Queue = asyncio.Queue()
            async with BleakClient(B, backend=client_cls, timeout=10) as client:
                await client.start_notify(gatt.CONTROL_TELEMETRY,
                                          lambda _c, d: notes.put_nowait(d))
                await asyncio.wait_for(notes.get(), 10)
                os.kill(holder.pid, signal.SIGKILL)
                await asyncio.to_thread(dropped.wait, 20)
                was_dropped = dropped.is_set()
                while not notes.empty():
                    notes.get_nowait()
                after = [gatt.TELEMETRY.parse(await asyncio.wait_for(notes.get(), 10)).seq
                         for _ in range(3)]
                return len(after), len(set(after)), was_dropped and client.is_connected

        count, distinct, still_up = broker["loops"][0].run(main(), 60)
        assert still_up and count == distinct == 3
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]
    assert air["faces"][A].device.connections == {}
    assert f"session pid {holder.pid}: closed, dropping {A}" in broker["log"].read_text()


def test_a_lost_broker_fails_the_pending_call_at_once_naming_its_socket(air, broker) -> None:
    _, client_cls = broker_backend(broker["transport"])
    pending = broker["loops"][0].submit(
        BleakClient(ABSENT, backend=client_cls, timeout=60).connect())
    broker["process"].kill()
    with pytest.raises(BleakError, match=f"radio broker {broker['transport'][7:]}: connection "
                                         "lost"):
        pending.result(20)  # far before the connect's own 60 s


def _bumble_scan(transport: str, addresses: set[str]) -> dict[str, str]:
    """A third party's view: a plain Bumble device scanning on `transport` until it has heard
    every one of `addresses`; their advertised names."""

    async def scan() -> dict[str, str]:
        seen: dict[str, str] = {}
        every = asyncio.Event()
        async with await open_transport(transport) as hci:
            device = Device.with_hci("third-party", Address("F0:00:00:00:00:01"), hci.source,
                                     hci.sink)

            def on_advertisement(advertisement) -> None:
                name = advertisement.data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
                seen[str(advertisement.address).split("/")[0]] = name
                if addresses <= set(seen):
                    every.set()

            device.on("advertisement", on_advertisement)
            await device.power_on()
            await device.start_scanning(filter_duplicates=False)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(every.wait(), 10)
            await device.stop_scanning()
        return seen

    return asyncio.run(scan())


def test_bumbles_own_central_hears_every_emulated_slots_board_on_the_one_radio(
        tmp_path) -> None:
    station = tmp_path / "station.toml"
    station.write_text(SLOTS_STATION, encoding="utf-8")
    profile = load_station(station)
    with emulate_slots(profile, profile.slots) as emulated:
        transports = {emulated.resources[n]["radio"] for n in (1, 2)}
        assert len(transports) == 1, "one radio resource for every slot"
        with open_supply(emulated.resources[1]["psu"], limits=LIMITS, timeout_ms=2000) as psu:
            for channel in (1, 2):
                psu.channel(channel).voltage = 3.7
                psu.channel(channel).output = True
        addresses = {n: station.radio.address for n, station in emulated.stations.items()}
        assert len(set(addresses.values())) == 2, addresses
        seen = _bumble_scan(transports.pop(), set(addresses.values()))
    assert {address: seen.get(address) for address in addresses.values()} == {
        address: "citebench-ws" for address in addresses.values()}


SLOTS_STATION = (ROOT / "fixtures" / "ws100-slots.toml").read_text(encoding="utf-8").split(
    "[[slot]]")[0] + """
[[slot]]
number = 1
port = "emulator"
channel = 1

[[slot]]
number = 2
port = "emulator"
channel = 2
"""
BLE_PLAN = str(ROOT / "testplans" / "ws100" / "test_ble.py")
IDENTIFICATION = str(ROOT / "testplans" / "ws100" / "test_identification.py")


@pytest.mark.plan_run
def test_a_batch_of_two_slots_shares_one_radio_through_the_broker(tmp_path) -> None:
    station = tmp_path / "station.toml"
    station.write_text(SLOTS_STATION, encoding="utf-8")
    profile = load_station(station)
    reports = tmp_path / "reports"
    code = slots.run_batch(profile, profile.slots, reports, ["--plan", BLE_PLAN, "--no-index"])
    folder = next((reports / "batches").iterdir())
    logs = {p.name: p.read_text() for p in folder.glob("*.log")}
    assert code == 0, logs
    page = (folder / "batch.html").read_text()
    assert page.count("<td>PASS</td>") == 2
    connected = [line.split("session ", 1)[1] for line in logs["radio-broker.log"].splitlines()
                 if ": connected " in line]
    sessions = {line.split(":")[0] for line in connected}
    addresses = {line.split("connected ")[1].split()[0] for line in connected}
    assert len(sessions) == 2 and len(addresses) == 2, logs["radio-broker.log"]


@pytest.mark.plan_run
def test_a_batch_killed_with_sigkill_leaves_no_broker_holding_the_radio(air, tmp_path) -> None:
    """The broker holds the station's one radio (here a dongle the batch does not serve, as on
    a desk: an air of this process): nothing may keep it once the batch is gone, kill -9
    included (it dies with the batch, as QEMU does)."""
    station = tmp_path / "station.toml"
    radio = '[radio]\nresource = "emulator"'
    assert radio in SLOTS_STATION
    station.write_text(SLOTS_STATION.replace(radio, f'[radio]\nresource = "{air["air"].resource}"'),
                       encoding="utf-8")
    batch = subprocess.Popen([sys.executable, "-m", "bench", "run", "--station", str(station),
                              "--slots", "all", "--plan", IDENTIFICATION, "--no-index", "--reports",
                              str(tmp_path / "reports")], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    slots: dict[int, int] = {}
    try:
        for _ in range(1200):  # no event tells another process's child has started: look
            slots = slot_processes(batch.pid)
            if 1 in slots:
                break  # the slots start once the broker has said it listens
            assert batch.poll() is None, "the batch ended before its broker started"
            time.sleep(0.05)
        children = processes_of(batch.pid)
        held = {name: next(pid for pid, command in children.items() if name in command)
                for name in (b"bench.radio_broker", b"bench.zygote")}
        gone = {name: os.pidfd_open(pid) for name, pid in held.items()}
        batch.kill()
        batch.wait()
        for name, fd in gone.items():  # the zygote too: it would fork slots for nobody
            assert select.select([fd], [], [], 10)[0], f"{name.decode()} outlived the batch"
            os.close(fd)
    finally:
        batch.kill()
        for pid in slots.values():  # the slots run on in their own sessions (docs/lab.md)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def test_a_broker_that_cannot_open_the_radio_stops_the_batch_naming_it_and_its_log(
        tmp_path) -> None:
    station = tmp_path / "station.toml"
    station.write_text("""
[station]
id = "no-radio-here"
[emulator]
seed = 5
[dut]
board = "ws100"
port = "emulator"
[radio]
resource = "tcp-client:127.0.0.1:1"
backend = "bumble"
name = "citebench-ws"
[[slot]]
number = 1
port = "emulator"
channel = 1
""", encoding="utf-8")
    profile = load_station(station)
    with pytest.raises(StationError, match=r"radio broker on tcp-client:127\.0\.0\.1:1 did not "
                                           r"start .*radio-broker\.log.*cannot open Bumble HCI"):
        slots.run_batch(profile, profile.slots, tmp_path / "reports", ["--no-index"])


def test_link_reports_cross_the_broker_as_the_bumble_backend_gives_them(air, broker) -> None:
    """Connection parameters and the disconnection's HCI reason (drivers/ble.py reads both off
    the backend), through the broker and in-process on the same air."""

    async def report(client_cls: type) -> tuple[dict, int | None]:
        client = BleakClient(A, backend=client_cls, timeout=10)
        await client.connect()
        parameters = client._backend.connection_parameters
        await client.disconnect()
        return parameters, client._backend.disconnect_reason

    brokered = broker["loops"][0].run(report(broker_backend(broker["transport"])[1]))
    in_process = asyncio.run(report(bumble_backend(air["air"].resource)[1]))
    assert brokered == in_process and brokered[1] is not None
