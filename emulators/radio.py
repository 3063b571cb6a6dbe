"""The WS-100's radio face: the BoardModel as a BLE peripheral (its GATT database, its advertising).

    >>> radio = RadioFace(BoardModel(), company_id=0xFFFF, appearance=0x0552,
    ...                   name="citebench-ws", manufacturer="citebench").start()
    >>> radio.resource.startswith("tcp-client:127.0.0.1:")
    True
    >>> radio.close()

The generic peripheral (controller on a LocalLink served as an HCI transport, strict ATT, legacy
advertising with advDelay, supervision timeout) is `emulators.ble_peripheral`; this module holds
what is the WS-100's. Company id, appearance, advertised name and manufacturer name are the
product's (its product spec), passed in by whoever builds the station.

GATT: GAP (appearance), Device Information (0x180A), Battery (0x180F), Environmental Sensing
(0x181A, notifying at the board's telemetry rate, each with an ES Trigger Setting descriptor) and
the control service of `protocols.gatt`, whose telemetry notifications carry a sequence number;
with the `dfu` extra, the SMP service (emulators/smp_gatt.py).
The advertising interval follows the board's mode; a reset or power loss silences the radio at
once (centrals lose the link after their supervision timeout) and advertising resumes at boot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bumble import gatt
from bumble.core import AdvertisingData
from bumble.device import Connection

from emulators.ble_controller import LEGACY_DATA_MAX
from emulators.ble_peripheral import BlePeripheral, Props, attribute_uuid
from emulators.smp_gatt import smp_services
from emulators.ws100_board import BoardEvent, BoardModel
from emulators.ws100_knobs import every
from protocols import gatt as fmt
from protocols.ws100_messages import Mode

NOTIFY_DRIFT = 1.25  # notify-rate-drift: notifications 25 % slower than configured
NOTIFY_LOSS_EVERY = 10  # ble-notify-loss: every 10th telemetry notification never goes out
TX_POWER_DBM = 0  # what the board's radio is set to; advertised in the scan response


class RadioFace(BlePeripheral):
    """Serves one WS-100 over BLE for the life of an emulated station; its own event loop."""

    def __init__(self, board: BoardModel, *, company_id: int, appearance: int, name: str,
                 manufacturer: str, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(name=name, address=board.identity.ble_address, appearance=appearance,
                         host=host, port=port)
        self.board = board
        self.company_id, self.manufacturer = company_id, manufacturer
        self._notifier: asyncio.Task | None = None
        self._closed = False

    def start(self) -> RadioFace:
        super().start()
        self.board.listen(self._on_board_event)
        if self.board.powered:
            self._on_board_event(BoardEvent.BOOT)
        return self

    def close(self) -> None:
        self._closed = True  # the board outlives its faces and keeps sending events
        super().close()

    # --- GATT database ----------------------------------------------------------------------
    def services(self) -> list[gatt.Service]:
        char = self.characteristic

        def text(read: Callable[[], str]) -> Callable:
            return lambda _c: read().encode(fmt.TEXT)

        identity = lambda: self.board.identity  # noqa: E731 - read at every request: it can change
        def trigger() -> gatt.Descriptor:  # one per characteristic: a descriptor is an attribute
            return gatt.Descriptor(
                gatt.GATT_ENVIRONMENTAL_SENSING_TRIGGER_DESCRIPTOR, gatt.Descriptor.READABLE,
                fmt.ES_TRIGGER_MIN_INTERVAL.build(dict(
                    condition=fmt.ES_TRIGGER_CONDITION_MIN_INTERVAL, seconds=0)))

        knobs = self.board.knobs
        self.battery = char(fmt.BATTERY_LEVEL, Props.READ | Props.NOTIFY,
                            lambda _c: fmt.BATTERY.build(self.board.battery_level_pct()))
        self.environment = {
            uuid: char(uuid, Props.READ | Props.NOTIFY, lambda _c, f=field, c=construct, k=knob:
                       c.build(getattr(self.board.read_sensors(), f) + knobs.get(k, 0)),
                       descriptors=[trigger()])
            for uuid, field, construct, knob in self._environment_fields()}
        self.response = char(fmt.CONTROL_RESPONSE, Props.NOTIFY)
        self.telemetry = char(fmt.CONTROL_TELEMETRY, Props.NOTIFY)
        command = char(fmt.CONTROL_COMMAND, Props.WRITE, write=self._on_command,
                       length=fmt.CONTROL_REQUEST.sizeof())
        return [
            gatt.Service(gatt.GATT_DEVICE_INFORMATION_SERVICE, [
                char(fmt.MANUFACTURER_NAME, Props.READ, text(lambda: self.manufacturer)),
                char(fmt.MODEL_NUMBER, Props.READ, text(lambda: identity().part_number)),
                char(fmt.SERIAL_NUMBER, Props.READ, text(self._gatt_serial)),
                char(fmt.HARDWARE_REVISION, Props.READ, text(lambda: identity().hw_revision)),
                char(fmt.FIRMWARE_REVISION, Props.READ, text(lambda: identity().firmware)),
            ]),
            gatt.Service(gatt.GATT_BATTERY_SERVICE, [self.battery]),
            gatt.Service(gatt.GATT_ENVIRONMENTAL_SENSING_SERVICE,
                         list(self.environment.values())),
            gatt.Service(attribute_uuid(fmt.CONTROL_SERVICE),
                         [command, self.response, self.telemetry]),
            *smp_services(self, self.board.bootloader, self.board.reset, self.board.defects,
                          self.board.knobs),
        ]

    @staticmethod
    def _environment_fields() -> list[tuple[str, str, object, str]]:
        """Each ESS characteristic: its UUID, reading field, format, and the knob offsetting it."""
        return [(fmt.TEMPERATURE_UUID, "temperature_c", fmt.TEMPERATURE,
                 "radio.ess_temperature_offset_c"),
                (fmt.HUMIDITY_UUID, "humidity_pct", fmt.HUMIDITY, "radio.ess_humidity_offset_pct"),
                (fmt.PRESSURE_UUID, "pressure_pa", fmt.PRESSURE, "radio.ess_pressure_offset_pa")]

    def _gatt_serial(self) -> str:
        serial = self.board.identity.serial
        if "ble-serial-mismatch" in self.board.defects:
            return serial[:-1] + ("0" if serial[-1:] != "0" else "1")  # a stale factory record
        return serial

    # --- advertising ----------------------------------------------------------------------
    def advertising_data(self) -> bytes:
        """The advertising payload built from the board's state now (31 bytes at most): the
        complete name when it fits beside the rest, else a shortened one (the complete name is
        then in the scan response)."""
        board = self.board
        major, minor, patch = board.firmware_tuple
        battery = board.battery_level_pct()
        flags = ((fmt.AdvFlags.PROVISIONED if board.identity.serial else 0)
                 | (fmt.AdvFlags.LOW_BATTERY if battery < 20 else 0)
                 | (fmt.AdvFlags.STREAMING if board.stream_enabled else 0))
        payload = fmt.MANUFACTURER_PAYLOAD.build(dict(
            fw_major=major, fw_minor=minor, fw_patch=patch, battery_pct=battery, flags=flags))
        rest = []
        if "adv-missing-manufacturer-data" not in board.defects:
            rest.append((AdvertisingData.MANUFACTURER_SPECIFIC_DATA,
                         self.company_id.to_bytes(2, "little") + payload))
        rest.append((AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                     int(fmt.ENVIRONMENTAL_SENSING[4:8], 16).to_bytes(2, "little")))
        flags_ad = (AdvertisingData.FLAGS, bytes([0x06]))
        room = LEGACY_DATA_MAX - len(bytes(AdvertisingData([flags_ad, *rest]))) - 2
        name = self.name.encode()
        name_ad = ((AdvertisingData.COMPLETE_LOCAL_NAME, name) if len(name) <= room
                   else (AdvertisingData.SHORTENED_LOCAL_NAME, name[:room]))
        return bytes(AdvertisingData([flags_ad, name_ad, *rest]))

    def scan_response_data(self) -> bytes:
        """What an active scanner's SCAN_REQ gets: appearance, TX power, and the complete name
        when the advertisement could only carry a shortened one."""
        structures = [
            (AdvertisingData.APPEARANCE, self.appearance.to_bytes(2, "little")),
            (AdvertisingData.TX_POWER_LEVEL, TX_POWER_DBM.to_bytes(1, "little", signed=True))]
        if AdvertisingData.from_bytes(self.advertising_data()).get(
                AdvertisingData.SHORTENED_LOCAL_NAME) is not None:
            structures.append((AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()))
        return bytes(AdvertisingData(structures))

    async def _boot(self) -> None:
        """Advertising starts at boot, or radio.advertising_delay_s after it; a radio that
        lags the MCU's reset (radio.reset_lag_s) boots that much later too, after falling
        silent."""
        knobs, boot = self.board.knobs, self.board.boot_count
        delay = knobs.get("radio.advertising_delay_s", 0.0) + knobs.get("radio.reset_lag_s", 0.0)
        if delay:
            await asyncio.sleep(delay)
            if self.board.boot_count != boot:
                return  # the board went down and up meanwhile: that boot advertises
        await self._advertise()

    async def _advertise(self) -> None:
        """(Re)start advertising with the current payload and the mode's interval."""
        if self.board.powered:
            await self.advertise(self.advertising_data(), self.scan_response_data(),
                                 self.board.adv_interval_s)

    # --- board events ---------------------------------------------------------------------
    def _on_board_event(self, event: BoardEvent) -> None:
        """Board events arrive on the caller's thread; the radio acts on its own loop."""
        if self._closed:
            return
        action = {BoardEvent.BOOT: self._boot, BoardEvent.MODE: self._advertise,
                  BoardEvent.STREAM: self._advertise, BoardEvent.OFF: self._off}[event]
        future = asyncio.run_coroutine_threadsafe(action(), self.loop)
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)

    async def _off(self) -> None:
        lag = self.board.knobs.get("radio.reset_lag_s", 0.0)
        if lag:
            await asyncio.sleep(lag)
        if "ble-link-survives-reset" in self.board.defects:
            # The radio co-processor is not reset with the MCU: it stops advertising but keeps
            # its links up, so the central never learns that the board restarted.
            await self.stop_advertising()
        else:
            await self.fall_silent()

    def on_connection(self, connection: Connection) -> None:
        connection.on("disconnection", self._on_disconnection)
        if self._notifier is None or self._notifier.done():
            self._notifier = self.spawn(self._notify_environment())

    def _on_disconnection(self, _reason: int) -> None:
        if not self._closed:  # closing drops every link: nothing to advertise for
            self.spawn(self._advertise())

    # --- notifications and control --------------------------------------------------------
    async def _notify_environment(self) -> None:
        """Notify environmental values and counted telemetry at the board's telemetry rate while
        anyone is connected.

        Deadlines are absolute (next += period) so the emulator's own scheduling does not add
        drift; only the notify-rate-drift defect does.
        """
        knobs = self.board.knobs
        next_at = self.loop.time()
        last_battery = None
        held: bytes | None = None  # radio.notify_reorder_every: the one sent after its successor
        late = False  # radio.notify_jitter_s: every other notification goes out late
        while self.device.connections and self.board.powered:
            reading = self.board.read_sensors()
            for uuid, field, construct, knob in self._environment_fields():
                await self.device.notify_subscribers(self.environment[uuid], construct.build(
                    getattr(reading, field) + knobs.get(knob, 0)))
            seq = self.counters.next(fmt.CONTROL_TELEMETRY)
            note = fmt.TELEMETRY.build(dict(
                seq=seq, temperature_c=reading.temperature_c,
                humidity_pct=reading.humidity_pct, pressure_pa=reading.pressure_pa))
            lost = (seq % NOTIFY_LOSS_EVERY == NOTIFY_LOSS_EVERY - 1
                    and "ble-notify-loss" in self.board.defects)
            if lost or every(knobs, "radio.notify_loss_every", seq):
                pass  # never sent
            elif every(knobs, "radio.notify_reorder_every", seq + 1):
                held = note
            else:
                for _ in range(2 if every(knobs, "radio.notify_duplicate_every", seq) else 1):
                    await self.device.notify_subscribers(self.telemetry, note)
                if held is not None:
                    await self.device.notify_subscribers(self.telemetry, held)
                    held = None
            battery = self.board.battery_level_pct()
            if battery != last_battery:
                await self.device.notify_subscribers(self.battery, fmt.BATTERY.build(battery))
                last_battery = battery
            period = 1 / self.board.stream_rate_hz * knobs.get("radio.notify_period_factor", 1.0)
            if "notify-rate-drift" in self.board.defects:
                period *= NOTIFY_DRIFT
            next_at += period
            jitter = knobs.get("radio.notify_jitter_s", 0.0)
            late = not late and bool(jitter)
            await asyncio.sleep(max(0.0, next_at + (jitter if late else 0.0) - self.loop.time()))

    def _on_command(self, connection: Connection, value: bytes) -> None:
        status, op = fmt.ControlStatus.OK, value[0]
        try:
            request = fmt.CONTROL_REQUEST.parse(value)
            if request.op == fmt.ControlOp.SET_MODE:
                self.board.set_mode(Mode(request.value))
            elif request.op != fmt.ControlOp.GET_MODE:
                status = fmt.ControlStatus.BAD_OPCODE
        except ValueError:
            status = fmt.ControlStatus.BAD_VALUE
        reply = fmt.CONTROL_REPLY.build(dict(op=op, status=status, mode=self.board.mode))
        self.spawn(self.device.notify_subscriber(connection, self.response, reply))
