"""The WS-100's codec: `A5 5A` frames, 8-bit sequence numbers, TELEMETRY unsolicited, NACK refusals.

    >>> codec = Ws100Codec()
    >>> raw = codec.encode(codec.stamp(Frame(MsgType.PING, 0, b"hi"), seq=3))
    >>> [codec.describe(f) for f in codec.decoder().feed(raw)]
    ["PING seq=3 data=b'hi'"]

The serial link pairs a reply with its request by sequence number; `check_reply` turns a NACK or
a reply of another type into a `DutError` (the board is out of its specification).
"""

from __future__ import annotations

from dataclasses import replace

from drivers.errors import NackError, ReplyMismatchError
from protocols.errors import ProtocolError
from protocols.ws100_frames import Frame, FrameDecoder, encode_frame
from protocols.ws100_messages import RESPONSE_BIT, MsgType, NackCode, parse_payload


class Ws100Codec:
    """protocols.codec.Codec for the WS-100 (docs/protocol.md)."""

    sequenced = True
    seq_space = 256
    # The WS-100 prints text only while it boots: text while a reply is awaited is a frame whose
    # sync bytes the line destroyed, and the link re-asks at once instead of timing out.
    quiet_console = True

    def decoder(self) -> FrameDecoder:
        return FrameDecoder()

    def encode(self, frame: Frame) -> bytes:
        return encode_frame(frame.type, frame.seq, frame.payload, frame.version)

    def stamp(self, request: Frame, seq: int) -> Frame:
        return replace(request, seq=seq)

    def key(self, frame: Frame) -> int:
        return frame.seq

    def is_unsolicited(self, frame: Frame) -> bool:
        return frame.type == MsgType.TELEMETRY

    def check_reply(self, request: Frame, reply: Frame) -> None:
        name = MsgType(request.type).name if request.type in MsgType._value2member_map_ \
            else f"0x{request.type:02x}"
        sent = self.encode(request).hex(" ")
        if reply.type == MsgType.NACK:
            nack = parse_payload(MsgType.NACK, reply.payload)
            code = NackCode(nack.code) if nack.code in NackCode._value2member_map_ else nack.code
            raise NackError(f"board NACKed {name} with {getattr(code, 'name', code)}; sent "
                            f"{sent}", nack.code)
        if reply.type != request.type | RESPONSE_BIT:
            raise ReplyMismatchError(f"reply to {name} (seq {request.seq}) has type "
                                     f"0x{reply.type:02x}, expected "
                                     f"0x{request.type | RESPONSE_BIT:02x}; sent {sent}")

    def describe(self, item: object) -> str:
        if not isinstance(item, Frame):
            return str(item)
        try:
            fields = parse_payload(item.type, item.payload)
            shown = ", ".join(f"{k}={v!r}" for k, v in fields.items() if not k.startswith("_"))
        except ProtocolError as error:
            shown = f"undecodable payload ({error})"
        return f"{item.name} seq={item.seq} {shown}"
