"""The tracker's UART: its boot log, its banner and its firmware, served on a public transport
(a real pty or a loopback socket, emulators/serial_transport.py).

    >>> board = TrackerBoard(seed=1)
    >>> with SerialFace(board, open_transport("socket")) as face:
    ...     face.port.startswith("socket://")
    True

The bench opens `face.port` as it would open the tracker's USB CDC port. While the board is
awake, a REPORT frame leaves every reporting interval; a board asleep in shipping mode, or
unpowered, hears nothing and says nothing.
"""

from __future__ import annotations

import threading

from emulators.serial_transport import SerialTransport, open_transport
from emulators.tracker_board import BoardEvent, TrackerBoard
from emulators.tracker_firmware import Firmware
from emulators.uart_face import UartFace
from protocols.tracker_frames import FrameDecoder

__all__ = ["SerialFace", "open_transport"]

INTERBYTE_TIMEOUT_S = 0.02


def boot_log(board: TrackerBoard) -> bytes:
    """What the tracker prints from reset to the point where it takes commands."""
    ident = board.identity
    return (f"\r\n[boot] tracker bootloader 1.0.4, reset #{board.boot_count}\r\n"
            f"[boot] image {ident.firmware} verified\r\n"
            f"tracker-fw v{ident.firmware} uid={ident.unique_id:016x} hw={ident.hw_revision}\r\n"
            f"tracker: ready\r\n").encode("ascii")


class SerialFace(UartFace):
    """Serves one tracker's firmware on one serial transport."""

    def __init__(self, board: TrackerBoard, transport: SerialTransport) -> None:
        super().__init__(transport, "tracker")
        self.board = board
        self.firmware = Firmware(board)
        self._write_lock = threading.Lock()  # frames from two threads never interleave
        board.listen(self._on_board_event)

    def _greet(self) -> None:
        if self.board.awake:
            self._write(boot_log(self.board))

    def _write(self, data: bytes) -> None:
        with self._write_lock:
            self._transport.write(data)

    def _on_board_event(self, event: BoardEvent) -> None:
        if event is BoardEvent.BOOT:
            self._write(boot_log(self.board))
        self._changed.set()

    def _serve(self) -> None:
        decoder = FrameDecoder()
        while not self._stopping.is_set():
            try:
                readable = self._transport.wait_readable(INTERBYTE_TIMEOUT_S, self._stop_r)
                data = self._transport.read() if readable else b""
            except (OSError, ValueError):
                return  # unplugged
            if not self.board.awake:
                decoder = FrameDecoder()  # an unpowered or shipped UART hears nothing
                continue
            for event in decoder.feed(data) if data else decoder.drop_partial():
                if isinstance(event, str):
                    continue  # a terminal user typing: the firmware has no shell
                for frame in self.firmware.handle(event):
                    self._write(frame)
                self.firmware.after_reply()

    def _timed(self) -> None:
        """One REPORT frame every reporting interval while awake; a new interval restarts it."""
        counter, first = 0, True
        step = int(self.board.knobs.get("report.counter_step", 1))
        while not self._stopping.is_set():
            self._changed.clear()
            if not self.board.awake:
                self._changed.wait()
                first = True
                continue
            if self._changed.wait(self.board.report_wait_s(first)):
                first = True
                continue  # settings changed, a reboot: start a fresh period
            first = False
            if self.board.awake:
                counter += step
                self._write(self.firmware.report(counter))
