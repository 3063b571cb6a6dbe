"""Frame-level link to any board over any pyserial port: requests, replies, unsolicited frames,
console text. The board's own framing is its kit's codec (protocols/codec.py).

    >>> with SerialLink(port, Ws100Codec()) as link:              # doctest: +SKIP
    ...     link.expect("ready", timeout=2)
    ...     reply = link.request(Frame(MsgType.PING, 0, b"hi"))

Why a reader thread: the board talks unprompted (boot banner, telemetry, events), so bytes must be
read as they come or the OS buffer overflows and a frame is lost between two requests. The thread
owns the port's input and the decoder; callers wait for the reply paired with their request (by
sequence number, or the one reply of a codec that keeps one request in flight).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import serial
from serial.serialposix import Serial as PosixSerial

from drivers.errors import ResourceLostError
from drivers.traffic import TrafficLog
from protocols.codec import Codec
from protocols.errors import ProtocolError

INTERBYTE_TIMEOUT_S = 0.05
TAIL_BYTES = 64
LEND_IDLE_S = 0.005
REOPEN_POLL_S = 0.05  # how often a vanished port's path is tried while it may come back


class LinkError(Exception):
    """Base of the link's errors; each names the port and what was sent and received."""


class PortLostError(LinkError, ResourceLostError):
    """The port vanished (pty closed, USB unplugged, TCP peer gone)."""


class ResponseTimeoutError(LinkError):
    """No matching response within the timeout, after every retry."""


class ExpectTimeoutError(LinkError):
    """Console text did not show what was expected in time."""


@dataclass
class LinkStats:
    requests: int = 0
    retries: int = 0
    protocol_errors: int = 0
    corrupt_replies: int = 0  # a damaged frame arrived while a reply was awaited
    damaged: int = 0  # damaged frames seen on the line (bad CRC, cut frames, stray text)
    reconnects: int = 0  # the port vanished and was opened again (USB re-enumeration)


class LineNoiseError(LinkError):
    """Every attempt's reply arrived damaged: the line (cable, hub, level shifter) is bad."""


_CORRUPT = object()  # what a wait returns when a damaged frame arrived instead of the reply
_REOPENED = object()  # what a wait returns when the port vanished and came back meanwhile
CORRUPT_RETRIES = 8  # damaged replies re-asked at once, beside the timeout retries


class SerialLink:
    """One board's serial port, opened from a device path or pyserial URL, framed by `codec`."""

    def __init__(self, port: str, codec: Codec, baudrate: int = 115200, timeout_s: float = 1.0,
                 retries: int = 2, reconnect_s: float = 0.0) -> None:
        self.port = port
        self.codec = codec
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.retries = retries
        self.reconnect_s = reconnect_s  # how long a vanished port may take to come back
        self.traffic = TrafficLog(port, codec.describe)
        self.stats = LinkStats()
        self.errors: deque[ProtocolError] = deque(maxlen=256)
        # frames the board sent unprompted (telemetry, events), with their arrival time
        self.unsolicited: deque[tuple[float, object]] = deque(maxlen=100_000)
        self._serial: serial.SerialBase | None = None
        self._replies: dict[Hashable, object] = {}
        self._waiters: dict[Hashable, threading.Lock] = {}  # key -> lock its waiter blocks on
        self._console = ""
        self._rx_tail = bytearray()  # the last TAIL_BYTES received, for error messages
        self._lost: Exception | None = None
        self._seq = itertools.count(1)
        self._cond = threading.Condition()
        self._write_lock = threading.RLock()  # also held while a vanished port is reopened
        self._generation = 0  # how many times the port was reopened
        self._reader: threading.Thread | None = None
        self._closing = False
        self._decoder = codec.decoder()
        self._in_flight = threading.Lock()  # codecs without sequence numbers: one request
        # Damaged frames seen: by sequence number when the error knows it, else counted; a wait
        # that sees its own (or an unknown) damage re-asks at once instead of timing out.
        self._damaged: set[Hashable] = set()
        self._damage = 0
        self._quiet_console = getattr(codec, "quiet_console", False)
        self.last_exchange_s = 0.0  # round trip of the last request's answered attempt
        self._sent_at = 0.0  # when the last frame was written (a round trip starts there)
        self._io_lock = threading.Lock()  # whoever holds it reads the port and feeds the decoder
        self._kick_r = self._kick_w = -1  # a pipe that wakes the reader out of select(), once open
        self._last_lent = 0.0  # when a caller last read the port for itself
        self._wanted = 0  # callers waiting to borrow the port (the reader keeps off meanwhile)
        self._wanted_lock = threading.Lock()
        self._stopped = threading.Event()

    # --- lifecycle ------------------------------------------------------------------------------
    def open(self) -> SerialLink:
        try:
            self._serial = self._open_port()
        except (serial.SerialException, OSError, ValueError) as error:
            raise PortLostError(f"cannot open serial port {self.port}: {error}") from error
        self._kick_r, self._kick_w = os.pipe()
        self._read_chunk, self._write_all, self._can_lend = _port_io(self._serial, self._kick_r)
        self._reader = threading.Thread(target=self._read_loop, name=f"reader {self.port}",
                                        daemon=True)
        self._reader.start()
        return self

    def _open_port(self) -> serial.SerialBase:
        return serial.serial_for_url(self.port, baudrate=self.baudrate,
                                     timeout=INTERBYTE_TIMEOUT_S)

    def close(self) -> None:
        self._closing = True
        self._stopped.set()
        if self._reader is not None:
            os.write(self._kick_w, b"k")
            self._reader.join(timeout=2)
            os.close(self._kick_r)
            os.close(self._kick_w)
            self._reader = None
        if self._serial is not None:
            self._serial.close()
        self.traffic.close()

    def __enter__(self) -> SerialLink:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the reader thread ------------------------------------------------------------------------
    def _read_loop(self) -> None:
        while not self._closing and self._lost is None:
            idle = time.monotonic() - self._last_lent
            if self._wanted or idle < LEND_IDLE_S:  # a caller exchanges frames or waits to
                self._stopped.wait(max(LEND_IDLE_S - idle, LEND_IDLE_S / 5))
                continue
            with self._io_lock:
                self._pump(INTERBYTE_TIMEOUT_S)

    def _pump(self, timeout: float) -> None:
        """Read one chunk (or time out), decode, dispatch; the caller holds `_io_lock`."""
        generation = self._generation
        try:
            data = self._read_chunk(timeout)
        except (serial.SerialException, OSError, TypeError, AttributeError) as error:
            # TypeError/AttributeError: pyserial's socket:// after the peer is gone
            if not self._closing:
                self._reopen(error, generation)
            return
        if data:
            self.traffic.add("RX", data)
            self._rx_tail += data
            del self._rx_tail[:-TAIL_BYTES]
            events = self._decoder.feed(data)
        elif data is None:  # woken to lend the port: nothing was read
            return
        elif self._decoder.pending and timeout >= INTERBYTE_TIMEOUT_S:
            events = self._decoder.drop_partial()
        else:
            return
        if events:
            self._dispatch(events)

    def _dispatch(self, events: list[object]) -> None:
        wake: list[threading.Lock] = []
        with self._cond:
            for event in events:
                if isinstance(event, str):
                    self._console += event
                    if self._quiet_console:  # text where only frames should be: a broken frame
                        self.traffic.add("!!", f"stray bytes on the line: {event!r}")
                        self.stats.damaged += 1
                        self._damage += 1
                        wake += self._take_waiters()
                elif isinstance(event, ProtocolError):
                    self.stats.protocol_errors += 1
                    self.stats.damaged += 1
                    self.errors.append(event)
                    self.traffic.add("!!", event)
                    seq = getattr(event, "seq", None)
                    if seq is None:  # whose frame it was is unknown: it may be anyone's reply
                        self._damage += 1
                        wake += self._take_waiters()
                    else:
                        self._damaged.add(seq)
                        if seq in self._waiters:
                            wake += self._take_waiters(seq)
                else:
                    self.traffic.add("<<", event)
                    if self.codec.is_unsolicited(event):
                        self.unsolicited.append((time.monotonic(), event))
                    else:
                        key = self.codec.key(event)
                        self._replies[key] = event
                        if key in self._waiters:
                            wake += self._take_waiters(key)
            self._cond.notify_all()
        for waiter in wake:  # released outside the condition so the waiter runs at once
            waiter.release()

    def _take_waiters(self, key: Hashable | None = None) -> list[threading.Lock]:
        """Unregister the waiter of `key` (a registered one; every waiter when None) under each
        key it waits on, and return it once: a request waits on the keys of its earlier attempts
        too, and a lock released twice kills the reader thread. The caller holds `_cond`."""
        if key is None:
            taken, self._waiters = list(dict.fromkeys(self._waiters.values())), {}
            return taken
        waiter = self._waiters.pop(key)
        self._waiters = {k: w for k, w in self._waiters.items() if w is not waiter}
        return [waiter]

    def _reopen(self, error: Exception, generation: int) -> bool:
        """The port vanished: wait up to `reconnect_s` for it to come back at the same path and
        open it again (True), or mark the link lost (False).

        Why at the same path only: a device that comes back under another name may be another
        board; a desk names USB ports by their stable /dev/serial/by-id/ link, which follows it.
        Whatever was in flight is lost with the old port: a waiting request is re-sent (counted).
        A board that reset meanwhile is the plans' business (its boot counter, its state).
        """
        with self._write_lock:
            if self._generation != generation:  # another thread already reopened it
                return True
            if not self.reconnect_s or self._closing:
                self._mark_lost(error)
                return False
            self.traffic.add("!!", f"port vanished ({error}); waiting up to {self.reconnect_s:g} "
                                   f"s for it to come back at {self.port}")
            with contextlib.suppress(Exception):
                self._serial.close()
            started = time.monotonic()
            while True:
                try:
                    self._serial = self._open_port()
                    break
                except (serial.SerialException, OSError, ValueError) as failure:
                    last = failure
                if self._closing or time.monotonic() - started > self.reconnect_s:
                    self._mark_lost(PortLostError(
                        f"it did not come back at {self.port} within {self.reconnect_s:g} s "
                        f"({last}); a USB device that re-enumerates under a new name must be "
                        f"named by its /dev/serial/by-id/ link in the station profile"))
                    return False
                self._stopped.wait(REOPEN_POLL_S)  # no event says when a device node appears
            self._read_chunk, self._write_all, self._can_lend = _port_io(self._serial,
                                                                         self._kick_r)
            self._decoder = self.codec.decoder()  # a frame cut by the unplug is gone
            self._generation += 1
            self.stats.reconnects += 1
            self.traffic.add("..", f"port back after {time.monotonic() - started:.2f} s, "
                                   f"reopened (reconnect {self.stats.reconnects})")
        with self._cond:
            waiters = self._take_waiters()
            self._cond.notify_all()
        for waiter in waiters:  # their replies went with the old port: they re-send
            waiter.release()
        return True

    def _mark_lost(self, error: Exception) -> None:
        with self._cond:
            self._lost = error
            self.traffic.add("!!", f"port lost: {error}")
            self._cond.notify_all()
            waiters = self._take_waiters()
        for waiter in waiters:
            waiter.release()

    # --- sending ----------------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (robustness tests send broken frames on purpose)."""
        if self._lost is not None:
            self._check_alive(f"sending {data.hex(' ')}")
        self.traffic.add("TX", data)
        with self._write_lock:
            generation = self._generation
            try:
                self._sent_at = time.perf_counter()
                self._write_all(data)
                return
            except (serial.SerialException, OSError) as error:
                if not self._reopen(error, generation):  # lost: the error says why
                    raise self._lost_error(f"sending {data.hex(' ')}") from error
            self.stats.retries += 1  # the first write went nowhere: once more, on the new port
            self.traffic.add("..", "retry: written again on the reopened port")
            self.traffic.add("TX", data)
            self._sent_at = time.perf_counter()
            self._write_all(data)  # a second loss is the read side's to see

    def next_seq(self) -> int:
        """The next sequence number in the codec's space (0 for a codec without them)."""
        return next(self._seq) % self.codec.seq_space

    def exchange_raw(self, data: bytes, key: Hashable, timeout: float,
                     earlier: tuple[Hashable, ...] = ()) -> object | None:
        """Send bytes and wait for the reply paired by `key`, or by one of the `earlier` keys of
        the same request's previous attempts (None on timeout)."""
        if self._can_lend:
            self._borrow()  # the reader steps aside while the frame travels
            try:
                self.send_raw(data)  # on the port as it is after the write (reopened or not)
                return self._read_for_reply((key, *earlier), timeout, self._generation)
            finally:
                self._io_lock.release()
        damage = self._damage  # damage from here on may be this request's reply
        self.send_raw(data)
        return self.wait_reply(key, timeout, earlier, self._generation, damage)

    def _borrow(self) -> None:
        """Take the port from the reader thread (kicking it out of select() if it is in one).

        Why `_wanted`: a lock is not fair. On a loaded machine the reader, released, took the
        port back before the woken caller ran, select()ed for 50 ms, and again: a 1-byte PING
        waited 0.64 s (scripts/soak --load). While a caller waits, the reader keeps off.
        """
        self._last_lent = time.monotonic()
        if self._io_lock.acquire(blocking=False):  # the reader was not reading: no wait
            return
        with self._wanted_lock:
            self._wanted += 1
        try:
            os.write(self._kick_w, b"k")
            self._io_lock.acquire()
        finally:
            with self._wanted_lock:
                self._wanted -= 1
        self._last_lent = time.monotonic()

    def wait_reply(self, key: Hashable, timeout: float, earlier: tuple[Hashable, ...] = (),
                   generation: int | None = None, damage: int | None = None) -> object | None:
        """The reply paired by `key` (a sequence number) or by one of `earlier`, or None when
        `timeout` passes first; `damage` is the count of damaged frames of unknown origin when
        the request left (damage since may be its reply).

        Why a lock per waiter rather than the condition: the reader releases exactly the waiter
        of that key, a single wake-up, which is most of a round trip's thread hand-off cost.
        """
        keys = (key, *earlier)
        generation = self._generation if generation is None else generation
        if self._can_lend:
            self._borrow()
            try:
                return self._read_for_reply(keys, timeout, generation)
            finally:
                self._io_lock.release()
        damage = self._damage if damage is None else damage
        waiter = threading.Lock()
        waiter.acquire()
        with self._cond:
            # the reply, or its damage, may have been dispatched before this wait began
            if (found := self._settled(keys, generation)) is not None:
                return found
            waiting = self._damage == damage
            for each in keys if waiting else ():
                self._waiters[each] = waiter
        if waiting:
            waiter.acquire(timeout=timeout)
        with self._cond:
            for each in keys:
                self._waiters.pop(each, None)
            if (found := self._settled(keys, generation)) is not None:
                return found
            if self._damage == damage:
                return None
            # damage of unknown origin (stray text): the reply may be right behind it
            self._cond.wait_for(lambda: any(k in self._replies for k in keys)
                                or self._lost is not None, INTERBYTE_TIMEOUT_S)
            found = self._take_reply(keys)
            return _CORRUPT if found is None else found

    def _take_reply(self, keys: tuple[Hashable, ...]) -> object | None:
        for each in keys:
            if each in self._replies:
                return self._replies.pop(each)
        return None

    def _settled(self, keys: tuple[Hashable, ...], generation: int) -> object | None:
        """What ends a wait for `keys` now: the reply, _REOPENED, or _CORRUPT when the request's
        own reply came damaged (None: nothing yet); PortLostError when the port is gone."""
        if (found := self._take_reply(keys)) is not None:
            return found
        if self._lost is not None:  # the message is formatted only when it is needed
            self._check_alive(f"waiting for the reply to {keys[0]!r}")
        if self._generation != generation:
            return _REOPENED
        if keys[0] in self._damaged:
            self._damaged.discard(keys[0])
            return _CORRUPT
        return None

    def _read_for_reply(self, keys: tuple[Hashable, ...], timeout: float,
                        generation: int) -> object | None:
        """Read the port in this thread (holding `_io_lock`) until one of `keys` is answered.

        Why: handing each reply from the reader thread to the caller costs two thread wake-ups
        per round trip, as much as the round trip itself on a pty. While callers exchange frames
        the reader sleeps (LEND_IDLE_S after the last exchange); whatever else arrives meanwhile
        (telemetry, text) is dispatched by the caller's own reads, so no byte waits for it.
        """
        deadline = time.monotonic() + timeout
        damage = self._damage
        while (found := self._settled(keys, generation)) is None:
            if self._damage != damage:  # of unknown origin (stray text): the reply may be
                self._pump(INTERBYTE_TIMEOUT_S)  # right behind it, in the next read
                found = self._take_reply(keys)
                return _CORRUPT if found is None else found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._pump(min(remaining, INTERBYTE_TIMEOUT_S))
        return found

    def request(self, frame: object, timeout: float | None = None,
                retries: int | None = None) -> object:
        """Send `frame` and return the reply the codec pairs with it, checked by the codec.

        A timed-out attempt is retried with a new sequence number, up to `retries` times; a
        damaged frame that arrives while the reply is awaited (a CRC error, a cut frame: line
        noise) is re-asked at once, up to CORRUPT_RETRIES times. Every retry is counted in `stats`
        and written to the traffic log, and a damaged reply is never taken for an answer. A reply
        that is not a valid answer (NACK, another type) raises the codec's `DutError`; no reply
        after every attempt raises ResponseTimeoutError, only damaged ones LineNoiseError.
        """
        timeout = self.timeout_s if timeout is None else timeout
        retries = self.retries if retries is None else retries
        codec = self.codec
        sent = b""
        timeouts = corrupt = reopened = 0
        damaged: dict[Hashable, object] = {}  # attempts whose reply came damaged: key -> request
        with contextlib.nullcontext() if codec.sequenced else self._in_flight:
            while timeouts <= retries:
                stamped = codec.stamp(frame, self.next_seq())
                key = codec.key(stamped)
                self._replies.pop(key, None)  # a stale reply from a whole sequence space ago
                self._damaged.discard(key)
                sent = codec.encode(stamped)
                self.stats.requests += 1
                self.traffic.add(">>", stamped)
                # the damage may have been someone else's frame: an earlier attempt's own
                # reply, arriving late but whole, answers the request as well
                reply = self.exchange_raw(sent, key, timeout, tuple(
                    k for k in damaged if k != key) if damaged else ())
                if reply is _REOPENED and reopened < self.stats.reconnects:
                    reopened = self.stats.reconnects  # once per reconnect, beside the timeouts
                    self.stats.retries += 1
                    self.traffic.add("..", "retry: the port vanished before the reply came")
                    continue
                if reply is _REOPENED:
                    reply = None  # a second reconnect in one request: it counts as a timeout
                if reply is _CORRUPT:
                    damaged[key] = stamped
                    corrupt += 1
                    self.stats.corrupt_replies += 1
                    if corrupt > CORRUPT_RETRIES:
                        raise LineNoiseError(
                            f"{self.port}: {corrupt} damaged replies in a row to "
                            f"{codec.describe(frame)}; last error: {self.errors[-1]}"
                            f"{self._log_hint()}")
                    self.stats.retries += 1
                    self.traffic.add("..", f"retry after a damaged reply ({corrupt}/"
                                           f"{CORRUPT_RETRIES})")
                    continue
                if reply is not None:
                    # from the write, not from the call: waiting for the port (the reader's
                    # turn, a reopen) is the bench's time, not the board's
                    self.last_exchange_s = time.perf_counter() - self._sent_at
                    codec.check_reply(damaged.get(codec.key(reply), stamped) if damaged
                                      else stamped, reply)
                    return reply
                timeouts += 1
                if timeouts <= retries:
                    self.stats.retries += 1
                    self.traffic.add("..", f"retry {timeouts}/{retries} after no reply")
        raise ResponseTimeoutError(
            f"{self.port}: no reply to {codec.describe(frame)} within {timeout:g} s after "
            f"{retries + 1} attempt(s); last sent {sent.hex(' ')}; last bytes received: "
            f"{self._rx_tail.hex(' ') or '(none)'}{self._log_hint()}"
        )

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
            raise self._lost_error(doing)

    def _lost_error(self, doing: str) -> PortLostError:
        """Why the link is lost: the port's own error, or that it did not come back in time."""
        return PortLostError(f"serial port {self.port} vanished ({self._lost}) while {doing}"
                             f"{self._reconnect_hint()}{self._log_hint()}")

    def _reconnect_hint(self) -> str:
        return "" if self.reconnect_s else (
            "; the station profile allows no reconnect ([dut] reconnect_s = 0)")

    def _log_hint(self) -> str:
        self.traffic.flush()
        return f"; traffic log: {self.traffic.path}" if self.traffic.path else ""


def _port_io(
    ser: serial.SerialBase, kick: int
) -> tuple[Callable[[float], bytes | None], Callable[[bytes], None], bool]:
    """Read-a-chunk and write-all functions for an open port, and whether it can be lent.

    Why not pyserial's read/write everywhere: on a tty or pty, its read(1) + in_waiting + read(n)
    and its write's extra select cost four system calls per round trip more than one select and
    one os.read/os.write on the descriptor. The select also watches `kick`, so the reader can be
    woken to lend the port to a caller (read_chunk then returns None). URL ports (socket://,
    rfc2217://) keep pyserial's own I/O and are never lent.
    """
    if isinstance(ser, PosixSerial):
        fd = ser.fd

        def read_chunk(timeout: float) -> bytes | None:
            ready = select.select([fd, kick], [], [], timeout)[0]
            if kick in ready:
                os.read(kick, 64)
            if fd not in ready:
                return None if ready else b""
            data = os.read(fd, 4096)
            if not data:
                raise serial.SerialException("device reports readiness to read but returned "
                                             "no data")
            return data

        def write_all(data: bytes) -> None:
            written = os.write(fd, data)
            while written < len(data):  # a full tty buffer takes the rest in pieces
                written += os.write(fd, data[written:])

        return read_chunk, write_all, True

    def read_chunk_generic(timeout: float) -> bytes:
        data = ser.read(1)
        return data + ser.read(ser.in_waiting) if data else data

    return read_chunk_generic, ser.write, False

