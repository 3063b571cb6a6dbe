"""The tracker's radio face: its command protocol over the Nordic UART Service, on Bumble.

    >>> radio = NusFace(TrackerBoard()).start()
    >>> radio.resource.startswith("tcp-client:127.0.0.1:")
    True
    >>> radio.close()

The Nordic UART Service (NUS) is a byte pipe over GATT: the central writes to RX and subscribes
to TX. The tracker carries exactly its serial frames through it (00 | COBS | 00, the same codec),
so a frame longer than one ATT payload (ATT_MTU - 3 bytes) is sent as several notifications
and the receiver's zero-delimited decoder puts it back together. The tracker's SoftDevice keeps
the default ATT MTU of 23, so most replies span two notifications.

Like the WS-100's radio (emulators/radio.py), the peripheral's controller sits on a Bumble
`LocalLink`; each TCP client that connects to `port` gets a controller of its own on that link,
spoken to in HCI over the socket (`resource` is the Bumble transport a central opens). What this
module needs of a Bumble peripheral is kept in `_Peripheral`, apart from the NUS service.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine

from bumble import gatt
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink, StreamPacketSink, StreamPacketSource

from emulators.tracker_board import BoardEvent, TrackerBoard
from emulators.tracker_firmware import Firmware
from protocols.tracker_frames import FrameDecoder

NUS_SERVICE = "6E400001-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_RX = "6E400002-B5A3-F393-E0A9-E50E24DCCA9E"  # central writes requests here
NUS_TX = "6E400003-B5A3-F393-E0A9-E50E24DCCA9E"  # the tracker notifies its frames here
ATT_MTU = 23  # the tracker's SoftDevice default: 20 bytes of value per notification
ADV_INTERVAL_MS = 100


class _CentralLink(asyncio.Protocol):
    """One TCP client = one central controller on the link, gone when the socket closes."""

    def __init__(self, peripheral: _Peripheral) -> None:
        self.peripheral = peripheral
        self.source = StreamPacketSource()
        self.controller: Controller | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.controller = Controller(
            f"central-{transport.get_extra_info('peername')}", host_source=self.source,
            host_sink=StreamPacketSink(transport),  # type: ignore[arg-type]
            link=self.peripheral.link)

    def data_received(self, data: bytes) -> None:
        self.source.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.controller is not None:
            self.peripheral.spawn(self.peripheral.drop_central(self.controller))


class _Peripheral:
    """A Bumble peripheral served to centrals over TCP, on its own event-loop thread.

    The generic part (loop thread, link, TCP centrals, disconnects); the service is the
    subclass's. Kept apart so it can move onto a shared Bumble peripheral later.
    """

    def __init__(self, name: str, address: str, host: str = "127.0.0.1") -> None:
        self.name, self.address, self.host, self.port = name, address, host, 0
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"radio {name}",
                                        daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Future] = set()
        self.closed = False

    @property
    def resource(self) -> str:
        """The Bumble HCI transport a central opens to reach this board."""
        return f"tcp-client:{self.host}:{self.port}"

    def run(self, coroutine: Coroutine, timeout: float = 10) -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=timeout)

    def start_loop(self) -> None:
        self._thread.start()
        self.run(self._serve())

    def close(self) -> None:
        """Stop serving; safe to call twice."""
        if not self._thread.is_alive():
            return
        self.closed = True
        self.run(self._shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()

    def services(self) -> list[gatt.Service]:
        raise NotImplementedError

    async def _serve(self) -> None:
        self.link = LocalLink()
        # board events arrive as separate tasks: off-then-boot must not end silent
        self._radio_lock = asyncio.Lock()
        controller = Controller(self.name, link=self.link)
        self.device = Device(name=self.name, address=Address(self.address),
                             host=Host(controller, AsyncPipeSink(controller)))
        self.device.add_services(self.services())
        await self.device.power_on()
        self._server = await self.loop.create_server(lambda: _CentralLink(self), self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        await self.go_silent()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()

    def spawn(self, coroutine: Coroutine) -> asyncio.Task:
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def call(self, action: Callable[[], Coroutine]) -> None:
        """Run `action()` on the radio's loop, from any thread (board events)."""
        if self.closed:
            return
        future = asyncio.run_coroutine_threadsafe(action(), self.loop)
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)

    async def advertise(self, data: bytes) -> None:
        async with self._radio_lock:
            await self._restart_advertising(data)

    async def _restart_advertising(self, data: bytes) -> None:
        if self.device.is_advertising:
            await self.device.stop_advertising()
        if self.device.connections:
            return
        await self.device.start_advertising(advertising_data=data,
                                            advertising_interval_min=ADV_INTERVAL_MS,
                                            advertising_interval_max=ADV_INTERVAL_MS)

    async def go_silent(self) -> None:
        async with self._radio_lock:
            if self.device.is_advertising:
                await self.device.stop_advertising()
            await self._disconnect(lambda _connection: True)

    async def drop_central(self, controller: Controller) -> None:
        """A central's socket closed: its links drop like a radio going out of range."""
        addresses = {controller.random_address, controller.public_address}
        await self._disconnect(lambda connection: connection.peer_address in addresses)
        self.link.remove_controller(controller)

    async def _disconnect(self, which: Callable[[Connection], bool]) -> None:
        for connection in list(self.device.connections.values()):
            if which(connection):
                with contextlib.suppress(Exception):  # a central gone never confirms: bounded
                    await asyncio.wait_for(connection.disconnect(), 2)


class NusFace(_Peripheral):
    """The tracker's BLE face: advertising while awake, its firmware behind NUS."""

    def __init__(self, board: TrackerBoard) -> None:
        super().__init__(board.identity.ble_name, board.identity.ble_address)
        self.board = board
        self.firmware = Firmware(board)
        self._decoders: dict[int, FrameDecoder] = {}  # per connection handle

    def start(self) -> NusFace:
        self.start_loop()
        self.device.gatt_server.max_mtu = ATT_MTU
        self.device.on("connection", self._on_connection)
        self.board.listen(self._on_board_event)
        if self.board.awake:
            self.call(self._advertise)
        return self

    def services(self) -> list[gatt.Service]:
        props = gatt.Characteristic.Properties
        self.tx = gatt.Characteristic(UUID(NUS_TX), props.NOTIFY,
                                      gatt.Characteristic.Permissions(0), b"")
        rx = gatt.Characteristic(
            UUID(NUS_RX), props.WRITE | props.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE, gatt.CharacteristicValue(write=self._on_write))
        return [gatt.Service(UUID(NUS_SERVICE), [rx, self.tx])]

    def advertising_data(self) -> bytes:
        """Flags, the NUS UUID and the name: 31 bytes, all that legacy advertising holds."""
        return bytes(AdvertisingData([
            (AdvertisingData.FLAGS, bytes([0x06])),
            (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
             bytes(UUID(NUS_SERVICE))),
            (AdvertisingData.COMPLETE_LOCAL_NAME, self.board.identity.ble_name.encode()),
        ]))

    async def _advertise(self) -> None:
        if self.board.awake:
            await self.advertise(self.advertising_data())

    def _on_board_event(self, event: BoardEvent) -> None:
        if event is BoardEvent.BOOT:
            self.call(self._advertise)
        elif event is BoardEvent.OFF:
            self.call(self.go_silent)

    def _on_connection(self, connection: Connection) -> None:
        self._decoders[connection.handle] = FrameDecoder()
        connection.on("disconnection", lambda _reason: self._on_disconnection(connection))

    def _on_disconnection(self, connection: Connection) -> None:
        self._decoders.pop(connection.handle, None)
        self.spawn(self._advertise())

    def _on_write(self, connection: Connection, value: bytes) -> None:
        """One ATT write on RX: a fragment of the stream, decoded as the UART decodes bytes."""
        decoder = self._decoders.setdefault(connection.handle, FrameDecoder())
        if not self.board.awake:
            return
        frames = [frame for event in decoder.feed(bytes(value)) if not isinstance(event, str)
                  for frame in self.firmware.handle(event)]
        if frames:
            self.spawn(self._send(connection, frames))

    async def _send(self, connection: Connection, frames: list[bytes]) -> None:
        """Each frame in notifications of at most ATT_MTU - 3 bytes, then the deferred action."""
        step = connection.att_mtu - 3
        if "nus-fragment-overrun" in self.board.defects:
            step = connection.att_mtu  # the stack cuts each notification to MTU - 3
        for frame in frames:
            for start in range(0, len(frame), step):
                await self.device.notify_subscriber(connection, self.tx,
                                                    frame[start:start + step])
        self.firmware.after_reply()
