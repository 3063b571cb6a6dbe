"""The emulated ${name}: one state read by its faces, as strict as the real board should be.

Its power face (supply, current_a, clock, test points) is what citebench's emulated supply and
meter drive; its serial face answers frames on a public transport (a pty or a socket).
"""

from __future__ import annotations

import os
import threading
import time

from emulators.interfaces import BoardSettings
from emulators.serial_transport import SerialTransport

from ${name}_kit.codec import Decoder, Frame
from ${name}_kit.protocol import ERROR, IDENTIFY, IDENTITY, PING, REPLY_BIT, RESET, encode

DEFECTS = {"wrong-firmware": ("IDENTIFY reports firmware 0.0.9", "identity")}
ON_V = 3.0
RUN_A = 5e-3


class Board:
    """emulators.interfaces.EmulatedBoard and PowerFace in one small object."""

    test_points = ("vdd",)

    def __init__(self, settings: BoardSettings) -> None:
        self.settings = settings
        self.clock = time.monotonic
        self.supply_v = 3.3 if settings.powered else 0.0
        self.unique_id = bytes.fromhex((settings.unique_id or "00c0ffee00000001").rjust(16, "0"))
        self.firmware = (0, 0, 9) if "wrong-firmware" in settings.defects else (0, 1, 0)
        self.on_boot: list = []

    @property
    def power(self) -> Board:
        return self

    @property
    def powered(self) -> bool:
        return self.supply_v >= ON_V

    def supply(self, volts: float) -> None:
        was = self.powered
        self.supply_v = volts
        if self.powered and not was:
            for callback in self.on_boot:
                callback()

    def current_a(self, at: float | None = None) -> float:
        return RUN_A if self.powered else 0.0

    def test_point_v(self, name: str) -> float:
        return self.supply_v

    def serial_face(self, transport: SerialTransport) -> SerialFace:
        return SerialFace(self, transport)

    def radio_face(self) -> None:
        return None

    def shutdown(self) -> None:
        pass


class SerialFace:
    def __init__(self, board: Board, transport: SerialTransport) -> None:
        self.board = board
        self.transport = transport
        self.port = transport.port
        self._stop_r, self._stop_w = os.pipe()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        board.on_boot.append(self._banner)

    def start(self) -> SerialFace:
        self._thread.start()
        if self.board.powered:
            self._banner()
        return self

    def close(self) -> None:
        self._stopping.set()
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=2)
        self.transport.close()
        os.close(self._stop_r)
        os.close(self._stop_w)

    def _banner(self) -> None:
        self.transport.write(b"\r\n${name} ready\r\n")

    def _serve(self) -> None:
        decoder = Decoder()
        while not self._stopping.is_set():
            try:
                readable = self.transport.wait_readable(0.02, self._stop_r)
                data = self.transport.read() if readable else b""
            except (OSError, ValueError):
                return  # the port was closed under the face
            if not self.board.powered:
                decoder = Decoder()
                continue
            for event in (decoder.feed(data) if data else decoder.drop_partial()):
                if isinstance(event, Frame):
                    self._answer(event)

    def _answer(self, frame: Frame) -> None:
        board = self.board
        if frame.command == PING:
            self.transport.write(encode(PING | REPLY_BIT, frame.payload))
        elif frame.command == IDENTIFY:
            payload = IDENTITY.build({"unique_id": board.unique_id, "fw": bytes(board.firmware)})
            self.transport.write(encode(IDENTIFY | REPLY_BIT, payload))
        elif frame.command == RESET:
            self.transport.write(encode(RESET | REPLY_BIT))
            self._banner()
        else:
            self.transport.write(encode(ERROR, bytes([frame.command])))
