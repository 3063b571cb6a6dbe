"""The tracker's codec: COBS frames between zero bytes, one request in flight, REFUSED replies.

    >>> codec = TrackerCodec()
    >>> raw = codec.encode(Frame(MsgType.SET_INTERVAL, payload=bytes.fromhex("f4010000")))
    >>> [codec.describe(f) for f in codec.decoder().feed(raw)]
    ['SET_INTERVAL interval_ms=500']

The tracker's frames carry no sequence number, so the serial link (and the BLE NUS link of
drivers/tracker_nus.py, which uses this same codec) sends one request at a time and takes the
next frame that is not MOTION or REPORT as its reply. `check_reply` turns a refusal, a reply of
another type or a failed status into a `DutError`: the board answered out of its specification.
"""

from __future__ import annotations

import functools

from drivers.errors import NackError, ReplyMismatchError
from protocols.errors import ProtocolError
from protocols.tracker_frames import Frame, FrameDecoder, encode_frame
from protocols.tracker_messages import (
    RESPONSE_BIT,
    UNSOLICITED,
    MsgType,
    Status,
    parse_payload,
)


@functools.lru_cache(maxsize=256)
def _wire(msg_type: int, payload: bytes, status: int) -> bytes:
    """A request's bytes, kept: without a sequence number they depend on the request alone, and
    plans ask the same few requests again and again (stuffing and the CRC took about 6 us of
    the client's CPU per round trip, benchmarks/bench_tracker.py)."""
    return encode_frame(msg_type, payload, status)


def _status_name(status: int) -> str:
    return Status(status).name if status in Status._value2member_map_ else f"0x{status:02x}"


class TrackerCodec:
    """protocols.codec.Codec for the tracker."""

    sequenced = False
    seq_space = 1

    def decoder(self) -> FrameDecoder:
        return FrameDecoder()

    def encode(self, frame: Frame) -> bytes:
        return _wire(frame.type, frame.payload, frame.status)

    def stamp(self, request: Frame, seq: int) -> Frame:
        return request

    def key(self, frame: Frame) -> int:
        return 0

    def is_unsolicited(self, frame: Frame) -> bool:
        return frame.type in UNSOLICITED

    def check_reply(self, request: Frame, reply: Frame) -> None:
        """A REFUSED frame, a reply of another type, or the right reply with a status byte other
        than 0 (done; protocols/tracker_messages.py) is a `DutError`: never taken for an answer."""
        if reply.type == MsgType.REFUSED:
            raise NackError(f"board refused {request.name} with {_status_name(reply.status)}; "
                            f"sent {self.encode(request).hex(' ')}", reply.status)
        if reply.type != request.type | RESPONSE_BIT:
            raise ReplyMismatchError(f"reply to {request.name} has type 0x{reply.type:02x} "
                                     f"({reply.name}), expected "
                                     f"0x{request.type | RESPONSE_BIT:02x}; sent "
                                     f"{self.encode(request).hex(' ')}")
        if reply.status != Status.OK:
            raise NackError(f"board answered {request.name} with {reply.name} and failed status "
                            f"{_status_name(reply.status)}; sent {self.encode(request).hex(' ')}",
                            reply.status)

    def describe(self, item: object) -> str:
        if not isinstance(item, Frame):
            return str(item)
        status = "" if item.status == Status.OK else f" status={_status_name(item.status)}"
        try:
            fields = parse_payload(item.type, item.payload)
            shown = " ".join(f"{k}={v!r}" for k, v in fields.items() if not k.startswith("_"))
        except ProtocolError as error:
            shown = f"undecodable payload ({error})"
        return " ".join(part for part in (f"{item.name}{status}", shown) if part)
