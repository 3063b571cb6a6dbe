"""The Bumble backend meets bleak's own expectations, used only through bleak's public API."""

import asyncio
from collections.abc import Iterator

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import (
    BleakCharacteristicNotFoundError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
    BleakGATTProtocolErrorCode,
)
from bumble import gatt as bumble_gatt

from bench.kits import board_kit
from drivers.bleak_bumble import MTU, bumble_backend
from emulators.ble_peripheral import BlePeripheral, Props, attribute_uuid
from emulators.radio import RadioFace
from emulators.ws100 import radio_identity
from emulators.ws100_board import BoardModel
from protocols import gatt
from protocols.ws100_messages import Mode

RADIO_SPEC = radio_identity(board_kit("ws100").product_spec().data)

ADDRESS = "C0:FF:EE:00:01:23"
ABSENT = "C0:00:00:00:00:01"
PUBLIC = "00:1B:DC:00:00:42"  # a public (IEEE-assigned) address


@pytest.fixture
def backend(board: BoardModel) -> Iterator[tuple[type, type]]:
    radio = RadioFace(board, **RADIO_SPEC).start()  # a fresh link and peripheral per test
    yield bumble_backend(radio.resource)
    radio.close()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 20))


def test_discover_reports_advertisement_data(backend) -> None:
    scanner, _ = backend
    found = run(BleakScanner.discover(timeout=0.3, return_adv=True, backend=scanner))
    device, adv = found[ADDRESS]
    assert device.name == adv.local_name == "citebench-ws"
    assert adv.service_uuids == [gatt.ENVIRONMENTAL_SENSING]
    payload = gatt.MANUFACTURER_PAYLOAD.parse(adv.manufacturer_data[RADIO_SPEC["company_id"]])
    assert (payload.fw_major, payload.fw_minor, payload.fw_patch) == (1, 4, 2)
    assert isinstance(adv.rssi, int)


def test_find_by_address_name_and_service_filter(backend) -> None:
    scanner, _ = backend
    assert run(BleakScanner.find_device_by_address(ADDRESS, timeout=2, backend=scanner))
    assert run(BleakScanner.find_device_by_name("citebench-ws", timeout=2, backend=scanner))
    assert run(BleakScanner.find_device_by_name("nobody", timeout=0.2, backend=scanner)) is None
    other = run(BleakScanner.discover(timeout=0.2, service_uuids=[gatt.BATTERY_SERVICE],
                                      backend=scanner))
    assert other == []


def test_services_collection_is_filled_on_connect(backend) -> None:
    _, client_cls = backend

    async def main():
        async with BleakClient(ADDRESS, backend=client_cls, timeout=5) as client:
            services = client.services
            dis = services.get_service(gatt.DEVICE_INFORMATION)
            assert {c.uuid for c in dis.characteristics} >= {gatt.SERIAL_NUMBER,
                                                             gatt.MODEL_NUMBER}
            temperature = services.get_characteristic(gatt.TEMPERATURE_UUID)
            assert temperature.properties == ["read", "notify"]
            assert temperature.service_uuid == gatt.ENVIRONMENTAL_SENSING
            assert [d.uuid for d in temperature.descriptors] == [gatt.ES_TRIGGER_SETTING,
                                                                 gatt.CCCD]
            assert services.get_characteristic(gatt.CONTROL_COMMAND).properties == ["write"]
            assert client.mtu_size == MTU
            assert temperature.max_write_without_response_size == MTU - 3
            return await client.read_gatt_char(gatt.SERIAL_NUMBER)

    assert run(main()) == bytearray(b"CB-WS1-000123")


def test_notifications_reach_bleaks_callbacks(backend, board: BoardModel) -> None:
    _, client_cls = backend

    async def main():
        received: asyncio.Queue = asyncio.Queue()
        async with BleakClient(ADDRESS, backend=client_cls) as client:
            def on_notify(char: BleakGATTCharacteristic, data: bytearray) -> None:
                received.put_nowait((char.uuid, bytes(data)))

            await client.start_notify(gatt.CONTROL_RESPONSE, on_notify)
            await client.write_gatt_char(gatt.CONTROL_COMMAND, gatt.CONTROL_REQUEST.build(
                dict(op=gatt.ControlOp.SET_MODE, value=Mode.ACTIVE)), response=True)
            uuid, data = await received.get()
            await client.stop_notify(gatt.CONTROL_RESPONSE)
            return uuid, gatt.CONTROL_REPLY.parse(data)

    uuid, reply = run(main())
    assert uuid == gatt.CONTROL_RESPONSE
    assert (reply.status, reply.mode) == (gatt.ControlStatus.OK, Mode.ACTIVE)
    assert board.mode is Mode.ACTIVE


def test_errors_are_bleaks_exceptions(backend) -> None:
    _, client_cls = backend

    async def main():
        async with BleakClient(ADDRESS, backend=client_cls) as client:
            with pytest.raises(BleakCharacteristicNotFoundError):
                await client.read_gatt_char("0000ffff-0000-1000-8000-00805f9b34fb")
            with pytest.raises(BleakGATTProtocolError) as read_error:
                await client.read_gatt_char(gatt.CONTROL_COMMAND)  # write-only
            with pytest.raises(BleakGATTProtocolError) as write_error:
                await client.write_gatt_char(gatt.SERIAL_NUMBER, b"x", response=True)
            return read_error.value.code, write_error.value.code

    assert run(main()) == (BleakGATTProtocolErrorCode.READ_NOT_PERMITTED,
                           BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED)


def test_absent_device_is_bleak_device_not_found(backend) -> None:
    _, client_cls = backend
    with pytest.raises(BleakDeviceNotFoundError) as error:
        run(BleakClient("C0:00:00:00:00:01", backend=client_cls, timeout=0.3).connect())
    assert "C0:00:00:00:00:01" in str(error.value)


def test_unreachable_transport_is_a_bleak_error() -> None:
    scanner, _ = bumble_backend("tcp-client:127.0.0.1:1")
    with pytest.raises(BleakError, match=r"tcp-client:127\.0\.0\.1:1"):
        run(BleakScanner.discover(timeout=0.1, backend=scanner))


def test_disconnected_callback_on_peripheral_drop(backend, board: BoardModel) -> None:
    _, client_cls = backend

    async def main():
        dropped = asyncio.Event()
        client = BleakClient(ADDRESS, lambda c: dropped.set(), backend=client_cls)
        await client.connect()
        board.reset()  # the firmware restarts: the link drops without the central asking
        await dropped.wait()
        connected = client.is_connected
        with pytest.raises(BleakError):
            await client.read_gatt_char(gatt.SERIAL_NUMBER)
        await client.connect()  # and the board can be reached again
        value = await client.read_gatt_char(gatt.SERIAL_NUMBER)
        await client.disconnect()
        return connected, value, client.is_connected

    assert run(main()) == (False, bytearray(b"CB-WS1-000123"), False)


# --- bleak's promises (issue 11): each through bleak's public API only ----------------------
class _PublicAddressTag(BlePeripheral):
    """A peripheral with a public (IEEE) address, as a USB-dongle-era board or a module has."""

    def services(self) -> list:
        return [bumble_gatt.Service(attribute_uuid(gatt.BATTERY_SERVICE), [
            self.characteristic(gatt.BATTERY_LEVEL, Props.READ, lambda _c: b"\x2a")])]

    def on_connection(self, connection) -> None:
        connection.on("disconnection", lambda _reason: self.spawn(self.advertise(
            b"\x02\x01\x06", b"", 0.02)))


def test_public_address_is_honoured() -> None:
    tag = _PublicAddressTag(name="tag", address=PUBLIC, appearance=0, public_address=True).start()
    tag.call(tag.advertise(b"\x02\x01\x06", b"", 0.02))
    scanner_cls, client_cls = bumble_backend(tag.resource)

    async def main():
        device = await BleakScanner.find_device_by_address(PUBLIC, timeout=2, backend=scanner_cls)
        async with BleakClient(device, backend=client_cls, timeout=2) as by_device:
            first = await by_device.read_gatt_char(gatt.BATTERY_LEVEL)
        # by its address string alone: the backend learns the type as BlueZ does, by a scan
        async with BleakClient(PUBLIC, backend=client_cls, timeout=2) as by_string:
            return first, await by_string.read_gatt_char(gatt.BATTERY_LEVEL)

    try:
        assert run(main()) == (bytearray(b"\x2a"), bytearray(b"\x2a"))
    finally:
        tag.close()


def test_failed_connect_leaves_other_links_alone(backend) -> None:
    _, client_cls = backend

    async def main():
        dropped = asyncio.Event()
        async with BleakClient(ADDRESS, lambda c: dropped.set(), backend=client_cls) as a:
            with pytest.raises(BleakDeviceNotFoundError):
                await BleakClient(ABSENT, backend=client_cls, timeout=0.3).connect()
            await asyncio.sleep(0.1)  # a wrongly released central would drop A by now
            return dropped.is_set(), a.is_connected, await a.read_gatt_char(gatt.SERIAL_NUMBER)

    assert run(main()) == (False, True, bytearray(b"CB-WS1-000123"))


def test_concurrent_connects_surface_only_bleak_errors(backend) -> None:
    """Two attempts at once on one controller: HCI says COMMAND_DISALLOWED to the second unless
    the backend serializes them; either way bleak's callers see only bleak's exceptions."""
    _, client_cls = backend

    async def main():
        attempts = [BleakClient(f"C0:00:00:00:00:0{i}", backend=client_cls, timeout=0.4)
                    .connect() for i in (1, 2)]
        return await asyncio.gather(*attempts, return_exceptions=True)

    assert [type(error) for error in run(main())] == [BleakDeviceNotFoundError] * 2


def test_connect_never_outlives_its_timeout(backend) -> None:
    _, client_cls = backend

    async def main():
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(BleakDeviceNotFoundError):
            await BleakClient(ABSENT, backend=client_cls, timeout=0.5).connect()
        return loop.time() - started

    assert run(main()) < 0.5 + 0.5  # the bound plus scheduling on a loaded machine


def test_power_loss_ends_the_link_by_supervision_timeout(backend, board: BoardModel) -> None:
    """The board goes dark without a word: bleak hears of it after the supervision timeout
    (420 ms, BlueZ's default), not after the 30 s ATT timeout, and a pending read fails then."""
    _, client_cls = backend

    async def main():
        loop = asyncio.get_running_loop()
        dropped = loop.create_future()
        client = BleakClient(ADDRESS, lambda c: dropped.done() or dropped.set_result(loop.time()),
                             backend=client_cls)
        await client.connect()
        cut = loop.time()
        board.supply(0.0)
        with pytest.raises(BleakError):
            await client.read_gatt_char(gatt.SERIAL_NUMBER)
        failed = loop.time() - cut
        return failed, await dropped - cut, client.is_connected

    failed, dropped, connected = run(main())
    assert 0.42 <= dropped < 0.42 + 0.5 and failed < 0.42 + 0.5 and not connected


def test_start_notify_without_notify_property_raises(backend) -> None:
    _, client_cls = backend

    async def main():
        async with BleakClient(ADDRESS, backend=client_cls) as client:
            with pytest.raises(BleakError, match="cannot notify"):
                await client.start_notify(gatt.SERIAL_NUMBER, lambda c, d: None)

    run(main())


def test_second_start_notify_replaces_the_first(backend) -> None:
    _, client_cls = backend

    async def main():
        first, second = [], []
        async with BleakClient(ADDRESS, backend=client_cls) as client:
            await client.start_notify(gatt.CONTROL_TELEMETRY, lambda c, d: first.append(d))
            await client.start_notify(gatt.CONTROL_TELEMETRY, lambda c, d: second.append(d))
            while len(second) < 3:
                await asyncio.sleep(0.05)
            await client.stop_notify(gatt.CONTROL_TELEMETRY)
            stopped_at = len(second)
            await asyncio.sleep(0.35)  # several telemetry periods (10 Hz)
            return len(first), len(second) - stopped_at

    assert run(main()) == (0, 0)


def test_connection_parameters_are_blueZ_defaults_and_reported(backend) -> None:
    _, client_cls = backend

    async def main():
        async with BleakClient(ADDRESS, backend=client_cls) as client:
            # Not in bleak's public API: the Bumble backend's own report, as the driver reads it.
            return client._backend.connection_parameters

    assert run(main()) == {"interval_ms": 30.0, "latency": 0, "supervision_timeout_ms": 420.0}
