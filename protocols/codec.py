"""The codec interface: how the serial link turns one board's bytes into frames and back.

    codec = Ws100Codec()                       # a board kit's codec
    decoder = codec.decoder()
    for event in decoder.feed(chunk):          # frames, ProtocolError, or console text (str)
        ...
    raw = codec.encode(codec.stamp(request, seq=7))

The serial link (drivers/serial_link.py) knows no board: it asks the codec to frame and unframe
bytes, to say which frames arrive unprompted (telemetry, events), which received frame answers
which request, and how a frame reads in the traffic log. A codec may speak binary frames or text
lines (a shell, an AT-command console); it pairs replies by sequence number or keeps one request
in flight (`key` returns the same value for every frame, and the link sends one at a time).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol, runtime_checkable

from protocols.errors import ProtocolError

Event = object  # a decoded frame (the codec's own type), a ProtocolError, or console text (str)


@runtime_checkable
class Decoder(Protocol):
    """Incremental decoder over one byte stream; never loses a valid frame after garbage."""

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""

    def feed(self, data: bytes) -> list[Event]:
        """Decode what `data` completes: frames, ProtocolErrors (with byte offsets), text."""

    def drop_partial(self) -> list[Event]:
        """Give up on a frame that stopped arriving (inter-byte timeout) and resynchronize."""


@runtime_checkable
class Codec(Protocol):
    """One board's serial framing, as the link needs it."""

    #: True: replies carry the request's sequence number (`stamp`/`key`); False: one request in
    #: flight, and `key` is a constant.
    sequenced: bool
    #: how many distinct sequence numbers exist (256 for an 8-bit field; 1 when not sequenced)
    seq_space: int
    #: optional (default False): True when the board prints no text while it answers requests,
    #: so text arriving during a wait is a frame the line damaged (the link re-asks at once)

    def decoder(self) -> Decoder: ...

    def encode(self, frame: object) -> bytes:
        """The bytes of one frame, ready for the wire."""

    def stamp(self, request: object, seq: int) -> object:
        """`request` carrying sequence number `seq` (returned unchanged when not sequenced)."""

    def key(self, frame: object) -> Hashable:
        """What pairs a reply with its request: the sequence number, or a constant."""

    def is_unsolicited(self, frame: object) -> bool:
        """Frames the board sends unprompted (telemetry, events): never a reply."""

    def check_reply(self, request: object, reply: object) -> None:
        """Raise a `drivers.errors.DutError` when `reply` (paired by key) is not a valid answer
        to `request`: a refusal (NACK, ERROR line), a reply of another type, a bad echo."""

    def describe(self, item: object) -> str:
        """One traffic-log line for a frame (or a request about to be sent)."""


__all__ = ["Codec", "Decoder", "Event", "ProtocolError"]
