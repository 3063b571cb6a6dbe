"""The transports an emulated UART is served on: a real pty, or a loopback TCP socket.

    >>> transport = open_transport("pty")
    >>> transport.port.startswith("/dev/pts/")
    True
    >>> transport.close()

The bench opens `transport.port` exactly as it would open `/dev/ttyACM0` (or `socket://...`);
`UsbPty` also publishes the pty under the names a USB serial device gets (`ttyACM0`, and a stable
`by-id` link) and can re-enumerate, vanishing and coming back as a USB device does.
A board kit's serial face reads and writes bytes through `wait_readable`, `read` and `write`;
bytes written while nobody listens are lost, as on a real UART. `close()` makes the port vanish
under whoever has it open, the way a pulled USB cable does.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import tempfile
import threading
import time
import tty
from pathlib import Path
from typing import Protocol

REPLUG_GAP_S = 0.3  # how long a re-enumerating USB serial device is gone (0.2-1 s on a desk)


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


class UsbPty:
    """A pty named as a USB serial device is, which can re-enumerate once.

    `node` is the device node (`<dir>/ttyACM0`, as /dev/ttyACM0) and `by_id` its stable link (as
    /dev/serial/by-id/usb-...); `port` is the one the bench is given (`by_id` when asked). With
    `replug_after_s`, the device vanishes that long after the bench first writes to it: the pty
    closes under the bench and both names disappear; REPLUG_GAP_S later it is back on a new pty,
    under the same node name, or under the next one (`ttyACM1`) when `new_path` is set, as when
    the old name was still held. The by-id link always follows it, which is why desks name USB
    ports by id.
    """

    def __init__(self, *, by_id: bool = False, replug_after_s: float | None = None,
                 new_path: bool = False) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="citebench-usb-"))
        (self._dir / "by-id").mkdir()
        self.node = str(self._dir / "ttyACM0")
        self.by_id = str(self._dir / "by-id" / "usb-citebench_emulated_board-if00")
        self.port = self.by_id if by_id else self.node
        self._after_s, self._new_path = replug_after_s, new_path
        self._lock = threading.Lock()
        self._inner: PtyTransport | None = None
        self._first_write: float | None = None  # when the bench first wrote: arms the replug
        self._back_at = 0.0
        self.replugs = 0
        self._plug(self.node)

    def _plug(self, node: str) -> None:
        self._inner = PtyTransport()
        self.node = node
        for link in (node, self.by_id):
            os.symlink(self._inner.port, link)

    def _tick(self) -> float:
        """Vanish or come back when it is time; returns the seconds to the next change."""
        now = time.monotonic()
        with self._lock:
            if self._inner is not None:
                if self._after_s is None or self.replugs or self._first_write is None:
                    return 3600.0
                due = self._first_write + self._after_s
                if now < due:
                    return due - now
                self._inner.close()
                self._inner = None
                for link in (self.node, self.by_id):
                    os.unlink(link)
                self._back_at = now + REPLUG_GAP_S
                return REPLUG_GAP_S
            if now < self._back_at:
                return self._back_at - now
            self.replugs += 1
            self._plug(str(self._dir / "ttyACM1") if self._new_path else self.node)
            return 3600.0

    def wait_readable(self, timeout: float, stop: int) -> bool:
        timeout = min(timeout, self._tick())
        inner = self._inner
        if inner is None:  # unplugged: nothing to read until it comes back
            select.select([stop], [], [], timeout)
            return False
        return inner.wait_readable(timeout, stop)

    def read(self) -> bytes:
        inner = self._inner
        data = inner.read() if inner is not None else b""
        if data and self._first_write is None:
            self._first_write = time.monotonic()
        return data

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._inner is not None:  # written while unplugged: lost, as on the desk
                self._inner.write(data)

    def close(self) -> None:
        with self._lock:
            if self._inner is not None:
                self._inner.close()
                self._inner = None
        shutil.rmtree(self._dir, ignore_errors=True)


TRANSPORTS = ("pty", "pty-by-id", "socket")


def open_transport(kind: str, replug_after_s: float | None = None,
                   new_path: bool = False) -> SerialTransport:
    """A new transport: "pty", "pty-by-id" (a `UsbPty` named by its by-id link) or "socket";
    `replug_after_s` (a pty only) makes it re-enumerate once (`UsbPty`)."""
    if kind not in TRANSPORTS:
        raise ValueError(f"serial transport must be one of {', '.join(TRANSPORTS)}, got {kind!r}")
    if kind == "socket":
        if replug_after_s is not None:
            raise ValueError("serial.replug_after_s needs a pty transport (a USB device "
                             "re-enumerates; a TCP serial server does not)")
        return SocketTransport()
    if kind == "pty-by-id" or replug_after_s is not None:
        return UsbPty(by_id=kind == "pty-by-id", replug_after_s=replug_after_s,
                      new_path=new_path)
    return PtyTransport()
