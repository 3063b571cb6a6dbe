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

Bench faults (`instrument.*` in emulators/faults.py) are switched on here, seeded: the connection
dropped once after N messages (a TCP reset, as when the instrument's LAN stack restarts), one
query reply in ten held back, a device-specific error (-3xx) queued once after N messages.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
from collections.abc import Mapping

from emulators.scpi import ERRORS, ScpiDevice

MAX_MESSAGE = 1 << 20  # a line longer than this is junk: -223 and dropped
LATE_SHARE = 0.1  # instrument.late_reply_ms: the share of query replies held back
# what instrument.device_error_after queues: device-specific errors of SCPI-99 (21.8.10)
DEVICE_ERRORS = (-310, -313, -321, -330, -363)


class InstrumentFaults:
    """The `instrument.*` bench faults of one server, seeded; counts what it injected.

    Messages are counted over every session of the server, as the instrument would see them.
    A drop happens instead of running the next message, so no command is left half done: the
    driver still cannot know whether it ran, as on a real instrument."""

    def __init__(self, faults: Mapping[str, float], seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._drop_after = int(faults.get("instrument.drop_after", 0))
        self._late_s = faults.get("instrument.late_reply_ms", 0.0) / 1000
        self._error_after = int(faults.get("instrument.device_error_after", 0))
        self._messages = 0
        self._lock = threading.Lock()
        self.injected = {"drops": 0, "late_replies": 0, "device_errors": 0}

    def drop_now(self) -> bool:
        """Count one message; True when the connection must drop instead of running it."""
        with self._lock:
            self._messages += 1
            drop = bool(self._drop_after) and self._messages == self._drop_after + 1
            self.injected["drops"] += drop
            return drop

    def device_error(self) -> tuple[int, str] | None:
        """After the message just run: the -3xx error to queue, once."""
        with self._lock:
            if not self._error_after or self._messages != self._error_after:
                return None
            self.injected["device_errors"] += 1
            code = self._rng.choice(DEVICE_ERRORS)
        return code, f"{ERRORS[code]}; emulated bench fault instrument.device_error_after"

    def reply_delay(self) -> float:
        """Seconds to hold back the reply about to be sent."""
        with self._lock:
            if not self._late_s or self._rng.random() >= LATE_SHARE:
                return 0.0
            self.injected["late_replies"] += 1
            return self._late_s


class ScpiServer:
    """Loopback TCP server for one emulated instrument."""

    def __init__(self, device: ScpiDevice, host: str = "127.0.0.1", port: int = 0, *,
                 faults: Mapping[str, float] | None = None, seed: int = 0) -> None:
        self.device = device
        self.faults = InstrumentFaults(faults or {}, seed)
        self._closed = threading.Event()  # ends a held-back reply's wait at once
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
        self._closed.set()
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
                    if self.faults.drop_now():
                        _reset(client)
                        return
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
        error = self.faults.device_error()
        if error is not None:
            with self.device.lock:
                self.device.push_error(*error)
        if reply is None or not writable:
            return writable
        if followed and self.device.interrupts_queries:
            with self.device.lock:
                self.device.push_error(-410, f"{ERRORS[-410]}; reply to {line[:40]!r} discarded")
            return writable
        delay = self.faults.reply_delay()
        if delay:
            self._closed.wait(delay)  # the fault is the delay itself; a closing server ends it
        try:
            client.sendall(reply + b"\n")
        except OSError:
            return False
        return True


def _reset(client: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as an instrument whose LAN stack restarts does:
    the peer's next read or write fails at once instead of waiting for its timeout."""
    with contextlib.suppress(OSError):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
