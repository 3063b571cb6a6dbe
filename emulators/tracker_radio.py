"""The tracker's radio face: its command protocol over the Nordic UART Service.

    >>> radio = NusFace(TrackerBoard()).start()
    >>> radio.resource.startswith("tcp-client:127.0.0.1:")
    True
    >>> radio.close()

The Nordic UART Service (NUS) is a byte pipe over GATT: the central writes to RX and subscribes
to TX. The tracker carries exactly its serial frames through it (00 | COBS | 00, the same codec),
so a frame longer than one ATT payload (ATT_MTU - 3 bytes) is sent as several notifications
and the receiver's zero-delimited decoder puts it back together. The tracker's SoftDevice keeps
the default ATT MTU of 23, so most replies span two notifications.

The peripheral itself (controller on a Bumble link, TCP centrals, strict GATT, advertising) is
the generic `emulators.ble_peripheral.BlePeripheral`; this module holds the tracker's service,
advertising payload and how its firmware sits behind them. With the `dfu` extra it also serves
mcumgr's SMP service (emulators/smp_gatt.py) on the board's MCUboot (docs/dfu.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine

from bumble import gatt
from bumble.core import AdvertisingData
from bumble.device import Connection

from emulators.ble_peripheral import BlePeripheral, Props, attribute_uuid
from emulators.smp_gatt import smp_services
from emulators.tracker_board import BoardEvent, TrackerBoard
from emulators.tracker_firmware import Firmware
from protocols.tracker_frames import FrameDecoder

NUS_SERVICE = "6E400001-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_RX = "6E400002-B5A3-F393-E0A9-E50E24DCCA9E"  # central writes requests here
NUS_TX = "6E400003-B5A3-F393-E0A9-E50E24DCCA9E"  # the tracker notifies its frames here
ATT_MTU = 23  # the tracker's SoftDevice default: 20 bytes of value per notification
ADV_INTERVAL_S = 0.1
APPEARANCE = 0x0200  # Generic Tag (Assigned Numbers, Appearance Values)
STRAY_FRAME = b"\x01\x00"  # after a frame's closing zero: one byte too short to be a frame


class NusFace(BlePeripheral):
    """The tracker's BLE face: advertising while awake, its firmware behind NUS."""

    def __init__(self, board: TrackerBoard, seed: int = 0) -> None:
        super().__init__(name=board.identity.ble_name, address=board.identity.ble_address,
                         appearance=APPEARANCE, seed=seed)
        self.board = board
        self.firmware = Firmware(board)
        self._decoders: dict[int, FrameDecoder] = {}  # per connection handle
        self._malformed_left = int(board.knobs.get("nus.malformed_frames", 0))
        self._closed = False

    def start(self) -> NusFace:
        super().start()
        self.device.gatt_server.max_mtu = ATT_MTU
        self.board.listen(self._on_board_event)
        if self.board.awake:
            self._on_board_event(BoardEvent.BOOT)
        return self

    def close(self) -> None:
        self._closed = True  # the board outlives its faces and keeps sending events
        super().close()

    def services(self) -> list[gatt.Service]:
        self.tx = self.characteristic(NUS_TX, Props.NOTIFY)
        rx = self.characteristic(NUS_RX, Props.WRITE | Props.WRITE_WITHOUT_RESPONSE,
                                 write=self._on_write)
        board = self.board
        return [gatt.Service(attribute_uuid(NUS_SERVICE), [rx, self.tx]),
                *smp_services(self, board.bootloader, board.reboot, board.defects,
                              board.knobs)]

    def advertising_data(self) -> bytes:
        """Flags, the NUS UUID and the name: 31 bytes, all that legacy advertising holds."""
        return bytes(AdvertisingData([
            (AdvertisingData.FLAGS, bytes([0x06])),
            (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
             bytes(attribute_uuid(NUS_SERVICE))),
            (AdvertisingData.COMPLETE_LOCAL_NAME, self.board.identity.ble_name.encode()),
        ]))

    async def _advertise(self) -> None:
        if self.board.awake:
            await self.advertise(self.advertising_data(), b"", ADV_INTERVAL_S)

    def _on_board_event(self, event: BoardEvent) -> None:
        """Board events arrive on the caller's thread; the radio acts on its own loop."""
        if self._closed or event is BoardEvent.SETTINGS:
            return
        action: Callable[[], Coroutine] = (self._advertise if event is BoardEvent.BOOT
                                           else self.fall_silent)
        future = asyncio.run_coroutine_threadsafe(action(), self.loop)
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)

    def on_connection(self, connection: Connection) -> None:
        self._decoders[connection.handle] = FrameDecoder()
        connection.on("disconnection", lambda _reason: self._on_disconnection(connection))

    def _on_disconnection(self, connection: Connection) -> None:
        self._decoders.pop(connection.handle, None)
        if not self._closed:  # closing drops every link: nothing to advertise for
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
        stray = self._malformed_left > 0  # knob nus.malformed_frames
        if stray:
            self._malformed_left -= 1
            frames[-1] += STRAY_FRAME
        for index, frame in enumerate(frames):
            for piece in fragments(frame, step, full_last=stray and index == len(frames) - 1):
                await self.device.notify_subscriber(connection, self.tx, piece)
        self.firmware.after_reply()


def fragments(data: bytes, size: int, *, full_last: bool = False) -> list[bytes]:
    """`data` in notifications of at most `size` bytes; `full_last` cuts the short piece at
    the front instead, so a stray frame behind a reply arrives in the same notification as the
    reply's end (a stray frame alone, later, would be taken for the next request's reply)."""
    first = len(data) % size if full_last and len(data) % size else size
    return [data[:first], *(data[start:start + size] for start in range(first, len(data), size))]
