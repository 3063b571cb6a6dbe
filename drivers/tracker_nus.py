"""The tracker's command protocol over BLE: the Nordic UART Service as a link for its driver.

    >>> with radio.connect(address) as ble:                       # doctest: +SKIP
    ...     board = TrackerDriver(NusLink(ble).open())
    ...     board.identify().unique_id
    '1eafc0de00002a17'

NUS is a byte pipe: requests are written to RX, the tracker's frames arrive as notifications on
TX. The frames are the serial ones (drivers/tracker_codec.py): a frame longer than one ATT
payload spans several notifications, and the same zero-delimited decoder that reads the UART
reassembles them. `NusLink` offers what `TrackerDriver` uses of the serial link (`request`,
`unsolicited`, `errors`, `port`), so plans call the same driver over either path.

A reply that never comes while malformed frames did is the board's fault (it answered, wrongly):
a `DutError`. Nothing at all within the timeout is a `ResponseTimeoutError` (the bench could not
test: the link may be gone). Unless the bench itself may have broken the reply: when the link was
lost and re-established under the request, or the station's own radio path loses notifications
(`radio.notify_drop_rate`), the request is sent again (`retries` times, each in the BLE log) and
the broken frames are not counted against the board; past that it is a `BleError` naming the
cause. Events cannot be counted over a path that loses notifications: `unsolicited` then raises.
"""

from __future__ import annotations

import time
from collections import deque

from drivers.ble import BleError, BleLink, BleTimeout
from drivers.errors import ReplyMismatchError
from drivers.serial_link import ResponseTimeoutError
from drivers.tracker_codec import TrackerCodec
from protocols.errors import ProtocolError
from protocols.tracker_frames import Frame

NUS_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"
ATT_HEADER = 3  # opcode and handle: an ATT payload holds MTU - 3 bytes
# A frame's fragments come in consecutive connection events (7.5 ms to a few 100 ms apart at
# the longest connection intervals a tracker uses): silence this long mid-frame means it was cut.
FRAGMENT_GAP_S = 0.5


class NusLink:
    """One BLE connection's NUS pipe, framed by the tracker's codec; one request in flight."""

    def __init__(self, ble: BleLink, codec: TrackerCodec | None = None,
                 timeout_s: float = 2.0, retries: int = 2) -> None:
        self.ble = ble
        self.codec = codec or TrackerCodec()
        self.timeout_s = timeout_s
        self.retries = retries  # requests sent again after a reply the bench may have broken
        self.port = f"NUS {ble.address}"
        self._unsolicited: deque[tuple[float, Frame]] = deque(maxlen=10_000)
        self.errors: deque[ProtocolError] = deque(maxlen=256)
        self._decoder = self.codec.decoder()
        self._read = 0  # notifications on TX already fed to the decoder
        self._last_at = 0.0

    def open(self) -> NusLink:
        self.ble.subscribe(NUS_TX)
        return self

    @property
    def unsolicited(self) -> deque[tuple[float, Frame]]:
        """Events received; refused when the bench's own radio path may have lost some."""
        rate = self.ble.radio.drops_notifications
        if rate:
            raise BleError(f"{self.port}: events over NUS cannot be counted: this station's own "
                           f"radio path loses notifications (radio.notify_drop_rate = {rate:g}),"
                           f" so a missing event says nothing about the board")
        return self._unsolicited

    def request(self, frame: Frame, timeout: float | None = None) -> Frame:
        """Write `frame` in ATT-sized pieces and return the next frame that is not an event;
        sent again when the bench may have broken the reply (see the module's docstring)."""
        for attempt in range(self.retries + 1):
            reconnects, errors_before = self.ble.reconnects, len(self.errors)
            try:
                return self._exchange(frame, timeout)
            except (ReplyMismatchError, ResponseTimeoutError) as error:
                cause = self._bench_cause(reconnects)
                if not cause:
                    raise
                while len(self.errors) > errors_before:  # broken by the bench, not the board
                    self.errors.pop()
                self._decoder.drop_partial()
                self.ble.radio.log.add(f"NUS {frame.name}: reply lost to {cause} ({error})"
                                       + (f"; retry {attempt + 1}/{self.retries}"
                                          if attempt < self.retries else ""))
        raise BleError(f"{self.port}: no intact reply to {frame.name} in {self.retries + 1} "
                       f"attempt(s), each lost to {cause}; see the BLE log")

    def _bench_cause(self, reconnects: int) -> str:
        """Why a broken or missing reply may be the bench's, or "" when it can only be the
        board's."""
        if self.ble.reconnects != reconnects:
            return "a radio link lost and re-established under the request"
        rate = self.ble.radio.drops_notifications
        return f"notifications lost by the bench (radio.notify_drop_rate = {rate:g})" if rate \
            else ""

    def _exchange(self, frame: Frame, timeout: float | None) -> Frame:
        timeout = self.timeout_s if timeout is None else timeout
        self._pump()
        errors_before = len(self.errors)
        data = self.codec.encode(frame)
        step = self.ble.mtu - ATT_HEADER
        for start in range(0, len(data), step):
            self.ble.write(NUS_RX, data[start:start + step])
        deadline = time.monotonic() + timeout
        while True:
            reply = self._pump()
            if reply is not None:
                self.codec.check_reply(frame, reply)
                return reply
            bad = list(self.errors)[errors_before:]
            if bad:  # one request in flight: a broken frame was its reply
                raise ReplyMismatchError(f"{self.port}: no valid reply to {frame.name}; the "
                                         f"board sent {len(bad)} malformed frame(s) instead: "
                                         f"{'; '.join(map(str, bad))}; see the BLE log")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                self.ble.expect(NUS_TX, timeout=min(remaining, FRAGMENT_GAP_S),
                                after=self._last_at)
            except BleTimeout:
                if self._decoder.pending:  # a frame stopped arriving mid-way: it was cut
                    self.errors.extend(e for e in self._decoder.drop_partial()
                                       if isinstance(e, ProtocolError))
        raise ResponseTimeoutError(f"{self.port}: no reply to {frame.name} within {timeout:g} s "
                                   f"(sent {data.hex(' ')}); see the BLE log")

    def _pump(self) -> Frame | None:
        """Feed the notifications not read yet; events go to `unsolicited`; the first reply
        is returned (a second one would answer nothing: one request in flight)."""
        reply = None
        notes = self.ble.notifications(NUS_TX)
        for note in notes[self._read:]:
            self._last_at = note.at
            for event in self._decoder.feed(note.data):
                if isinstance(event, ProtocolError):
                    self.errors.append(event)
                elif isinstance(event, Frame):
                    if self.codec.is_unsolicited(event):
                        self._unsolicited.append((note.at, event))
                    elif reply is None:
                        reply = event
        self._read = len(notes)
        return reply
