"""The WS-100's UART: its firmware served on a serial transport (a real pty or a loopback socket).

    >>> board = BoardModel(seed=1)
    >>> with SerialFace(board, open_transport("socket")) as face:
    ...     face.port.startswith("socket://")
    True

The bench opens `face.port` exactly as it would open `/dev/ttyACM0` (or `socket://...`). Bytes the
firmware writes while nobody listens are lost, as on a real UART. `unplug()` makes the port vanish
mid-test, the way a USB cable pulled out does.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from emulators.serial_transport import PtyTransport, SerialTransport
from emulators.uart_face import UartFace
from emulators.ws100_board import BoardEvent, BoardModel
from emulators.ws100_firmware import Firmware
from emulators.ws100_knobs import every
from protocols.ws100_frames import FrameDecoder, encode_frame
from protocols.ws100_messages import MsgType, build_payload

if TYPE_CHECKING:
    from emulators.smp_serial import SmpUart

SLOW_RESPONSE_S = 0.120
GAP_PROBABILITY = 0.1
INTERBYTE_TIMEOUT_S = 0.02


def _smp_uart(board: BoardModel, write: Callable[[bytes], None]) -> SmpUart | None:
    """SMP (mcumgr) sharing this UART with the board's frames (emulators/smp_serial.py), or
    None without the `dfu` extra: then the firmware has no mcumgr, and SMP lines are noise."""
    try:
        from emulators.smp_serial import SmpUart
        from emulators.smp_server import SmpServer
    except ModuleNotFoundError:
        return None
    return SmpUart(SmpServer(board.bootloader, board.reset, board.defects, board.knobs), write)


class SerialFace(UartFace):
    """Serves one board's firmware on one serial transport (a pty unless another is given)."""

    def __init__(self, board: BoardModel, transport: SerialTransport | None = None,
                 seed: int = 0) -> None:
        super().__init__(transport or PtyTransport(), "ws100")
        self.board = board
        self.firmware = Firmware(board)
        self._rng = random.Random(seed)
        self._responses = 0
        self.smp = _smp_uart(board, self._transport.write)
        board.listen(self._on_board_event)

    def _greet(self) -> None:
        if self.board.powered:
            self._print_banner()

    # --- board events -------------------------------------------------------------------------
    def _on_board_event(self, event: BoardEvent) -> None:
        if event is BoardEvent.BOOT:
            self._print_banner()
        self._changed.set()

    def _print_banner(self) -> None:
        ident = self.board.identity
        firmware = "1.4.1" if "banner-firmware-mismatch" in self.board.defects else ident.firmware
        self._transport.write(
            f"\r\ncitebench-fw {firmware} ({ident.part_number} rev {ident.hw_revision}) "
            f"boot #{self.board.boot_count}\r\nready\r\n".encode()
        )

    # --- request/response -----------------------------------------------------------------------
    def _serve(self) -> None:
        decoder = FrameDecoder()
        while not self._stopping.is_set():
            try:
                readable = self._transport.wait_readable(INTERBYTE_TIMEOUT_S, self._stop_r)
                data = self._transport.read() if readable else b""
            except (OSError, ValueError):
                return  # unplugged
            if not self.board.powered:
                decoder = FrameDecoder()  # an unpowered UART hears nothing
                if self.smp:
                    self.smp.reset()  # a line cut by the power loss is gone, not glued on
                continue
            if data and self.smp:
                data = self.smp.feed(data, binary_idle=decoder.pending == 0)
                if not data:
                    continue
            events = decoder.feed(data) if data else decoder.drop_partial()
            for event in events:
                if isinstance(event, str):
                    continue
                replies = self.firmware.handle(event)
                if replies:
                    self._responses += 1
                    delay = self._response_delay_s()
                    if delay:
                        time.sleep(delay)  # a late answer is the point; nothing to await
                for reply in replies:
                    self._transport.write(reply)
                if self.firmware.reset_pending:
                    self.firmware.reset_pending = False
                    self.board.reset()

    def _response_delay_s(self) -> float:
        """How late the current response goes out: the slow-response defect, else the knobs."""
        if "slow-response" in self.board.defects:
            return SLOW_RESPONSE_S
        knobs = self.board.knobs
        if self._responses % int(knobs.get("serial.response_delay_every", 1)):
            return 0.0
        return knobs.get("serial.response_delay_s", 0.0)

    # --- telemetry ------------------------------------------------------------------------------
    def _timed(self) -> None:
        counter = 0
        next_due = time.monotonic()
        while not self._stopping.is_set():
            board = self.board
            if not (board.powered and board.stream_enabled):
                self._changed.wait()
                self._changed.clear()
                next_due = time.monotonic()
                continue
            period = 1.0 / (board.stream_rate_hz * board.knobs.get("telemetry.rate_factor", 1.0))
            if "telemetry-rate-slow" in board.defects:
                period /= 0.85
            if self._changed.wait(max(0.0, next_due - time.monotonic())):
                self._changed.clear()
                next_due = time.monotonic() + period
                continue
            next_due += period
            counter += 1
            if "telemetry-gaps" in board.defects and self._rng.random() < GAP_PROBABILITY:
                continue
            if every(board.knobs, "telemetry.loss_every", counter):
                continue
            self._transport.write(self._telemetry_frame(counter))

    def _telemetry_frame(self, counter: int) -> bytes:
        values = self.board.read_sensors().to_wire()
        if "telemetry-temperature-offset" in self.board.defects:
            values["temperature_cdeg"] += 3000
        values |= {"counter": counter,
                   "uptime_ms": int((self.board.clock() - self.board.booted_at) * 1000)}
        return encode_frame(MsgType.TELEMETRY, counter, build_payload(MsgType.TELEMETRY, values))


