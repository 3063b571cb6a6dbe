"""One radio for all slots: the station's one BLE central, shared by the slot processes.

    python -m bench.radio_broker usb:0 /tmp/batch/radio.sock

A BLE controller (a USB dongle, or the emulated slots' one air) takes one host stack, one
process, at a time; the slots of a batch are processes of their own. So the batch starts this
broker on the station's radio resource and every slot's bleak talks to it through
`drivers.bleak_broker`: one session per slot process, on a unix socket, in JSON lines.

    -> {"id": 1, "op": "connect", "address": "C0:FF:EE:FA:2F:B6", "timeout": 5.0}
    <- {"id": 1, "ok": {"link": 1, "mtu": 247, "services": [...], "parameters": {...}}}
    <- {"event": "notify", "link": 1, "handle": 42, "data": "0a00..."}
    <- {"id": 2, "error": {"type": "BleakGATTProtocolError", "code": 3, "message": "..."}}

The central is `drivers.bleak_bumble`'s, driven through bleak's own API, so every error is the
bleak exception it would be in-process and crosses by its type's name. Connections are kept
apart: a session addresses only the links it made, an address another session holds (or is
connecting to) is refused naming that session, and a session whose socket closes (its slot
ended or was killed) has its links, and only its, disconnected. One scan runs on the central
while any session scans; each scanning session gets every advertisement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError

from bench.slots import BROKER_READY
from drivers.bleak_bumble import acquire, bumble_backend


def error_record(error: BaseException) -> dict[str, Any]:
    """A bleak exception as it crosses the socket (`drivers.bleak_broker.raised` rebuilds it)."""
    record: dict[str, Any] = {"type": "BleakError", "message": str(error)}
    if isinstance(error, BleakGATTProtocolError):
        record.update(type="BleakGATTProtocolError", code=error.code)
    elif isinstance(error, BleakDeviceNotFoundError):
        record.update(type="BleakDeviceNotFoundError", identifier=error.identifier)
    elif not isinstance(error, BleakError):
        record["message"] = f"{type(error).__name__}: {error}"
    return record


def advertisement_record(device: BLEDevice, adv: AdvertisementData) -> dict[str, Any]:
    return {"event": "adv", "address": device.address, "name": adv.local_name,
            "rssi": adv.rssi, "tx_power": adv.tx_power, "uuids": list(adv.service_uuids),
            "manufacturer": {str(k): v.hex() for k, v in adv.manufacturer_data.items()},
            "service_data": {k: v.hex() for k, v in adv.service_data.items()}}


def services_record(client: BleakClient) -> list[dict[str, Any]]:
    return [{"handle": s.handle, "uuid": s.uuid, "characteristics": [
        {"handle": c.handle, "uuid": c.uuid, "properties": list(c.properties),
         "descriptors": [{"handle": d.handle, "uuid": d.uuid} for d in c.descriptors]}
        for c in s.characteristics]} for s in client.services]


class Broker:
    """The one central (`transport`) and the sessions of the slot processes."""

    def __init__(self, transport: str, path: Path, log: Callable[[str], None]) -> None:
        """`log`: one line per session and link event (the batch's radio-broker.log)."""
        self.transport, self.path, self.log = transport, path, log
        self.scanner_cls, self.client_cls = bumble_backend(transport)
        self.holders: dict[str, Session] = {}  # address (upper case) -> the session holding it
        self.scanning: set[Session] = set()
        self._scanner: BleakScanner | None = None
        self._scan_lock = asyncio.Lock()
        self.connecting = asyncio.Lock()

    async def serve(self, stop: asyncio.Event) -> None:
        central = await acquire(self.transport)  # opened once, held for the broker's life
        try:
            server = await asyncio.start_unix_server(self._session, str(self.path))
            print(f"{BROKER_READY} {self.path}", flush=True)  # what the batch waits for
            self.log(f"listening on {self.path}, central on {self.transport}")
            async with server:
                await stop.wait()
        finally:
            await self._scan_stop()
            await central.release()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, reader, writer)
        self.log(f"session {session.name}: opened")
        try:
            await session.run()
        finally:
            await session.close()
            self.log(f"session {session.name}: closed")

    async def scan(self, session: Session, on: bool) -> None:
        """One scan on the central while any session scans."""
        async with self._scan_lock:
            (self.scanning.add if on else self.scanning.discard)(session)
            if self.scanning and self._scanner is None:
                scanner = BleakScanner(self._on_advertisement, backend=self.scanner_cls)
                await scanner.start()
                self._scanner = scanner
            elif not self.scanning:
                await self._scan_stop()

    async def _scan_stop(self) -> None:
        scanner, self._scanner = self._scanner, None
        if scanner is not None:
            await scanner.stop()

    def _on_advertisement(self, device: BLEDevice, adv: AdvertisementData) -> None:
        record = advertisement_record(device, adv)
        for session in self.scanning:
            session.send(record)


class Session:
    """One slot process's connection to the broker: its links, its requests."""

    def __init__(self, broker: Broker, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.broker, self.reader, self.writer = broker, reader, writer
        self.links: dict[int, BleakClient] = {}
        self.addresses: dict[int, str] = {}
        self._next_link = 0
        self._tasks: set[asyncio.Task] = set()
        sock = writer.get_extra_info("socket")
        pid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                  struct.calcsize("3i")))[0]
        self.name = f"pid {pid}"

    def send(self, record: dict[str, Any]) -> None:
        if not self.writer.is_closing():
            self.writer.write(json.dumps(record).encode() + b"\n")

    async def run(self) -> None:
        while line := await self.reader.readline():
            request = json.loads(line)
            task = asyncio.create_task(self._answer(request))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, request: dict[str, Any]) -> None:
        try:
            result = await getattr(self, f"op_{request['op']}")(**request.get("args", {}))
            self.send({"id": request["id"], "ok": result})
        except Exception as error:  # every failure crosses as the bleak error it is
            self.send({"id": request["id"], "error": error_record(error)})

    def _client(self, link: int) -> BleakClient:
        client = self.links.get(link)
        if client is None:
            raise BleakError(f"link {link}: not a connection of this session ({self.name}) on "
                             f"radio broker {self.broker.path}")
        return client

    async def op_scan(self, on: bool) -> None:
        await self.broker.scan(self, on)

    async def op_connect(self, address: str, timeout: float) -> dict[str, Any]:
        key = address.upper()
        holder = self.broker.holders.get(key)
        if holder is not None:
            whose = "this session" if holder is self else f"another slot's session ({holder.name})"
            raise BleakError(f"{address}: held by {whose} on radio broker {self.broker.path}; "
                             f"this session is {self.name}")
        self.broker.holders[key] = self
        self._next_link += 1
        link = self._next_link
        try:
            client = await self._connect(address, link, timeout)
        except BaseException:
            del self.broker.holders[key]
            raise
        self.links[link], self.addresses[link] = client, key
        self.broker.log(f"session {self.name}: connected {address} (link {link}) on "
                        f"{self.broker.transport}")
        return {"link": link, "mtu": client.mtu_size, "services": services_record(client),
                "parameters": client._backend.connection_parameters}

    async def _connect(self, address: str, link: int, timeout: float) -> BleakClient:
        """One connect at a time on the central, look-up included (two sessions' look-up scans
        would stop each other's), all within the session's `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await asyncio.wait_for(self.broker.connecting.acquire(), timeout)
        except TimeoutError:
            raise BleakDeviceNotFoundError(
                address, f"{address}: no connection within {timeout} s: the broker's central "
                "was connecting other sessions' boards all that time") from None
        try:
            client = BleakClient(address, disconnected_callback=lambda _c: self._lost(link),
                                 timeout=max(0.1, deadline - loop.time()),
                                 backend=self.broker.client_cls)
            await client.connect()
            return client
        finally:
            self.broker.connecting.release()

    def _lost(self, link: int) -> None:
        client = self.links.pop(link, None)
        address = self.addresses.pop(link, "")
        if self.broker.holders.get(address) is self:
            del self.broker.holders[address]
        reason = getattr(getattr(client, "_backend", None), "disconnect_reason", None)
        self.broker.log(f"session {self.name}: {address} disconnected (link {link}, "
                        f"reason {reason})")
        self.send({"event": "disconnected", "link": link, "reason": reason})

    async def op_disconnect(self, link: int) -> None:
        await self._client(link).disconnect()

    async def op_read(self, link: int, handle: int, descriptor: bool) -> str:
        client = self._client(link)
        read = client.read_gatt_descriptor if descriptor else client.read_gatt_char
        return bytes(await read(handle)).hex()

    async def op_write(self, link: int, handle: int, data: str, descriptor: bool,
                       response: bool) -> None:
        client = self._client(link)
        if descriptor:
            await client.write_gatt_descriptor(handle, bytes.fromhex(data))
        else:
            await client.write_gatt_char(handle, bytes.fromhex(data), response=response)

    async def op_notify(self, link: int, handle: int, on: bool) -> None:
        client = self._client(link)
        if not on:
            await client.stop_notify(handle)
            return

        def forward(_char: object, data: bytearray) -> None:
            self.send({"event": "notify", "link": link, "handle": handle, "data": data.hex()})

        await client.start_notify(handle, forward)

    async def close(self) -> None:
        """The slot went away (ended, or killed): its scan and its links only."""
        for task in list(self._tasks):
            task.cancel()
        await self.broker.scan(self, False)
        for link, client in list(self.links.items()):
            self.broker.log(f"session {self.name}: closed, dropping {self.addresses[link]} "
                            f"(link {link})")
            with contextlib.suppress(Exception):
                await client.disconnect()
        for address, holder in list(self.broker.holders.items()):
            if holder is self:  # a connect cancelled above
                del self.broker.holders[address]
        self.writer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.radio_broker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("transport", help="the station's radio: a Bumble HCI transport")
    parser.add_argument("socket", type=Path, help="the unix socket to serve the slots on")
    args = parser.parse_args(argv)

    def log(text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await Broker(args.transport, args.socket, log).serve(stop)

    try:
        asyncio.run(run())
    except BleakError as error:
        print(f"radio broker: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(args.socket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
