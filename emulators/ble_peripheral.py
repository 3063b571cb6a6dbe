"""A BLE peripheral as firmware builds it, served to centrals over Bumble HCI transports.

    class Tag(BlePeripheral):
        def services(self):
            return [gatt.Service(attribute_uuid("6e400001-b5a3-f393-e0a9-e50e24dcca9e"), [
                self.characteristic("6e400003-b5a3-f393-e0a9-e50e24dcca9e", Props.NOTIFY)])]

    tag = Tag(name="tracker", address="C0:00:00:00:00:07", appearance=0x0C80).start()
    tag.advertise(advertising_data, scan_response, interval_s=0.1)
    ...  # a central opens tag.resource ("tcp-client:127.0.0.1:PORT") with Bumble or bleak
    tag.close()

What is generic to every board lives here; a board's GATT database and advertising payload live
in its own module (`emulators/radio.py` for the WS-100). The peripheral's controller sits on an
in-process Bumble `LocalLink`. Every TCP client of `port` gets a controller of its own on that
link, spoken to in HCI over the socket, as a USB dongle would be; when the client goes away its
controller falls silent and the peripheral loses the link after the supervision timeout.
That link, its thread and its TCP server are an `Air`: a peripheral alone makes its own, the
boards of one station's slots `join` one, so one central hears them all.

Strict like firmware GATT stacks (Zephyr, NimBLE), where Bumble's server is lenient:
- SIG types are declared with their 16-bit UUIDs (discovery by 16-bit UUID finds them);
- a CCCD write of other than 2 bytes gets ATT 0x0D Invalid Attribute Value Length, a bit the
  characteristic's properties do not offer (indicate on notify-only) 0x13 Value Not Allowed;
- a characteristic with a fixed value length refuses other lengths with 0x0D;
- a Write Command (write without response) is dropped unless the characteristic offers it;
- the GAP service carries the product's appearance.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import threading
from collections.abc import Callable, Iterable, Mapping

from bumble import att, gatt, utils
from bumble.att import ATT_Error, ErrorCode
from bumble.core import UUID
from bumble.device import Connection, Device, DeviceConfiguration
from bumble.gatt_server import Server
from bumble.hci import Address, OwnAddressType
from bumble.host import Host
from bumble.profiles.gap import GenericAccessService
from bumble.transport.common import AsyncPipeSink, StreamPacketSink, StreamPacketSource

from emulators.ble_controller import AirFaults, RadioController, RadioLink

Props = gatt.Characteristic.Properties
_SIG_BASE = re.compile(r"0000([0-9a-f]{4})-0000-1000-8000-00805f9b34fb")
_NOTIFY_BITS = {Props.NOTIFY: 0x0001, Props.INDICATE: 0x0002}  # CCCD bit per property


def attribute_uuid(uuid: str) -> UUID:
    """The attribute type firmware declares: 16 bits for a SIG assigned number, else 128 bits.

    bleak names every UUID in its 128-bit form; `UUID("0000180a-...")` would declare a 128-bit
    attribute that discovery by 0x180A does not find."""
    short = _SIG_BASE.fullmatch(uuid.lower())
    return UUID.from_16_bits(int(short.group(1), 16)) if short else UUID(uuid)


def _refuse(code: ErrorCode) -> Callable:
    def refuse(*_args: object) -> None:
        raise ATT_Error(code)
    return refuse


class SequenceCounter:
    """A wrapping uint16 sequence number per characteristic, for counted notifications: the
    central measures loss and reordering from the gaps and steps back in the sequence."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def next(self, key: str) -> int:
        value = self._next.get(key, 0)
        self._next[key] = (value + 1) & 0xFFFF
        return value

    def reset(self) -> None:
        """A reboot restarts every sequence at 0."""
        self._next.clear()


class _StrictServer(Server):
    """Bumble's GATT server, except that a Write Command to a characteristic that does not
    offer write-without-response is dropped, as firmware stacks do (a command has no reply)."""

    def on_att_write_command(self, bearer: att.Bearer, request: att.ATT_Write_Command) -> None:
        attribute = self.get_attribute(request.attribute_handle)
        if isinstance(attribute, gatt.Characteristic) and not (
                attribute.properties & Props.WRITE_WITHOUT_RESPONSE):
            return
        super().on_att_write_command(bearer, request)  # runs the write in a task of its own


class _CentralLink(asyncio.Protocol):
    """One TCP client = one central controller on the link, silent once the socket closes."""

    def __init__(self, air: Air) -> None:
        self.air = air
        self.source = StreamPacketSource()
        self.controller: RadioController | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self.controller = RadioController(
            f"central-{peer}", link=self.air.link, rng=self.air.rng,
            host_source=self.source, host_sink=StreamPacketSink(transport))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        self.source.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.controller is not None:
            self.controller.fall_silent()  # like a dongle pulled out: peers time out
            self.air.link.remove_controller(self.controller)


class Air:
    """The air some peripherals share: one event-loop thread, one `RadioLink` with its faults,
    one TCP server where each central's controller joins (`resource`).

    A peripheral alone makes its own; the boards of one station's slots share one (`join`), as
    boards on one desk share the air and the station's one dongle hears them all."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, seed: int = 0) -> None:
        self.host, self.port = host, port
        self.rng = random.Random(seed)
        self.faults = AirFaults()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ble-air",
                                        daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def resource(self) -> str:
        """The Bumble HCI transport a central opens to reach every peripheral on this air."""
        return f"tcp-client:{self.host}:{self.port}"

    @property
    def serving(self) -> bool:
        return self._thread.is_alive()

    def set_faults(self, faults: Mapping[str, float], seed: int = 0) -> None:
        """The `radio.*` faults (emulators/faults.py) of this air, before `start()`."""
        self.faults = AirFaults.named(faults, seed)

    def start(self) -> Air:
        if not self.serving:
            self._thread.start()
            asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(timeout=10)
        return self

    async def _serve(self) -> None:
        self.link = RadioLink(self.faults)
        self._server = await self.loop.create_server(lambda: _CentralLink(self), self.host,
                                                     self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        """Stop serving (the peripherals on it first); safe to call twice."""
        if not self.serving:
            return
        if self._server is not None:
            self.loop.call_soon_threadsafe(self._server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


class BlePeripheral:
    """A peripheral on its own event-loop thread; subclasses give `services()`."""

    def __init__(self, *, name: str, address: str, appearance: int, public_address: bool = False,
                 host: str = "127.0.0.1", port: int = 0, seed: int = 0) -> None:
        self.name, self.address, self.appearance = name, address, appearance
        self.public_address = public_address
        self.rng = random.Random(seed)  # advDelay
        self.counters = SequenceCounter()
        self.air = Air(host=host, port=port, seed=seed)
        self._own_air = True
        self._serving = False
        self._tasks: set[asyncio.Future] = set()
        self._advertising = asyncio.Lock()

    def join(self, air: Air) -> BlePeripheral:
        """Live on `air` (shared with other peripherals) instead of an air of its own; before
        `start()`. The air's owner starts and closes it."""
        self.air, self._own_air = air, False
        return self

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.air.loop

    @property
    def link(self) -> RadioLink:
        return self.air.link

    @property
    def port(self) -> int:
        return self.air.port

    @property
    def resource(self) -> str:
        """The Bumble HCI transport a central opens to reach this peripheral (its air's)."""
        return self.air.resource

    def services(self) -> list[gatt.Service]:
        """The board's GATT database (beside GAP and GATT, which every peripheral has)."""
        raise NotImplementedError

    def set_air_faults(self, faults: Mapping[str, float], seed: int = 0) -> None:
        """Switch on the `radio.*` faults (emulators/faults.py) of the air between this board
        and the bench, before `start()`: every board's radio has them, as every board's UART
        has the serial ones. A shared air has them once, for all its peripherals."""
        self.air.set_faults(faults, seed)

    def start(self) -> BlePeripheral:
        self.air.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(timeout=10)
        self._serving = True
        return self

    def close(self) -> None:
        """Stop serving (and the air, when it is this peripheral's own); safe to call twice."""
        if not self._serving:
            return
        self._serving = False
        if self.air.serving:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(timeout=10)
        if self._own_air:
            self.air.close()

    def call(self, coroutine, timeout: float = 10) -> object:
        """Run a coroutine on the peripheral's loop from another thread and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def spawn(self, coroutine) -> asyncio.Task:
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _serve(self) -> None:
        self.controller = RadioController(
            self.name, link=self.link, rng=self.rng,
            public_address=self.address if self.public_address else None)
        config = DeviceConfiguration(name=self.name, gap_service_enabled=False,
                                     gatt_service_enabled=False)
        config.address = Address(self.address)
        self.device = Device(config=config, host=Host(self.controller,
                                                      AsyncPipeSink(self.controller)))
        self.device.gatt_server = _StrictServer(self.device)
        utils.setup_event_forwarding(self.device.gatt_server, self.device,
                                     "characteristic_subscription")
        self.device.add_service(GenericAccessService(self.name, self.appearance))
        self.device.add_default_services(add_gap_service=False)
        self.device.add_services(self.services())
        self.device.on("connection", self.on_connection)
        await self.device.power_on()

    async def _shutdown(self) -> None:
        await self.fall_silent()
        for task in list(self._tasks):
            task.cancel()

    # --- GATT ------------------------------------------------------------------------------
    def characteristic(self, uuid: str, props: Props, read: Callable | None = None,
                       write: Callable | None = None, *, length: int | None = None,
                       descriptors: Iterable[gatt.Descriptor] = ()) -> gatt.Characteristic:
        """A characteristic whose value is computed at each request; what it does not allow is
        refused with the ATT error a firmware stack sends. `length`: the only value length a
        write may have. Notify/indicate get a strict CCCD."""
        def checked_write(connection: Connection, value: bytes) -> object:
            if length is not None and len(value) != length:
                raise ATT_Error(ErrorCode.INVALID_ATTRIBUTE_LENGTH)
            return write(connection, value)  # type: ignore[misc]

        value = gatt.CharacteristicValue(
            read=read or _refuse(ErrorCode.READ_NOT_PERMITTED),
            write=checked_write if write else _refuse(ErrorCode.WRITE_NOT_PERMITTED))
        perms = ((gatt.Characteristic.READABLE if read else 0)
                 | (gatt.Characteristic.WRITEABLE if write else 0))
        char = gatt.Characteristic(attribute_uuid(uuid), props,
                                   gatt.Characteristic.Permissions(perms), value,
                                   list(descriptors))
        if props & (Props.NOTIFY | Props.INDICATE):
            char.descriptors.append(self._cccd(char))
        return char

    def _cccd(self, char: gatt.Characteristic) -> gatt.Descriptor:
        allowed = sum(bit for prop, bit in _NOTIFY_BITS.items() if char.properties & prop)

        def write(bearer: att.Bearer, value: bytes) -> None:
            if len(value) != 2:
                raise ATT_Error(ErrorCode.INVALID_ATTRIBUTE_LENGTH)
            if int.from_bytes(value, "little") & ~allowed:
                raise ATT_Error(ErrorCode.VALUE_NOT_ALLOWED)
            self.device.gatt_server.write_cccd(bearer, char, value)

        return gatt.Descriptor(
            gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
            gatt.Descriptor.READABLE | gatt.Descriptor.WRITEABLE,
            att.AttributeValueV2(lambda bearer: self.device.gatt_server.read_cccd(bearer, char),
                                 write=write))

    def on_connection(self, connection: Connection) -> None:
        """A central connected; subclasses start what a connection starts."""

    # --- advertising and the link ---------------------------------------------------------
    async def advertise(self, data: bytes, scan_response: bytes, interval_s: float) -> None:
        """(Re)start connectable legacy advertising (ADV_IND), unless a central is connected."""
        async with self._advertising:  # two events at once must not leave two advertisers
            if self.device.is_advertising:
                await self.device.stop_advertising()
            if self.device.connections:
                return
            own = OwnAddressType.PUBLIC if self.public_address else OwnAddressType.RANDOM
            await self.device.start_advertising(
                own_address_type=own, advertising_data=data, scan_response_data=scan_response,
                advertising_interval_min=interval_s * 1000,
                advertising_interval_max=interval_s * 1000)

    async def stop_advertising(self) -> None:
        async with self._advertising:
            if self.device.is_advertising:
                with contextlib.suppress(Exception):
                    await self.device.stop_advertising()

    async def fall_silent(self) -> None:
        """The chip stops (reset, power loss): no advertising, links lost by supervision
        timeout on the centrals' side, every notification sequence restarts."""
        self.controller.fall_silent()
        await self.stop_advertising()
        self.counters.reset()
