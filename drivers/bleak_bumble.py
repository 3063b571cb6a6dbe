"""A bleak backend on Bumble: bleak's public API over a Bumble HCI transport, no OS Bluetooth stack.

    scanner_cls, client_cls = bumble_backend("tcp-client:127.0.0.1:40213")
    device = await BleakScanner.find_device_by_name("citebench-ws", backend=scanner_cls)
    async with BleakClient(device, backend=client_cls) as client:
        await client.read_gatt_char("00002a19-0000-1000-8000-00805f9b34fb")

CI machines have no Bluetooth kernel support, so bleak's own backends cannot run there; this one
speaks HCI to a (virtual or USB) controller through Bumble instead. Code above it stays plain bleak:
a test plan that runs here runs unchanged on a desk where bleak picks the native backend.

Scanners and clients of one transport share one Bumble central, opened when the first of them
starts and closed when the last one stops (a controller takes one host at a time); `acquire()`
holds it open in between.

What it promises is what bleak documents and BlueZ does: the address type the advertisement
carried is used to connect (public or random; an address never seen is looked up by a scan, as
BlueZ does); connects are serialized on the shared central and a failed one cancels its own
attempt without touching other links; connection parameters are BlueZ's defaults (30-50 ms
interval, latency 0, supervision timeout 420 ms); every Bumble or HCI error becomes a
`BleakError` (`BleakDeviceNotFoundError` for nobody answering, `BleakGATTProtocolError` for an
ATT error response); no call outlives its timeout, and a lost link fails every pending call at
once; `start_notify` refuses a characteristic without notify or indicate and a second one on the
same characteristic replaces the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bleak.uuids import normalize_uuid_str
from bumble import core, hci
from bumble.att import ATT_Error
from bumble.core import AdvertisingData
from bumble.device import (
    Advertisement,
    Connection,
    ConnectionParametersPreferences,
    Device,
    Peer,
)
from bumble.hci import Address
from bumble.transport import open_transport

MTU = 247  # what bleak's native backends negotiate on current phones and adapters
# BlueZ's defaults (main.conf [LE] MinConnectionInterval 24, MaxConnectionInterval 40,
# ConnectionLatency 0, ConnectionSupervisionTimeout 42), in ms as Bumble takes them.
BLUEZ_CONNECTION = ConnectionParametersPreferences(
    connection_interval_min=30, connection_interval_max=50, max_latency=0,
    supervision_timeout=420)
ATT_TIMEOUT_S = 30.0  # Core Vol 3 Part F 3.3.3: an ATT transaction not answered in 30 s failed
_NAME_TYPES = (AdvertisingData.COMPLETE_LOCAL_NAME, AdvertisingData.SHORTENED_LOCAL_NAME)
_UUID_TYPES = (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
               AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
               AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
               AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS)


def bumble_backend(transport: str) -> tuple[type[BumbleScanner], type[BumbleClient]]:
    """Scanner and client classes bound to one Bumble transport, for bleak's `backend=`."""
    attrs = {"transport": transport}
    return (type("BumbleScanner", (BumbleScanner,), attrs),  # type: ignore[return-value]
            type("BumbleClient", (BumbleClient,), attrs))


@dataclass
class Central:
    key: tuple[asyncio.AbstractEventLoop, str]
    device: Device
    transport: Any
    users: int = 0
    # The address (with its type) of every device seen advertising, like BlueZ's device cache.
    seen: dict[str, Address] = field(default_factory=dict)
    # A controller runs one connection attempt at a time (HCI COMMAND_DISALLOWED otherwise).
    connecting: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def release(self) -> None:
        """One user fewer; the last one closes the transport."""
        self.users -= 1
        if self.users <= 0 and _centrals.get(self.key) is self:
            del _centrals[self.key]
            await self.transport.close()


_centrals: dict[tuple[asyncio.AbstractEventLoop, str], Central] = {}
_central_lock: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


async def acquire(transport: str) -> Central:
    """The shared central of `transport` on this event loop, opened on first use; holding one
    across scans and connections (as `drivers.ble.BleRadio` does) saves reopening it each time.
    Give it back with `await central.release()`."""
    loop = asyncio.get_running_loop()
    async with _central_lock.setdefault(loop, asyncio.Lock()):
        central = _centrals.get((loop, transport))
        if central is None:
            try:
                hci = await open_transport(transport)
            except (OSError, core.BaseBumbleError, ValueError) as error:
                raise BleakError(f"{transport}: cannot open Bumble HCI transport ({error})"
                                 ) from error
            # A random static address (top bits 11), fresh per central like a privacy address.
            address = Address(":".join(f"{b:02X}" for b in [0xC0 | random.randrange(64),
                                                            *random.randbytes(5)]))
            device = Device.with_hci("citebench-central", address, hci.source, hci.sink)
            await device.power_on()
            central = _centrals[(loop, transport)] = Central((loop, transport), device, hci)
        central.users += 1
        return central


def _uuid(uuid: core.UUID) -> str:
    return normalize_uuid_str(uuid.to_hex_str())


def advertisement_data(advertisement: Advertisement) -> AdvertisementData:
    """bleak's view of one Bumble advertisement (scan response already merged by Bumble)."""
    data = advertisement.data
    name = next((n for t in _NAME_TYPES if (n := data.get(t))), None)
    manufacturer = {}
    for raw in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA, raw=True):
        manufacturer[int.from_bytes(raw[:2], "little")] = bytes(raw[2:])
    uuids = [_uuid(u) for t in _UUID_TYPES for u in (data.get(t) or [])]
    service_data = {_uuid(u): bytes(v) for u, v in
                    data.get_all(AdvertisingData.SERVICE_DATA_16_BIT_UUID)}
    tx_power = data.get(AdvertisingData.TX_POWER_LEVEL)
    return AdvertisementData(name, manufacturer, service_data, uuids, tx_power,
                             advertisement.rssi, (advertisement,))


class BumbleScanner(BaseBleakScanner):
    """bleak scanner on a Bumble central; use the class `bumble_backend()` returns."""

    transport: ClassVar[str]

    def __init__(self, detection_callback, service_uuids, scanning_mode: str = "active",
                 **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._active = scanning_mode == "active"
        self._central: Central | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._central = await acquire(self.transport)
        self._central.device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await self._central.device.start_scanning(active=self._active, filter_duplicates=False)

    async def stop(self) -> None:
        central, self._central = self._central, None
        if central is None:
            return
        central.device.remove_listener(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        with contextlib.suppress(Exception):
            await central.device.stop_scanning()
        await central.release()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        # Bumble merges an active scan's scan response into its advertisement: one call per
        # advertising event, every event (this backend delivers every packet).
        address = str(advertisement.address).split("/")[0]
        if self._central is not None:
            self._central.seen[address.upper()] = advertisement.address
        adv = advertisement_data(advertisement)
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        device = self.create_or_update_device(address, address, adv.local_name,
                                              advertisement.address, adv)
        self.call_detection_callbacks(device, adv)


class BumbleClient(BaseBleakClient):
    """bleak client on a Bumble central; use the class `bumble_backend()` returns."""

    transport: ClassVar[str]

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(address_or_ble_device, **kwargs)
        self._name = (address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice)
                      else None)
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscribers: dict[int, Callable[[bytes], None]] = {}
        self._releasing: asyncio.Future | None = None
        self._central: Central | None = None
        self._lost: asyncio.Future | None = None  # fails when the link is lost
        self.disconnect_reason: int | None = None  # HCI reason of the last disconnection

    @property
    def name(self) -> str:
        return self._name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if pair:
            raise BleakError(f"{self.address}: pairing is not supported by the Bumble backend")
        central = await acquire(self.transport)
        try:
            # A hard bound over address look-up, connection, MTU exchange and discovery.
            async with asyncio.timeout(self._timeout):
                await self._connect(central, asyncio.get_running_loop().time() + self._timeout)
        except BaseException as error:
            await self._abandon(central)
            if isinstance(error, TimeoutError | core.TimeoutError):
                raise BleakDeviceNotFoundError(
                    self.address, f"{self.address}: no connection within {self._timeout} s "
                    f"on {self.transport}") from error
            if isinstance(error, core.BaseBumbleError | ATT_Error):
                raise BleakError(f"{self.address}: connect failed on {self.transport} "
                                 f"({type(error).__name__}: {error})") from error
            raise

    async def _connect(self, central: Central, deadline: float) -> None:
        address = central.seen.get(self.address.upper()) or await self._look_up(central)
        loop = asyncio.get_running_loop()
        async with central.connecting:
            # Bumble's own timeout cancels the attempt at the controller (LE Create Connection
            # Cancel); leave it a little time to do so before the hard bound.
            connection = await central.device.connect(
                address, connection_parameters_preferences={hci.Phy.LE_1M: BLUEZ_CONNECTION},
                timeout=max(0.05, deadline - loop.time() - 0.2))
        self._central, self._connection = central, connection
        self._lost = loop.create_future()
        self.disconnect_reason = None
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        self._peer = Peer(connection)
        await self._att(self._peer.request_mtu(MTU))
        await self._att(self._peer.discover_all())
        self.services = self._collection(self._peer)

    async def _look_up(self, central: Central) -> Address:
        """An address never seen advertising: scan for it (BlueZ does the same) to learn its
        type; a public-address board is unreachable by a random address of the same digits."""
        found = asyncio.get_running_loop().create_future()

        def on_advertisement(advertisement: Advertisement) -> None:
            if str(advertisement.address).split("/")[0].upper() == self.address.upper():
                found.done() or found.set_result(advertisement.address)

        central.device.on(Device.EVENT_ADVERTISEMENT, on_advertisement)
        scanning = not central.device.is_scanning
        try:
            if scanning:
                await central.device.start_scanning(filter_duplicates=False)
            address = await found
        finally:
            central.device.remove_listener(Device.EVENT_ADVERTISEMENT, on_advertisement)
            if scanning and central.device.is_scanning:
                with contextlib.suppress(Exception):
                    await asyncio.shield(central.device.stop_scanning())
        central.seen[self.address.upper()] = address
        return address

    async def _abandon(self, central: Central) -> None:
        """A connect that failed: drop what it built, leave the central and its links alone."""
        connection, self._connection, self._peer = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.disconnect(), 1.0)
        if self._central is None:  # the link never came up: give back this user's hold
            await central.release()
        self._central = None

    @property
    def connection_parameters(self) -> dict[str, float] | None:
        """Interval (ms), peripheral latency (events) and supervision timeout (ms) as the
        controller reported them; bleak has no public API for these."""
        if self._connection is None:
            return None
        p = self._connection.parameters
        return {"interval_ms": p.connection_interval, "latency": p.peripheral_latency,
                "supervision_timeout_ms": p.supervision_timeout}

    @staticmethod
    def _collection(peer: Peer) -> BleakGATTServiceCollection:
        services = BleakGATTServiceCollection()
        mtu = peer.connection.att_mtu
        for proxy in peer.services:
            service = BleakGATTService(proxy, proxy.handle, _uuid(proxy.uuid))
            services.add_service(service)
            for char_proxy in proxy.characteristics:
                char = BleakGATTCharacteristic(
                    char_proxy, char_proxy.handle, _uuid(char_proxy.uuid),
                    [p.name.lower().replace("write_without_response", "write-without-response")
                     for p in type(char_proxy.properties) if p in char_proxy.properties],
                    lambda: mtu - 3, service)
                services.add_characteristic(char)
                for desc_proxy in char_proxy.descriptors:
                    services.add_descriptor(BleakGATTDescriptor(
                        desc_proxy, desc_proxy.handle, _uuid(desc_proxy.type), char))
        return services

    def _on_disconnection(self, reason: int) -> None:
        self.disconnect_reason = reason
        self._connection = self._peer = None
        self._subscribers.clear()
        if self._lost is not None and not self._lost.done():
            self._lost.set_exception(BleakError(
                f"{self.address}: link lost ({hci.HCI_Constant.error_name(reason)})"))
            self._lost.exception()  # retrieved: nobody may be waiting
        if self._central is not None:
            self._releasing = asyncio.ensure_future(self._central.release())
            self._central = None
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        disconnected = asyncio.get_running_loop().create_future()
        connection.once(Connection.EVENT_DISCONNECTION,
                        lambda _reason: disconnected.done() or disconnected.set_result(None))
        with contextlib.suppress(Exception):
            await connection.disconnect()
        await asyncio.wait_for(disconnected, self._timeout)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise BleakError(f"{self.address}: pairing is not supported by the Bumble backend")

    async def unpair(self) -> None:
        raise BleakError(f"{self.address}: pairing is not supported by the Bumble backend")

    def _live_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError(f"{self.address}: not connected")
        return self._peer

    async def _att(self, operation: Coroutine[Any, Any, Any]) -> Any:
        """Run one ATT exchange; the peripheral's ATT_ERROR_RSP becomes bleak's exception, a lost
        link fails it at once, and it never outlives the ATT transaction timeout."""
        if self._lost is None:  # unlike an assert: names the device, survives python -O
            operation.close()
            raise BleakError(f"{self.address}: an ATT exchange needs a connection; none was "
                             f"ever made")
        task = asyncio.ensure_future(operation)
        try:
            await asyncio.wait({task, self._lost}, timeout=ATT_TIMEOUT_S,
                               return_when=asyncio.FIRST_COMPLETED)
            if task.done() and not task.cancelled():
                return task.result()
            if self._lost.done():  # Bumble cancels what was pending on the lost link
                raise self._lost.exception()  # type: ignore[misc]
            raise BleakError(f"{self.address}: no ATT response within {ATT_TIMEOUT_S} s")
        except ATT_Error as error:
            raise BleakGATTProtocolError(error.error_code) from error
        except core.BaseBumbleError as error:
            raise BleakError(f"{self.address}: {type(error).__name__}: {error}") from error
        finally:
            task.cancel()

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *,
                             use_cached: bool = False, **kwargs: Any) -> bytearray:
        return bytearray(await self._att(self._live_peer().read_value(characteristic.obj)))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *,
                                   use_cached: bool = False, **kwargs: Any) -> bytearray:
        return bytearray(await self._att(self._live_peer().read_value(descriptor.obj)))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data,
                              response: bool) -> None:
        await self._att(self._live_peer().write_value(characteristic.obj, bytes(data),
                                                      with_response=response))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data) -> None:
        await self._att(self._live_peer().write_value(descriptor.obj, bytes(data),
                                                      with_response=True))

    async def start_notify(self, characteristic: BleakGATTCharacteristic,
                           callback: NotifyCallback, **kwargs: Any) -> None:
        if not {"notify", "indicate"} & set(characteristic.properties):
            raise BleakError(f"{self.address}: characteristic {characteristic.uuid} "
                             f"(handle {characteristic.handle}) cannot notify or indicate: "
                             f"properties {characteristic.properties}")

        def subscriber(value: bytes) -> None:
            callback(bytearray(value))

        peer = self._live_peer()
        previous = self._subscribers.pop(characteristic.handle, None)
        if previous is not None:  # a second start_notify replaces the first
            await self._att(peer.unsubscribe(characteristic.obj, previous))
        self._subscribers[characteristic.handle] = subscriber
        await self._att(peer.subscribe(characteristic.obj, subscriber))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        subscriber = self._subscribers.pop(characteristic.handle, None)
        await self._att(self._live_peer().unsubscribe(characteristic.obj, subscriber))
