"""A bleak backend on the station's radio broker (bench/radio_broker.py): one central, many slots.

    scanner_cls, client_cls = broker_backend("broker:/tmp/batch/radio.sock")
    device = await BleakScanner.find_device_by_name("citebench-ws", backend=scanner_cls)
    async with BleakClient(device, backend=client_cls) as client:
        await client.read_gatt_char("00002a19-0000-1000-8000-00805f9b34fb")

A slot process of a batch cannot open the station's BLE controller itself (it takes one host
at a time, and the batch's broker holds it); this backend asks the broker over its unix socket.
Code above it stays plain bleak, as with `drivers.bleak_bumble`, whose promises it keeps: the
same bleak exception types (rebuilt from what the broker sends), `connection_parameters` and
`disconnect_reason` on the backend, a lost link failing every pending call at once. Every call
is bounded (the broker's own bound plus `MARGIN_S`); a lost broker fails every pending call at
once with a `BleakError` naming its socket, and every link of this process is lost with it.

Scanners and clients of one socket in one process share one session, opened when the first of
them starts and closed when the last one stops; `acquire()` holds it open in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError

from drivers.bleak_bumble import ATT_TIMEOUT_S

PREFIX = "broker:"
MARGIN_S = 5.0  # beyond the broker's own bound on a call: its reply's way back
CONTROL_TIMEOUT_S = 10.0  # scan start/stop, disconnect


def broker_backend(transport: str) -> tuple[type[BrokerScanner], type[BrokerClient]]:
    """Scanner and client classes bound to one broker (`broker:/path.sock`), for `backend=`."""
    attrs = {"path": socket_path(transport)}
    return (type("BrokerScanner", (BrokerScanner,), attrs),  # type: ignore[return-value]
            type("BrokerClient", (BrokerClient,), attrs))


def socket_path(transport: str) -> str:
    if not transport.startswith(PREFIX) or not transport[len(PREFIX):]:
        raise BleakError(f"{transport!r}: a radio broker is named broker:/path/to/socket")
    return transport[len(PREFIX):]


def raised(record: dict[str, Any]) -> BleakError:
    """The bleak exception the broker reported (bench.radio_broker.error_record)."""
    if record["type"] == "BleakGATTProtocolError":
        return BleakGATTProtocolError(record["code"])
    if record["type"] == "BleakDeviceNotFoundError":
        return BleakDeviceNotFoundError(record["identifier"], record["message"])
    return BleakError(record["message"])


@dataclass
class Session:
    """This process's session with one broker on one event loop."""

    key: tuple[asyncio.AbstractEventLoop, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    users: int = 0
    pending: dict[int, asyncio.Future] = field(default_factory=dict)
    links: dict[int, BrokerClient] = field(default_factory=dict)
    scanners: set[BrokerScanner] = field(default_factory=set)
    lost: BleakError | None = None
    releasing: set[asyncio.Future] = field(default_factory=set)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _reading: asyncio.Task | None = None

    @property
    def path(self) -> str:
        return self.key[1]

    async def call(self, op: str, within: float, **args: Any) -> Any:
        """One request; its reply's result, or the bleak error the broker sent; a BleakError
        naming the socket when no reply came `within` seconds."""
        if self.lost is not None:
            raise self.lost
        request_id = next(self._ids)
        reply = self.pending[request_id] = asyncio.get_running_loop().create_future()
        try:
            self.writer.write(json.dumps({"id": request_id, "op": op, "args": args}).encode()
                              + b"\n")
            async with asyncio.timeout(within):
                return await reply
        except TimeoutError:
            raise BleakError(f"radio broker {self.path}: no answer to {op} within "
                             f"{within} s") from None
        finally:
            self.pending.pop(request_id, None)

    async def read(self) -> None:
        try:
            while line := await self.reader.readline():
                self._dispatch(json.loads(line))
            why = "it closed the connection"
        except (OSError, ValueError) as error:
            why = f"{type(error).__name__}: {error}"
        self._lose(BleakError(f"radio broker {self.path}: connection lost ({why})"))

    def _dispatch(self, record: dict[str, Any]) -> None:
        event = record.get("event")
        if event == "adv":
            for scanner in list(self.scanners):
                scanner.advertisement(record)
        elif event == "notify":
            client = self.links.get(record["link"])
            if client is not None:
                client.notification(record["handle"], bytes.fromhex(record["data"]))
        elif event == "disconnected":
            client = self.links.pop(record["link"], None)
            if client is not None:
                client.lost(record["reason"])
        else:
            reply = self.pending.get(record["id"])
            if reply is not None and not reply.done():
                if "error" in record:
                    reply.set_exception(raised(record["error"]))
                else:
                    reply.set_result(record["ok"])

    def _lose(self, error: BleakError) -> None:
        """The broker is gone: every pending call fails at once, every link is lost."""
        self.lost = error
        if _sessions.get(self.key) is self:
            del _sessions[self.key]
        for reply in self.pending.values():
            if not reply.done():
                reply.set_exception(error)
        links, self.links = self.links, {}
        for client in links.values():
            client.lost(None)
        self.writer.close()

    async def release(self) -> None:
        """One user fewer; the last one closes the session."""
        self.users -= 1
        if self.users <= 0 and _sessions.get(self.key) is self:
            del _sessions[self.key]
            self.writer.close()
            if self._reading is not None:
                self._reading.cancel()


_sessions: dict[tuple[asyncio.AbstractEventLoop, str], Session] = {}


async def acquire(transport: str) -> Session:
    """This process's session with the broker of `transport` on this event loop, opened on
    first use; give it back with `await session.release()`."""
    loop, path = asyncio.get_running_loop(), socket_path(transport)
    session = _sessions.get((loop, path))
    if session is None:
        try:
            reader, writer = await asyncio.open_unix_connection(path)
        except OSError as error:
            raise BleakError(f"radio broker {path}: cannot connect ({error}); is the batch's "
                             "broker running?") from error
        session = _sessions[(loop, path)] = Session((loop, path), reader, writer)
        session._reading = loop.create_task(session.read())
    session.users += 1
    return session


class BrokerScanner(BaseBleakScanner):
    """bleak scanner on the broker's central; use the class `broker_backend()` returns."""

    path: ClassVar[str]

    def __init__(self, detection_callback, service_uuids, scanning_mode: str = "active",
                 **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._session: Session | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        session = await acquire(PREFIX + self.path)
        session.scanners.add(self)
        self._session = session
        if len(session.scanners) == 1:
            try:
                await session.call("scan", CONTROL_TIMEOUT_S, on=True)
            except BaseException:
                await self.stop()
                raise

    async def stop(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        session.scanners.discard(self)
        try:
            if not session.scanners and session.lost is None:
                await session.call("scan", CONTROL_TIMEOUT_S, on=False)
        finally:
            await session.release()

    def advertisement(self, record: dict[str, Any]) -> None:
        adv = AdvertisementData(
            record["name"], {int(k): bytes.fromhex(v) for k, v in record["manufacturer"].items()},
            {k: bytes.fromhex(v) for k, v in record["service_data"].items()}, record["uuids"],
            record["tx_power"], record["rssi"], ())
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        device = self.create_or_update_device(record["address"], record["address"],
                                              adv.local_name, None, adv)
        self.call_detection_callbacks(device, adv)


class BrokerClient(BaseBleakClient):
    """bleak client on the broker's central; use the class `broker_backend()` returns."""

    path: ClassVar[str]

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(address_or_ble_device, **kwargs)
        self._name = (address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice)
                      else None)
        self._session: Session | None = None
        self._link: int | None = None
        self._mtu = 23
        self._callbacks: dict[int, Callable[[bytearray], None]] = {}
        self.connection_parameters: dict[str, float] | None = None
        self.disconnect_reason: int | None = None  # HCI reason of the last disconnection

    @property
    def name(self) -> str:
        return self._name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._mtu

    @property
    def is_connected(self) -> bool:
        return self._link is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if pair:
            raise BleakError(f"{self.address}: pairing is not supported by the broker backend")
        session = await acquire(PREFIX + self.path)
        try:
            reply = await session.call("connect", self._timeout + MARGIN_S,
                                       address=self.address, timeout=self._timeout)
        except BaseException:
            await session.release()
            raise
        self._session, self._link, self._mtu = session, reply["link"], reply["mtu"]
        self.connection_parameters = reply["parameters"]
        self.disconnect_reason = None
        session.links[self._link] = self
        self.services = self._collection(reply["services"])

    def _collection(self, described: list[dict[str, Any]]) -> BleakGATTServiceCollection:
        services = BleakGATTServiceCollection()
        for s in described:
            service = BleakGATTService(None, s["handle"], s["uuid"])
            services.add_service(service)
            for c in s["characteristics"]:
                char = BleakGATTCharacteristic(None, c["handle"], c["uuid"], c["properties"],
                                               lambda: self._mtu - 3, service)
                services.add_characteristic(char)
                for d in c["descriptors"]:
                    services.add_descriptor(BleakGATTDescriptor(None, d["handle"], d["uuid"],
                                                                char))
        return services

    def notification(self, handle: int, data: bytes) -> None:
        callback = self._callbacks.get(handle)
        if callback is not None:
            callback(bytearray(data))

    def lost(self, reason: int | None) -> None:
        """The link went down (the broker says so, or the broker itself is gone)."""
        session, self._session, self._link = self._session, None, None
        self.disconnect_reason = reason
        self._callbacks.clear()
        if session is not None:
            session.releasing.add(task := asyncio.ensure_future(session.release()))
            task.add_done_callback(session.releasing.discard)
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def _call(self, op: str, within: float = ATT_TIMEOUT_S + MARGIN_S,
                    **args: Any) -> Any:
        if self._session is None or self._link is None:
            raise BleakError(f"{self.address}: not connected")
        return await self._session.call(op, within, link=self._link, **args)

    async def disconnect(self) -> None:
        if self._link is not None:
            with contextlib.suppress(BleakError):  # already gone: what was asked for
                await self._call("disconnect", self._timeout + MARGIN_S)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise BleakError(f"{self.address}: pairing is not supported by the broker backend")

    async def unpair(self) -> None:
        raise BleakError(f"{self.address}: pairing is not supported by the broker backend")

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *,
                             use_cached: bool = False, **kwargs: Any) -> bytearray:
        return bytearray.fromhex(await self._call("read", handle=characteristic.handle,
                                                  descriptor=False))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *,
                                   use_cached: bool = False, **kwargs: Any) -> bytearray:
        return bytearray.fromhex(await self._call("read", handle=descriptor.handle,
                                                  descriptor=True))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data,
                              response: bool) -> None:
        await self._call("write", handle=characteristic.handle, data=bytes(data).hex(),
                         descriptor=False, response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data) -> None:
        await self._call("write", handle=descriptor.handle, data=bytes(data).hex(),
                         descriptor=True, response=True)

    async def start_notify(self, characteristic: BleakGATTCharacteristic,
                           callback: NotifyCallback, **kwargs: Any) -> None:
        self._callbacks[characteristic.handle] = callback  # before: the first may come first
        try:
            await self._call("notify", handle=characteristic.handle, on=True)
        except BaseException:
            self._callbacks.pop(characteristic.handle, None)
            raise

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._callbacks.pop(characteristic.handle, None)
        await self._call("notify", handle=characteristic.handle, on=False)
