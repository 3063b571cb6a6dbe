"""What every emulated board's UART shares: two threads on one serial transport, and their end.

    class MyFace(UartFace):
        def _serve(self): ...    # answers requests until self._stopping is set
        def _timed(self): ...    # the board's own timed output (telemetry, reports)
        def _greet(self): ...    # the boot text, when the board is running at start

One thread answers requests, one sends what the board sends unprompted; `_changed` wakes the
latter when the board's state changes (and at close). `close()` stops both and closes the port;
`unplug()` makes the port vanish under whoever has it open, as a pulled USB cable does.
"""

from __future__ import annotations

import os
import threading

from emulators.serial_transport import SerialTransport


class UartFace:
    """Base of a kit's serial face: lifecycle only; what goes on the wire is the subclass's."""

    def __init__(self, transport: SerialTransport, name: str) -> None:
        self._transport = transport
        self.port = transport.port
        self._stop_r, self._stop_w = os.pipe()  # wakes the request thread out of its select()
        self._stopping = threading.Event()
        self._changed = threading.Event()
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name} uart {self.port}", daemon=True),
            threading.Thread(target=self._timed, name=f"{name} timed {self.port}", daemon=True),
        ]

    def _serve(self) -> None:
        raise NotImplementedError

    def _timed(self) -> None:
        raise NotImplementedError

    def _greet(self) -> None:
        raise NotImplementedError

    def start(self) -> UartFace:
        for thread in self._threads:
            thread.start()
        self._greet()
        return self

    def __enter__(self) -> UartFace:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stopping.set()
        self._changed.set()
        os.write(self._stop_w, b"x")
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=2)
        self._transport.close()
        for fd in (self._stop_r, self._stop_w):
            os.close(fd)

    def unplug(self) -> None:
        """The port vanishes: the pty (or socket) closes under whoever has it open."""
        self._transport.close()
