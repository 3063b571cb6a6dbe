"""The transports an emulated UART is served on: a real pty, or a loopback TCP socket.

    >>> transport = open_transport("pty")
    >>> transport.port.startswith("/dev/pts/")
    True
    >>> transport.close()

The bench opens `transport.port` exactly as it would open `/dev/ttyACM0` (or `socket://...`).
A board kit's serial face reads and writes bytes through `wait_readable`, `read` and `write`;
bytes written while nobody listens are lost, as on a real UART. `close()` makes the port vanish
under whoever has it open, the way a pulled USB cable does.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import tty
from typing import Protocol


class SerialTransport(Protocol):
    port: str  # what a driver opens: a device path or a pyserial URL

    def wait_readable(self, timeout: float, stop: int) -> bool:
        """Block until bytes arrive, `stop` (a file descriptor) is readable, or `timeout`."""

    def read(self) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class PtyTransport:
    """A pty pair: the face holds the master, the bench opens the slave's path."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.port = os.ttyname(self.slave)

    def wait_readable(self, timeout: float, stop: int) -> bool:
        ready, _, _ = select.select([self.master, stop], [], [], timeout)
        return self.master in ready

    def read(self) -> bytes:
        try:
            return os.read(self.master, 4096)
        except BlockingIOError:
            return b""

    def write(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except BlockingIOError:
            pass  # nobody reads the port and its buffer is full: the UART drops bytes

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class SocketTransport:
    """One client at a time, like a serial-over-TCP server (ser2net in raw mode)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.client: socket.socket | None = None
        self._write_lock = threading.Lock()

    def wait_readable(self, timeout: float, stop: int) -> bool:
        watched = [self.server, stop] + ([self.client] if self.client else [])
        ready, _, _ = select.select(watched, [], [], timeout)
        if self.server in ready:
            client, _ = self.server.accept()
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.client:
                self.client.close()
            self.client = client
        return self.client is not None and self.client in ready

    def read(self) -> bytes:
        try:
            data = self.client.recv(4096) if self.client else b""
        except OSError:
            data = b""
        if not data and self.client:
            self.client.close()
            self.client = None
        return data

    def write(self, data: bytes) -> None:
        with self._write_lock:
            if self.client:
                with contextlib.suppress(OSError):
                    self.client.sendall(data)

    def close(self) -> None:
        if self.client:
            self.client.close()
        self.server.close()


def open_transport(kind: str) -> SerialTransport:
    """A new transport: "pty" or "socket"."""
    if kind == "pty":
        return PtyTransport()
    if kind == "socket":
        return SocketTransport()
    raise ValueError(f"serial transport must be \"pty\" or \"socket\", got {kind!r}")
