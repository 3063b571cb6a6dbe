"""The emulated radio seen from outside: Bumble's own central, no citebench code on that side.

Scans and dumps the emulated WS-100 as a third-party tool would and checks it against the
Bluetooth SIG assigned numbers and the GATT Specification Supplement: 16-bit UUIDs for SIG
types, properties, the descriptors each characteristic must have, value encodings decoded with
`struct`, the AD structures of the advertisement and of the scan response, the ATT errors a strict
stack sends, and the link layer (advDelay, parameters as asked, supervision timeout on reset).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import statistics
import struct
from collections.abc import Iterator

import pytest
from bumble.att import ATT_Error
from bumble.core import UUID
from bumble.device import Advertisement, ConnectionParametersPreferences, Device, Peer
from bumble.hci import Address, Phy
from bumble.transport import open_transport

from emulators.radio import RadioFace
from emulators.ws100_board import BoardModel

BOARD = Address("C0:FF:EE:00:01:23")
# Not the station's values, so the test shows they come from the arguments, not a constant.
SPEC = {"company_id": 0x0A3C, "appearance": 0x0552, "name": "ws-conformance",
        "manufacturer": "Conformance Ltd"}
READ, WRITE, WRITE_NO_RSP, NOTIFY, INDICATE = 0x02, 0x08, 0x04, 0x10, 0x20
CCCD, ES_TRIGGER = 0x2902, 0x290D
# 16-bit service -> {16-bit characteristic: properties} (assigned numbers)
SIG_SERVICES = {
    0x180A: {0x2A29: READ, 0x2A24: READ, 0x2A25: READ, 0x2A27: READ, 0x2A26: READ},
    0x180F: {0x2A19: READ | NOTIFY},
    0x181A: {0x2A6E: READ | NOTIFY, 0x2A6F: READ | NOTIFY, 0x2A6D: READ | NOTIFY},
    0x1800: {0x2A00: READ, 0x2A01: READ},
}
COMMAND = UUID("a3c1e500-7c2b-4b8e-9f4e-3b1d0c1b0001")
TELEMETRY = UUID("a3c1e500-7c2b-4b8e-9f4e-3b1d0c1b0003")
SUPERVISION_MS = 200  # asked by this central; the reset must end the link after it, reason 0x08


@pytest.fixture
def face(board: BoardModel) -> Iterator[RadioFace]:
    radio = RadioFace(board, **SPEC).start()
    yield radio
    radio.close()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


class Central:
    """A bare Bumble central on the emulated radio's HCI transport."""

    def __init__(self, resource: str) -> None:
        self.resource = resource

    async def __aenter__(self) -> Device:
        self.hci = await open_transport(self.resource)
        self.device = Device.with_hci("third-party", Address("F0:F0:F0:00:00:01"),
                                      self.hci.source, self.hci.sink)
        await self.device.power_on()
        return self.device

    async def __aexit__(self, *exc: object) -> None:
        await self.hci.close()


async def _advertisements(device: Device, count: int, active: bool = True
                          ) -> list[tuple[float, Advertisement]]:
    seen: list[tuple[float, Advertisement]] = []
    enough = asyncio.Event()

    def on_advertisement(advertisement: Advertisement) -> None:
        if advertisement.address == BOARD:
            seen.append((asyncio.get_running_loop().time(), advertisement))
            if len(seen) >= count:
                enough.set()

    device.on("advertisement", on_advertisement)
    await device.start_scanning(active=active, filter_duplicates=False)
    await enough.wait()
    await device.stop_scanning()
    device.remove_listener("advertisement", on_advertisement)
    return seen


def _ad_structures(data: bytes) -> list[tuple[int, bytes]]:
    """AD structures as the Core Supplement lays them out: length, type, value."""
    structures, at = [], 0
    while at < len(data):
        length, kind = struct.unpack_from("<BB", data, at)
        structures.append((kind, data[at + 2:at + 1 + length]))
        at += 1 + length
    return structures


async def _connect(device: Device):
    return await device.connect(BOARD, connection_parameters_preferences={
        Phy.LE_1M: ConnectionParametersPreferences(
            connection_interval_min=15, connection_interval_max=15,
            supervision_timeout=SUPERVISION_MS)})


def test_advertising_is_legacy_with_its_own_scan_response(face: RadioFace) -> None:
    async def main():
        async with Central(face.resource) as device:
            passive = await _advertisements(device, 3, active=False)  # ADV_IND alone
            return passive, await _advertisements(device, 40)  # with SCAN_REQ / SCAN_RSP

    passive, seen = run(main())
    advertisement = seen[-1][1]
    assert advertisement.is_legacy and advertisement.is_connectable and advertisement.is_scannable
    adv_ind = passive[-1][1].data_bytes
    scan_response = advertisement.data_bytes  # the SCAN_RSP report's own data
    assert len(adv_ind) <= 31 and len(scan_response) <= 31
    structures = _ad_structures(adv_ind)
    # Flags, Shortened Local Name (the 14-byte name does not fit beside the rest), Manufacturer
    # Specific Data, Complete List of 16-bit Service UUIDs (assigned numbers)
    assert [kind for kind, _ in structures] == [0x01, 0x08, 0xFF, 0x03]
    flags, name, manufacturer, uuids = (value for _, value in structures)
    assert flags == b"\x06"  # LE General Discoverable, BR/EDR not supported
    assert name and SPEC["name"].encode().startswith(name) and len(adv_ind) == 31
    assert struct.unpack_from("<H", manufacturer)[0] == SPEC["company_id"]
    assert struct.unpack("<BBBBB", manufacturer[2:])[:3] == (1, 4, 2)  # firmware 1.4.2
    assert uuids == struct.pack("<H", 0x181A)
    assert _ad_structures(scan_response) == [  # appearance, TX power 0 dBm, the whole name
        (0x19, struct.pack("<H", SPEC["appearance"])), (0x0A, b"\x00"),
        (0x09, SPEC["name"].encode())]
    # advDelay: each event comes 0-10 ms after the 20 ms interval (RADIO_TEST mode)
    intervals = [b - a for (a, _), (b, _) in itertools.pairwise(seen)]
    # 20 ms + mean advDelay 5 ms; without advDelay the mean is 20 ms plus scheduling (< 21 ms).
    # The upper bound is loose: a loaded CI machine delays callbacks, it never hastens them.
    assert 0.0215 < statistics.mean(intervals) < 0.035
    assert statistics.pstdev(intervals) > 0.0015  # uniform 0-10 ms: about 2.9 ms


def test_gatt_database_as_firmware_builds_it(face: RadioFace, board: BoardModel) -> None:
    async def main():
        async with Central(face.resource) as device:
            peer = Peer(await _connect(device))
            found = {short: await peer.discover_service(UUID.from_16_bits(short))
                     for short in (0x180A, 0x180F, 0x181A)}
            await peer.discover_all()
            table = {}
            for service in peer.services:
                for char in service.characteristics:
                    await char.discover_descriptors()
                    table[(service.uuid, char.uuid)] = (
                        int(char.properties), [d.type for d in char.descriptors],
                        await char.read_value() if char.properties & READ else None)
            trigger = next(d for s in peer.services for c in s.characteristics
                           for d in c.descriptors if d.type == UUID.from_16_bits(ES_TRIGGER))
            return found, table, await trigger.read_value()

    found, table, trigger = run(main())
    assert all(len(services) == 1 for services in found.values()), found  # by 16-bit UUID
    for short_service, chars in SIG_SERVICES.items():
        service = UUID.from_16_bits(short_service)
        for short_char, props in chars.items():
            properties, descriptors, _ = table[(service, UUID.from_16_bits(short_char))]
            assert properties == props, hex(short_char)
            short = {len(d.to_bytes()) for d in descriptors}
            assert short <= {2}, "SIG descriptors are declared with 16-bit UUIDs"
            expected = ([ES_TRIGGER] if short_service == 0x181A else []) + (
                [CCCD] if props & (NOTIFY | INDICATE) else [])
            assert [int.from_bytes(d.to_bytes(), "little") for d in descriptors] == expected
    # the control service's own 128-bit base and mcumgr's SMP service (the dfu extra); everything
    # else is SIG
    vendor = ("A3C1E500", "8D53DC1D", "DA2E7828")
    for uuid in {u for pair in table for u in pair}:
        assert len(uuid.to_bytes()) == (16 if uuid.to_hex_str().startswith(vendor) else 2), uuid
    value = {char: read for (_, char), (_, _, read) in table.items()}
    sensors = board.read_sensors()
    temperature = struct.unpack("<h", value[UUID.from_16_bits(0x2A6E)])[0] * 0.01
    humidity = struct.unpack("<H", value[UUID.from_16_bits(0x2A6F)])[0] * 0.01
    pressure = struct.unpack("<I", value[UUID.from_16_bits(0x2A6D)])[0] * 0.1
    assert temperature == pytest.approx(sensors.temperature_c, abs=1.0)  # sint16, 0.01 degC
    assert humidity == pytest.approx(sensors.humidity_pct, abs=3.0)  # uint16, 0.01 %
    assert pressure == pytest.approx(sensors.pressure_pa, abs=100.0)  # uint32, 0.1 Pa
    assert struct.unpack("<B", value[UUID.from_16_bits(0x2A19)])[0] <= 100  # uint8, %
    assert struct.unpack("<H", value[UUID.from_16_bits(0x2A01)])[0] == SPEC["appearance"]
    assert value[UUID.from_16_bits(0x2A00)] == SPEC["name"].encode()
    assert value[UUID.from_16_bits(0x2A29)] == SPEC["manufacturer"].encode()
    assert trigger[0] in range(0x00, 0x0A) and len(trigger) == 4  # condition + uint24 seconds


def test_strict_att_errors(face: RadioFace, board: BoardModel) -> None:
    async def main():
        async with Central(face.resource) as device:
            peer = Peer(await _connect(device))
            await peer.discover_all()
            temperature = peer.get_characteristics_by_uuid(UUID.from_16_bits(0x2A6E))[0]
            await temperature.discover_descriptors()
            cccd = temperature.get_descriptor(UUID.from_16_bits(CCCD))
            command = peer.get_characteristics_by_uuid(COMMAND)[0]
            codes = []
            for target, value in [(cccd, b"\x01\x00\x00"),  # CCCD is 2 bytes
                                  (cccd, b"\x02\x00"),  # indicate on a notify-only value
                                  (command, b"\x01\x02\x00")]:  # the command is 2 bytes
                with pytest.raises(ATT_Error) as error:
                    await peer.write_value(target, value, with_response=True)
                codes.append(error.value.error_code)
            await peer.write_value(cccd, b"\x01\x00", with_response=True)  # the right one works
            # Write Command to a characteristic that offers only Write: dropped, no effect...
            await peer.write_value(command, b"\x01\x02", with_response=False)
            # ...while one to a CCCD (a descriptor) is taken.
            telemetry = peer.get_characteristics_by_uuid(TELEMETRY)[0]
            await telemetry.discover_descriptors()
            telemetry_cccd = telemetry.get_descriptor(UUID.from_16_bits(CCCD))
            await peer.write_value(telemetry_cccd, b"\x01\x00", with_response=False)
            return codes, await peer.read_value(telemetry_cccd)

    assert run(main()) == ([0x0D, 0x13, 0x0D], b"\x01\x00")
    assert board.mode.name == "RADIO_TEST"  # the write command did not set ACTIVE


def test_reset_ends_the_link_by_supervision_timeout(face: RadioFace, board: BoardModel) -> None:
    accepted: concurrent.futures.Future = concurrent.futures.Future()
    face.device.once("connection", lambda connection: accepted.set_result(connection.parameters))

    async def main():
        async with Central(face.resource) as device:
            connection = await _connect(device)
            loop = asyncio.get_running_loop()
            ended = loop.create_future()
            connection.on("disconnection", lambda reason: ended.set_result(
                (loop.time(), reason)))
            peripheral = await asyncio.wrap_future(accepted)  # as the board's host was told
            reset_at = loop.time()
            await loop.run_in_executor(None, board.reset)
            at, reason = await ended
            return peripheral, at - reset_at, reason

    peripheral, after_s, reason = run(main())
    assert (peripheral.connection_interval, peripheral.supervision_timeout) == (15.0,
                                                                                SUPERVISION_MS)
    assert reason == 0x08  # Connection Timeout, not 0x13 Remote User Terminated
    assert SUPERVISION_MS / 1000 <= after_s < SUPERVISION_MS / 1000 + 0.5


def test_counted_telemetry_from_outside(face: RadioFace) -> None:
    async def main():
        async with Central(face.resource) as device:
            peer = Peer(await _connect(device))
            await peer.discover_all()
            telemetry = peer.get_characteristics_by_uuid(TELEMETRY)[0]
            values: asyncio.Queue = asyncio.Queue()
            await peer.subscribe(telemetry, values.put_nowait)
            return [struct.unpack("<HhHI", await values.get())[0] for _ in range(5)]

    sequence = run(main())
    assert [b - a for a, b in itertools.pairwise(sequence)] == [1, 1, 1, 1]
