"""The board's radio face: the BoardModel as a BLE peripheral on Bumble virtual controllers.

    >>> radio = RadioFace(BoardModel()).start()
    >>> radio.resource.startswith("tcp-client:127.0.0.1:")
    True
    >>> radio.close()

The peripheral's controller sits on an in-process Bumble `LocalLink`. Every TCP client that connects
to `radio.port` gets a fresh controller of its own on that link, spoken to in HCI over the socket:
a central in another process (a plan run against `bench emulate`, or `bench list`) opens the
`tcp-client:` transport named by `resource`, exactly as it would open a USB dongle. When that
client goes away its controller leaves the link and the peripheral sees the connection drop, as a
real board does when the phone walks out of range.

GATT: Device Information (0x180A), Battery (0x180F), Environmental Sensing (0x181A, notifying at
the board's telemetry rate) and the control service of `protocols.gatt`. The advertising interval
follows the board's mode; advertising stops when the board is off and resumes at boot.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from bumble import gatt
from bumble.att import ATT_Error, ErrorCode
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink, StreamPacketSink, StreamPacketSource

from emulators.ws100_board import BoardEvent, BoardModel
from protocols import gatt as fmt
from protocols.ws100_messages import Mode

NOTIFY_DRIFT = 1.25  # notify-rate-drift: notifications 25 % slower than configured
_R = gatt.Characteristic.READABLE
_W = gatt.Characteristic.WRITEABLE
_P = gatt.Characteristic.Properties


def _refuse(code: ErrorCode) -> Callable:
    def refuse(*_args: object) -> None:
        raise ATT_Error(code)
    return refuse


class _CentralLink(asyncio.Protocol):
    """One TCP client = one central controller on the link, gone when the socket closes."""

    def __init__(self, face: RadioFace) -> None:
        self.face = face
        self.source = StreamPacketSource()
        self.controller: Controller | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self.controller = Controller(f"central-{peer}", host_source=self.source,
                                     host_sink=StreamPacketSink(transport),  # type: ignore[arg-type]
                                     link=self.face.link)

    def data_received(self, data: bytes) -> None:
        self.source.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.controller is not None:
            self.face.spawn(self.face.drop_central(self.controller))


class RadioFace:
    """Serves one board over BLE for the life of an emulated station; its own event loop thread."""

    def __init__(self, board: BoardModel, host: str = "127.0.0.1", port: int = 0) -> None:
        self.board = board
        self.host = host
        self.port = port
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="radio-face",
                                        daemon=True)
        self._server: asyncio.Server | None = None
        self._notifier: asyncio.Task | None = None
        self._tasks: set[asyncio.Future] = set()
        self._closed = False

    @property
    def resource(self) -> str:
        """The Bumble HCI transport a central opens to reach this board."""
        return f"tcp-client:{self.host}:{self.port}"

    def start(self) -> RadioFace:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(timeout=10)
        self.board.listen(self._on_board_event)
        if self.board.powered:
            self._on_board_event(BoardEvent.BOOT)
        return self

    def close(self) -> None:
        """Stop serving; safe to call twice."""
        if not self._thread.is_alive():
            return
        self._closed = True  # the board outlives its faces and keeps sending events
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()

    # --- set-up ---------------------------------------------------------------------------
    async def _serve(self) -> None:
        self.link = LocalLink()
        self._advertising = asyncio.Lock()
        controller = Controller("board", link=self.link)
        identity = self.board.identity
        self.device = Device(name=identity.ble_name, address=Address(identity.ble_address),
                             host=Host(controller, AsyncPipeSink(controller)))
        self.device.add_services(self._services())
        self.device.on("connection", self._on_connection)
        await self.device.power_on()
        self._server = await self.loop.create_server(lambda: _CentralLink(self), self.host,
                                                     self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        await self._go_silent()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()

    def _services(self) -> list[gatt.Service]:
        def char(uuid: str, props: _P, read: Callable | None = None,
                 write: Callable | None = None) -> gatt.Characteristic:
            """A characteristic whose value is computed at each request from the board; what it
            does not allow is refused with the ATT error a firmware GATT stack sends."""
            value = gatt.CharacteristicValue(read=read or _refuse(ErrorCode.READ_NOT_PERMITTED),
                                             write=write or _refuse(ErrorCode.WRITE_NOT_PERMITTED))
            perms = (_R if read else 0) | (_W if write else 0)
            return gatt.Characteristic(UUID(uuid), props, gatt.Characteristic.Permissions(perms),
                                       value)

        def text(read: Callable[[], str]) -> Callable:
            return lambda _c: read().encode(fmt.TEXT)

        identity = lambda: self.board.identity  # noqa: E731 - read at every request: it can change
        self.battery = char(fmt.BATTERY_LEVEL, _P.READ | _P.NOTIFY,
                            lambda _c: fmt.BATTERY.build(self.board.battery_level_pct()))
        self.environment = {
            uuid: char(uuid, _P.READ | _P.NOTIFY, lambda _c, f=field, c=construct: c.build(
                getattr(self.board.read_sensors(), f)))
            for uuid, field, construct in self._environment_fields()}
        self.response = char(fmt.CONTROL_RESPONSE, _P.NOTIFY)
        command = char(fmt.CONTROL_COMMAND, _P.WRITE, write=self._on_command)
        return [
            gatt.Service(UUID(fmt.DEVICE_INFORMATION), [
                char(fmt.MANUFACTURER_NAME, _P.READ, text(lambda: fmt.MANUFACTURER)),
                char(fmt.MODEL_NUMBER, _P.READ, text(lambda: identity().part_number)),
                char(fmt.SERIAL_NUMBER, _P.READ, text(self._gatt_serial)),
                char(fmt.HARDWARE_REVISION, _P.READ, text(lambda: identity().hw_revision)),
                char(fmt.FIRMWARE_REVISION, _P.READ, text(lambda: identity().firmware)),
            ]),
            gatt.Service(UUID(fmt.BATTERY_SERVICE), [self.battery]),
            gatt.Service(UUID(fmt.ENVIRONMENTAL_SENSING), list(self.environment.values())),
            gatt.Service(UUID(fmt.CONTROL_SERVICE), [command, self.response]),
        ]

    @staticmethod
    def _environment_fields() -> list[tuple[str, str, object]]:
        return [(fmt.TEMPERATURE_UUID, "temperature_c", fmt.TEMPERATURE),
                (fmt.HUMIDITY_UUID, "humidity_pct", fmt.HUMIDITY),
                (fmt.PRESSURE_UUID, "pressure_pa", fmt.PRESSURE)]

    def _gatt_serial(self) -> str:
        serial = self.board.identity.serial
        if "ble-serial-mismatch" in self.board.defects:
            return serial[:-1] + ("0" if serial[-1:] != "0" else "1")  # a stale factory record
        return serial

    # --- advertising ----------------------------------------------------------------------
    def advertising_data(self) -> bytes:
        """The advertising payload built from the board's state now."""
        board = self.board
        major, minor, patch = board.firmware_tuple
        battery = board.battery_level_pct()
        flags = ((fmt.AdvFlags.PROVISIONED if board.identity.serial else 0)
                 | (fmt.AdvFlags.LOW_BATTERY if battery < 20 else 0)
                 | (fmt.AdvFlags.STREAMING if board.stream_enabled else 0))
        payload = fmt.MANUFACTURER_PAYLOAD.build(dict(
            fw_major=major, fw_minor=minor, fw_patch=patch, battery_pct=battery, flags=flags))
        structures = [(AdvertisingData.FLAGS, bytes([0x06])),
                      (AdvertisingData.COMPLETE_LOCAL_NAME, board.identity.ble_name.encode())]
        if "adv-missing-manufacturer-data" not in board.defects:
            structures.append((AdvertisingData.MANUFACTURER_SPECIFIC_DATA,
                               fmt.COMPANY_ID.to_bytes(2, "little") + payload))
        # Legacy advertising holds 31 bytes: flags 3 + name 14 + manufacturer 9 + one UUID 4.
        # (Bumble 0.0.236's virtual controller repeats the advertising data as scan response,
        # so a scan response cannot carry more.)
        structures.append((AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                           int(fmt.ENVIRONMENTAL_SENSING[4:8], 16).to_bytes(2, "little")))
        return bytes(AdvertisingData(structures))

    async def _advertise(self) -> None:
        """(Re)start advertising with the current payload and the mode's interval."""
        async with self._advertising:  # two events at once must not leave two advertisers
            await self._restart_advertising()

    async def _restart_advertising(self) -> None:
        if self.device.is_advertising:
            await self.device.stop_advertising()
        if not self.board.powered or self.device.connections:
            return
        interval_ms = self.board.adv_interval_s * 1000
        await self.device.start_advertising(advertising_data=self.advertising_data(),
                                            advertising_interval_min=interval_ms,
                                            advertising_interval_max=interval_ms)

    # --- board events ---------------------------------------------------------------------
    def _on_board_event(self, event: BoardEvent) -> None:
        """Board events arrive on the caller's thread; the radio acts on its own loop."""
        if self._closed:
            return
        action = {BoardEvent.BOOT: self._advertise, BoardEvent.MODE: self._advertise,
                  BoardEvent.STREAM: self._advertise, BoardEvent.OFF: self._go_silent}[event]
        future = asyncio.run_coroutine_threadsafe(action(), self.loop)
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)

    async def _go_silent(self) -> None:
        async with self._advertising:
            if self.device.is_advertising:
                await self.device.stop_advertising()
        await self._disconnect(lambda _connection: True)

    async def drop_central(self, controller: Controller) -> None:
        """A central's socket closed: its links drop like a radio going out of range."""
        addresses = {controller.random_address, controller.public_address}
        await self._disconnect(lambda connection: connection.peer_address in addresses)
        self.link.remove_controller(controller)

    async def _disconnect(self, which: Callable[[Connection], bool]) -> None:
        # Bounded: a central whose controller already left the link never confirms.
        for connection in list(self.device.connections.values()):
            if which(connection):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.disconnect(), 2)

    def _on_connection(self, connection: Connection) -> None:
        connection.on("disconnection", lambda _reason: self.spawn(self._advertise()))
        if self._notifier is None or self._notifier.done():
            self._notifier = self.spawn(self._notify_environment())

    def spawn(self, coroutine) -> asyncio.Task:
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- notifications and control --------------------------------------------------------
    async def _notify_environment(self) -> None:
        """Notify environmental values at the board's telemetry rate while anyone is connected.

        Deadlines are absolute (next += period) so the emulator's own scheduling does not add
        drift; only the notify-rate-drift defect does.
        """
        next_at = self.loop.time()
        last_battery = None
        while self.device.connections and self.board.powered:
            reading = self.board.read_sensors()
            for uuid, field, construct in self._environment_fields():
                await self.device.notify_subscribers(self.environment[uuid],
                                                     construct.build(getattr(reading, field)))
            battery = self.board.battery_level_pct()
            if battery != last_battery:
                await self.device.notify_subscribers(self.battery, fmt.BATTERY.build(battery))
                last_battery = battery
            period = 1 / self.board.stream_rate_hz
            if "notify-rate-drift" in self.board.defects:
                period *= NOTIFY_DRIFT
            next_at += period
            await asyncio.sleep(max(0.0, next_at - self.loop.time()))

    def _on_command(self, connection: Connection, value: bytes) -> None:
        status, op = fmt.ControlStatus.OK, value[0] if value else 0
        try:
            request = fmt.CONTROL_REQUEST.parse(value)
            if request.op == fmt.ControlOp.SET_MODE:
                self.board.set_mode(Mode(request.value))
            elif request.op != fmt.ControlOp.GET_MODE:
                status = fmt.ControlStatus.BAD_OPCODE
        except (ValueError, *fmt.PARSE_ERRORS):
            status = fmt.ControlStatus.BAD_VALUE
        reply = fmt.CONTROL_REPLY.build(dict(op=op, status=status, mode=self.board.mode))
        self.spawn(self.device.notify_subscriber(connection, self.response, reply))
