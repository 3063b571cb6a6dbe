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

from drivers.bleak_bumble import MTU, bumble_backend
from emulators.radio import RadioFace
from emulators.ws100_board import BoardModel
from protocols import gatt
from protocols.ws100_messages import Mode

ADDRESS = "C0:FF:EE:00:01:23"


@pytest.fixture
def backend(board: BoardModel) -> Iterator[tuple[type, type]]:
    radio = RadioFace(board).start()  # a fresh link and peripheral per test
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
    payload = gatt.MANUFACTURER_PAYLOAD.parse(adv.manufacturer_data[gatt.COMPANY_ID])
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
            assert [d.uuid for d in temperature.descriptors] == [
                "00002902-0000-1000-8000-00805f9b34fb"]
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
