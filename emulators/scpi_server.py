"""Serves a ScpiDevice on loopback TCP, the way a LAN instrument serves its SCPI socket.

    >>> with ScpiServer(device) as server:                       # doctest: +SKIP
    ...     server.resource
    'TCPIP0::127.0.0.1::40123::SOCKET'

Any VISA tool reaches it through that resource string (pyvisa-py: `read_termination="\\n"`).
One thread per connection, newline-terminated messages, one device lock, so several sessions
see one instrument as they would on the desk. A client that vanishes mid-reply does not stop the
commands it already sent: a supply told `OUTP OFF` just before the session dropped still turns
its output off. A model that claims IEEE 488.2 discards the reply of a query that the next
message reached before the reply went out (both in one write) and queues -410, as the standard
asks of an instrument whose controller sent again before reading.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from emulators.scpi import ERRORS, ScpiDevice

MAX_MESSAGE = 1 << 20  # a line longer than this is junk: -223 and dropped


class ScpiServer:
    """Loopback TCP server for one emulated instrument."""

    def __init__(self, device: ScpiDevice, host: str = "127.0.0.1", port: int = 0) -> None:
        self.device = device
        self._listener = socket.create_server((host, port))
        self.port = self._listener.getsockname()[1]
        self.resource = f"TCPIP0::{host}::{self.port}::SOCKET"
        self._clients: set[socket.socket] = set()
        self._changed = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._accept, name=f"scpi {self.resource}",
                                        daemon=True)

    def start(self) -> ScpiServer:
        self._thread.start()
        return self

    def __enter__(self) -> ScpiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connections(self) -> int:
        """Open client sessions (the safety test checks that a run closed its own)."""
        with self._changed:
            return len(self._clients)

    def wait_connections(self, count: int, timeout: float) -> bool:
        """Wait until exactly `count` sessions are open."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._clients) == count, timeout)

    def close(self) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._changed:
            for client in list(self._clients):
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=2)

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._changed:
                self._clients.add(client)
                self._changed.notify_all()
            threading.Thread(target=self._serve, args=(client,), daemon=True,
                             name=f"scpi session {self.port}").start()

    def _serve(self, client: socket.socket) -> None:
        pending = b""
        writable = True
        try:
            while True:
                try:
                    data = client.recv(65536)
                except OSError:
                    data = b""
                pending += data
                *lines, pending = pending.split(b"\n")
                lines = [line for line in lines if line.rstrip(b"\r").strip()]
                for i, line in enumerate(lines):  # run even when nobody can read the replies
                    writable = self._answer(client, line, writable, i + 1 < len(lines))
                if not data:
                    return
                if len(pending) > MAX_MESSAGE:
                    self.device.push_error(-223, f"message over {MAX_MESSAGE} bytes")
                    pending = b""
        finally:
            client.close()
            with self._changed:
                self._clients.discard(client)
                self._changed.notify_all()

    def _answer(self, client: socket.socket, line: bytes, writable: bool, followed: bool) -> bool:
        """Run one message; False once the client can no longer be written to."""
        reply = self.device.execute(line.rstrip(b"\r").decode("latin-1"))
        if reply is None or not writable:
            return writable
        if followed and self.device.interrupts_queries:
            with self.device.lock:
                self.device.push_error(-410, f"{ERRORS[-410]}; reply to {line[:40]!r} discarded")
            return writable
        try:
            client.sendall(reply + b"\n")
        except OSError:
            return False
        return True
