"""Framing of the board's serial protocol: header, CRC, and a resynchronizing stream decoder.

    >>> raw = encode_frame(MsgType.PING, seq=7, payload=b"hi")
    >>> decoder = FrameDecoder()
    >>> [event.seq for event in decoder.feed(raw)]
    [7]

The header is declared with construct and compiled to one `struct.Struct` (protocols/flat.py);
the CRC is checked with `binascii.crc_hqx` outside of construct because `Checksum` does not
compile (see docs/protocol.md for the layout).
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from construct import Bytes, Int8ul, Int16ul, Struct

from protocols.errors import CrcError, LengthError, PayloadError, ProtocolError, VersionError
from protocols.flat import flatten
from protocols.ws100_messages import RESPONSE_BIT, MsgType

__all__ = [
    "CRC_SIZE", "HEADER_SIZE", "MAX_PAYLOAD", "SYNC", "VERSION", "CrcError", "Frame",
    "FrameDecoder", "LengthError", "PayloadError", "ProtocolError", "VersionError", "crc16",
    "decode_frame", "encode_frame",
]

SYNC = b"\xa5\x5a"
VERSION = 1
MAX_PAYLOAD = 512
CRC_INIT = 0xFFFF

_header = Struct(
    "sync" / Bytes(2),
    "version" / Int8ul,
    "type" / Int8ul,
    "seq" / Int8ul,
    "length" / Int16ul,
)
HEADER = flatten(_header)
HEADER_SIZE = HEADER.size
_crc = flatten(Struct("crc" / Int16ul))
CRC_SIZE = _crc.size
# the hot path unpacks tuples in declaration order, without building a Container
assert HEADER.names == ["sync", "version", "type", "seq", "length"]
_unpack_header = HEADER.layout.unpack_from
_unpack_crc = _crc.layout.unpack_from
_pack_header = HEADER.layout.pack
_pack_crc = _crc.layout.pack


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)."""
    return binascii.crc_hqx(data, CRC_INIT)


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame; `offset` is where its sync bytes started in the stream."""

    type: int
    seq: int
    payload: bytes
    version: int = VERSION
    offset: int = 0

    @property
    def name(self) -> str:
        try:
            name = MsgType(self.type & ~RESPONSE_BIT).name
        except ValueError:
            return f"0x{self.type:02x}"
        return f"{name}_RSP" if self.type & RESPONSE_BIT else name


def encode_frame(msg_type: int, seq: int, payload: bytes = b"", version: int = VERSION) -> bytes:
    """Build the bytes of one frame; `seq` wraps at 256."""
    if len(payload) > MAX_PAYLOAD:
        raise LengthError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = _pack_header(SYNC, version, msg_type, seq & 0xFF, len(payload)) + payload
    return body + _pack_crc(crc16(body[2:]))


def decode_frame(raw: bytes, offset: int = 0) -> Frame:
    """Decode exactly one complete frame, raising the protocol's own error for anything else."""
    if len(raw) < HEADER_SIZE + CRC_SIZE:
        raise LengthError(f"frame of {len(raw)} bytes is shorter than the minimum", offset, raw)
    if raw[:2] != SYNC:
        raise ProtocolError("missing sync bytes a5 5a", offset, raw[:2])
    _, version, msg_type, seq, length = _unpack_header(raw)
    if length > MAX_PAYLOAD:
        raise LengthError(f"length field {length} exceeds {MAX_PAYLOAD}", offset + 5, raw)
    end = HEADER_SIZE + length
    if len(raw) != end + CRC_SIZE:
        raise LengthError(
            f"length field {length} disagrees with {len(raw)} bytes given", offset + 5, raw
        )
    expected = crc16(raw[2:end])
    got = _unpack_crc(raw, end)[0]
    if got != expected:
        raise CrcError(
            f"CRC 0x{got:04x} != computed 0x{expected:04x}", offset + end, raw, seq=seq
        )
    if version != VERSION:
        raise VersionError(f"protocol version {version} (expected {VERSION})", offset + 2,
                           raw, seq=seq)
    return Frame(msg_type, seq, raw[HEADER_SIZE:end], version, offset)


class FrameDecoder:
    """Incremental decoder: feed it any bytes, get frames, text and protocol errors back in order.

    Bytes outside frames are console text (the boot banner) and come back as `str` events.
    After a bad CRC or an impossible length the decoder skips one byte and searches the next sync,
    so a valid frame that follows garbage is never lost. A frame whose length field claims more
    than has arrived waits for more bytes; `drop_partial()` gives it up (the driver calls it after
    an inter-byte timeout) so a lying length field never blocks the stream forever.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | ProtocolError | str]:
        if not self._buf and data[:2] == SYNC and len(data) >= HEADER_SIZE:
            # the common case, one whole frame per read: no buffering, no copies
            size = HEADER_SIZE + CRC_SIZE + int.from_bytes(data[5:7], "little")
            if size == len(data) and size - HEADER_SIZE - CRC_SIZE <= MAX_PAYLOAD:
                try:
                    frame = decode_frame(data, self._base)
                except ProtocolError:
                    pass  # the general path below reports it and resynchronizes
                else:
                    self._base += size
                    return [frame]
        self._buf += data
        events: list[Frame | ProtocolError | str] = []
        while self._buf:
            start = self._buf.find(SYNC)
            if start < 0:
                # keep a trailing first sync byte: its partner may arrive in the next chunk
                keep = 1 if self._buf[-1] == SYNC[0] else 0
                self._emit_text(events, len(self._buf) - keep)
                break
            if start:
                self._emit_text(events, start)
                continue
            if len(self._buf) < HEADER_SIZE:
                break
            length = int.from_bytes(self._buf[5:7], "little")
            if length > MAX_PAYLOAD:
                events.append(LengthError(f"length field {length} exceeds {MAX_PAYLOAD}",
                                          self._base + 5, bytes(self._buf[:HEADER_SIZE])))
                self._skip(1)
                continue
            size = HEADER_SIZE + length + CRC_SIZE
            if len(self._buf) < size:
                break
            try:
                events.append(decode_frame(bytes(self._buf[:size]), self._base))
            except ProtocolError as error:
                events.append(error)
                self._skip(1)
                continue
            self._skip(size)
        return events

    def drop_partial(self) -> list[Frame | ProtocolError | str]:
        """Give up on an incomplete frame at the head of the buffer and rescan after its sync."""
        if not self._buf:
            return []
        events: list[Frame | ProtocolError | str] = [
            LengthError(f"incomplete frame of {len(self._buf)} bytes timed out", self._base,
                        bytes(self._buf[:HEADER_SIZE + 8]))
        ]
        self._skip(1)
        return events + self.feed(b"")

    def _emit_text(self, events: list[Frame | ProtocolError | str], count: int) -> None:
        if count:
            events.append(bytes(self._buf[:count]).decode("utf-8", "replace"))
            self._skip(count)

    def _skip(self, count: int) -> None:
        del self._buf[:count]
        self._base += count
