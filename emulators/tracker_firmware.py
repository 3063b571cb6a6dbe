"""The emulated tracker firmware's command handler: one decoded frame (or protocol error) in,
encoded frames out. The serial face and the BLE NUS face both call it: one protocol, two paths.

    >>> from protocols.tracker_frames import FrameDecoder
    >>> fw = Firmware(TrackerBoard(seed=1))
    >>> out = fw.handle(Frame(MsgType.READ_ACCEL))
    >>> [f.name for f in FrameDecoder().feed(b"".join(out))]
    ['READ_ACCEL_RSP']

Payloads are built with the same construct declarations the driver parses with. A reboot, a
factory reset or shipping mode takes effect after the reply has left: the face sends the reply,
then calls `after_reply()`.
"""

from __future__ import annotations

from collections.abc import Callable

from emulators.tracker_board import TrackerBoard
from protocols.errors import PayloadError, ProtocolError
from protocols.tracker_frames import Frame, encode_frame
from protocols.tracker_messages import (
    INTERVAL_MS,
    RESPONSE_BIT,
    UNSOLICITED,
    MsgType,
    Status,
    build_payload,
    parse_payload,
)

MOTION_PEAK_MG = 1800  # what one self-test pulse deflects the sensor by


def refusal(status: Status) -> bytes:
    return encode_frame(MsgType.REFUSED, status=status)


class Firmware:
    """Answers requests from the board model's state; the face owns the bytes."""

    def __init__(self, board: TrackerBoard) -> None:
        self.board = board
        self._after: Callable[[], None] | None = None

    def handle(self, event: Frame | ProtocolError) -> list[bytes]:
        """The frames (wire bytes) answering one decoded frame or decoding error."""
        if isinstance(event, ProtocolError):
            return [refusal(Status.BAD_FRAME)]
        try:
            kind = MsgType(event.type)
        except ValueError:
            return [refusal(Status.UNKNOWN_COMMAND)]
        if kind in UNSOLICITED or kind is MsgType.REFUSED or event.type & RESPONSE_BIT:
            return [refusal(Status.UNKNOWN_COMMAND)]
        try:
            request = parse_payload(kind, event.payload)
        except PayloadError:
            return [refusal(Status.BAD_LENGTH)]
        return self._dispatch(kind, request)

    def after_reply(self) -> None:
        """Carry out what must wait until the reply has left (reboot, shipping mode)."""
        action, self._after = self._after, None
        if action is not None:
            action()

    def _dispatch(self, kind: MsgType, request) -> list[bytes]:
        board = self.board
        values: dict = {}
        before: list[bytes] = []
        if kind is MsgType.IDENTIFY:
            ident = board.identity
            values = {"unique_id": ident.unique_id, "hw_revision": ident.hw_revision,
                      "firmware": ident.firmware}
        elif kind is MsgType.READ_ACCEL:
            values = dict(zip(("x_mg", "y_mg", "z_mg"), board.read_accel(), strict=True))
        elif kind is MsgType.READ_GNSS:
            values = board.gnss_fix()
        elif kind is MsgType.SET_INTERVAL:
            if not INTERVAL_MS[0] <= request.interval_ms <= INTERVAL_MS[1]:
                return [refusal(Status.BAD_VALUE)]
            board.set_interval(request.interval_ms)
            values = {"interval_ms": request.interval_ms}
        elif kind is MsgType.GET_STATUS:
            values = {"interval_ms": board.interval_ms, "uptime_ms": board.uptime_ms(),
                      "motion_events": board.motion_count, "boot_count": board.boot_count}
        elif kind is MsgType.ACCEL_SELF_TEST:
            if not 1 <= request.pulses <= 20:
                return [refusal(Status.BAD_VALUE)]
            before = [self.motion_event(count) for _ in range(request.pulses)
                      if (count := board.motion_pulse()) is not None]
            values = {"pulses": request.pulses}
        elif kind is MsgType.SHIP_MODE:
            self._after = board.ship
        elif kind is MsgType.FACTORY_RESET:
            self._after = board.factory_reset
        elif kind is MsgType.REBOOT:
            self._after = board.reboot
        return [*before, encode_frame(kind | RESPONSE_BIT, build_payload(kind | RESPONSE_BIT,
                                                                           values))]

    def motion_event(self, count: int) -> bytes:
        peak = int(self.board.knobs.get("motion.peak_mg", MOTION_PEAK_MG))
        values = {"count": count, "peak_mg": peak, "uptime_ms": self.board.uptime_ms()}
        return encode_frame(MsgType.MOTION, build_payload(MsgType.MOTION, values))

    def report(self, counter: int) -> bytes:
        fix = self.board.gnss_fix()
        values = {"counter": counter & 0xFFFF, "uptime_ms": self.board.uptime_ms(),
                  "fix": fix["fix"], "satellites": fix["satellites"]}
        return encode_frame(MsgType.REPORT, build_payload(MsgType.REPORT, values))
