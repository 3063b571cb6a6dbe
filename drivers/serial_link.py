"""Frame-level link to a board over any pyserial port: requests, responses, telemetry, console text.

    >>> with SerialLink(port) as link:                       # doctest: +SKIP
    ...     link.expect("ready", timeout=2)
    ...     reply = link.request(MsgType.PING, {"data": b"hi"})

Why a reader thread: the board talks unprompted (boot banner, telemetry), so bytes must be read
as they come or the OS buffer overflows and a frame is lost between two requests. The thread
owns the port's input and the decoder; callers wait on a condition for their sequence number.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import deque
from dataclasses import dataclass

import serial

from drivers.traffic import TrafficLog
from protocols.frames import Frame, FrameDecoder, ProtocolError, encode_frame
from protocols.messages import RESPONSE_BIT, MsgType, NackCode, build_payload, parse_payload

INTERBYTE_TIMEOUT_S = 0.05
TAIL_BYTES = 64


class LinkError(Exception):
    """Base of the link's errors; each names the port and what was sent and received."""


class PortLostError(LinkError):
    """The port vanished (pty closed, USB unplugged, TCP peer gone)."""


class ResponseTimeoutError(LinkError):
    """No matching response within the timeout, after every retry."""


class NackError(LinkError):
    """The board refused a request; `code` is its NackCode."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class ExpectTimeoutError(LinkError):
    """Console text did not show what was expected in time."""


@dataclass
class LinkStats:
    requests: int = 0
    retries: int = 0
    protocol_errors: int = 0


class SerialLink:
    """One board's serial port, opened from a device path or pyserial URL."""

    def __init__(
        self, port: str, baudrate: int = 115200, timeout_s: float = 1.0, retries: int = 2
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.retries = retries
        self.traffic = TrafficLog(port)
        self.stats = LinkStats()
        self.errors: deque[ProtocolError] = deque(maxlen=256)
        self.telemetry: deque[tuple[float, Frame]] = deque(maxlen=100_000)
        self._serial: serial.SerialBase | None = None
        self._replies: dict[int, Frame] = {}
        self._console = ""
        self._rx_tail = bytearray()
        self._lost: Exception | None = None
        self._seq = itertools.count(1)
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._closing = False

    # --- lifecycle ------------------------------------------------------------------------------
    def open(self) -> SerialLink:
        try:
            self._serial = serial.serial_for_url(
                self.port, baudrate=self.baudrate, timeout=INTERBYTE_TIMEOUT_S
            )
        except (serial.SerialException, OSError, ValueError) as error:
            raise PortLostError(f"cannot open serial port {self.port}: {error}") from error
        self._reader = threading.Thread(target=self._read_loop, name=f"reader {self.port}",
                                        daemon=True)
        self._reader.start()
        return self

    def close(self) -> None:
        self._closing = True
        if self._reader is not None:
            self._reader.join(timeout=2)
        if self._serial is not None:
            self._serial.close()
        self.traffic.close()

    def __enter__(self) -> SerialLink:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the reader thread ------------------------------------------------------------------------
    def _read_loop(self) -> None:
        decoder = FrameDecoder()
        ser = self._serial
        assert ser is not None
        while not self._closing:
            try:
                data = ser.read(1)
                if data:
                    data += ser.read(ser.in_waiting)
            except (serial.SerialException, OSError, TypeError, AttributeError) as error:
                # TypeError/AttributeError: pyserial's socket:// after the peer is gone
                if not self._closing:
                    self._mark_lost(error)
                return
            if data:
                self.traffic.bytes("RX", data)
                self._rx_tail = (self._rx_tail + data)[-TAIL_BYTES:]
                events = decoder.feed(data)
            elif decoder.pending:
                events = decoder.drop_partial()
            else:
                continue
            if events:
                self._dispatch(events)

    def _dispatch(self, events: list[Frame | ProtocolError | str]) -> None:
        with self._cond:
            for event in events:
                if isinstance(event, str):
                    self._console += event
                elif isinstance(event, ProtocolError):
                    self.stats.protocol_errors += 1
                    self.errors.append(event)
                    self.traffic.note(f"   !! {event}")
                else:
                    self.traffic.note(f"   << {describe(event)}")
                    if event.type == MsgType.TELEMETRY:
                        self.telemetry.append((time.monotonic(), event))
                    else:
                        self._replies[event.seq] = event
            self._cond.notify_all()

    def _mark_lost(self, error: Exception) -> None:
        with self._cond:
            self._lost = error
            self.traffic.note(f"   !! port lost: {error}")
            self._cond.notify_all()

    # --- sending ----------------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (robustness tests send broken frames on purpose)."""
        self._check_alive("sending " + data.hex(" "))
        self.traffic.bytes("TX", data)
        try:
            with self._write_lock:
                assert self._serial is not None
                self._serial.write(data)
        except (serial.SerialException, OSError) as error:
            self._mark_lost(error)
            raise PortLostError(f"serial port {self.port} lost while sending "
                                f"{data.hex(' ')}: {error}") from error

    def next_seq(self) -> int:
        return next(self._seq) & 0xFF

    def wait_reply(self, seq: int, timeout: float) -> Frame | None:
        """The response or NACK carrying `seq`, or None when `timeout` passes first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while seq not in self._replies:
                self._check_alive(f"waiting for the reply to seq {seq}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return self._replies.pop(seq)

    def request(self, msg_type: MsgType, values: dict | None = None,
                timeout: float | None = None, retries: int | None = None):
        """Send a request and return its parsed response payload; NACKs raise NackError."""
        timeout = self.timeout_s if timeout is None else timeout
        retries = self.retries if retries is None else retries
        payload = build_payload(msg_type, values)
        sent = b""
        for attempt in range(retries + 1):
            if attempt:
                self.stats.retries += 1
                self.traffic.note(f"   .. retry {attempt}/{retries} of {msg_type.name}")
            seq = self.next_seq()
            with self._cond:
                self._replies.pop(seq, None)
            sent = encode_frame(msg_type, seq, payload)
            self.stats.requests += 1
            self.traffic.note(f"   >> {msg_type.name} seq={seq} {values or ''}")
            self.send_raw(sent)
            reply = self.wait_reply(seq, timeout)
            if reply is not None:
                return self._accept(msg_type, sent, reply)
        raise ResponseTimeoutError(
            f"{self.port}: no reply to {msg_type.name} within {timeout:g} s after "
            f"{retries + 1} attempt(s); last sent {sent.hex(' ')}; last bytes received: "
            f"{bytes(self._rx_tail).hex(' ') or '(none)'}{self._log_hint()}"
        )

    def _accept(self, msg_type: MsgType, sent: bytes, reply: Frame):
        if reply.type == MsgType.NACK:
            nack = parse_payload(MsgType.NACK, reply.payload)
            code = NackCode(nack.code) if nack.code in NackCode._value2member_map_ else nack.code
            raise NackError(f"{self.port}: board NACKed {msg_type.name} with "
                            f"{getattr(code, 'name', code)}; sent {sent.hex(' ')}", nack.code)
        if reply.type != msg_type | RESPONSE_BIT:
            raise ProtocolError(
                f"{self.port}: reply to {msg_type.name} has type 0x{reply.type:02x}", reply.offset,
                encode_frame(reply.type, reply.seq, reply.payload))
        return parse_payload(reply.type, reply.payload)

    # --- console text ------------------------------------------------------------------------
    def expect(self, pattern: str | re.Pattern[str], timeout: float | None = None) -> re.Match[str]:
        """Wait for console text matching `pattern`; consumes the text up to the match's end."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + (self.timeout_s if timeout is None else timeout)
        with self._cond:
            while True:
                match = regex.search(self._console)
                if match:
                    self._console = self._console[match.end():]
                    return match
                self._check_alive(f"waiting for console text {regex.pattern!r}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ExpectTimeoutError(
                        f"{self.port}: console text {regex.pattern!r} not seen within "
                        f"{timeout if timeout is not None else self.timeout_s:g} s; tail of what "
                        f"arrived: {self._console[-200:]!r}{self._log_hint()}"
                    )
                self._cond.wait(remaining)

    def clear_console(self) -> None:
        with self._cond:
            self._console = ""

    # --- helpers ----------------------------------------------------------------------------------
    def _check_alive(self, doing: str) -> None:
        if self._lost is not None:
            raise PortLostError(f"serial port {self.port} vanished ({self._lost}) while {doing}"
                                f"{self._log_hint()}")

    def _log_hint(self) -> str:
        return f"; traffic log: {self.traffic.path}" if self.traffic.path else ""


def describe(frame: Frame) -> str:
    """One log line for a decoded frame: its type, sequence number and fields."""
    try:
        fields = parse_payload(frame.type, frame.payload)
        shown = ", ".join(f"{k}={v!r}" for k, v in fields.items() if not k.startswith("_"))
    except ProtocolError as error:
        shown = f"undecodable payload ({error})"
    return f"{frame.name} seq={frame.seq} {shown}"
