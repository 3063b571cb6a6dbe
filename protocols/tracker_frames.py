"""The tracker's serial framing: COBS-encoded frames between zero bytes, CRC-32 inside the frame.

    >>> raw = encode_frame(MsgType.IDENTIFY)
    >>> raw.hex(" ")
    '00 02 01 05 be 23 c2 58 00'
    >>> [event.name for event in FrameDecoder().feed(raw)]
    ['IDENTIFY']

Before stuffing, a frame is `type (u8) | status (u8) | payload | CRC-32 (u32, little-endian)`; the
CRC is `binascii.crc32` (IEEE 802.3) over type, status and payload. COBS (Consistent Overhead
Byte Stuffing) removes every zero byte from it, so a zero on the wire can only be a delimiter:
each frame goes out as `00 | COBS(frame) | 00`, and a receiver that lost its place resynchronizes
at the next zero. The leading zero flushes whatever noise preceded the frame at the receiver.

The same UART carries the firmware's boot log as text lines. A frame can never read as text:
its type byte is non-zero and its status byte is zero except in refusals (which carry no
payload), so the first COBS code byte is always below 0x08, a control character no log line
starts with. docs/adding-a-board.md walks through this module.
"""

from __future__ import annotations

import binascii
from typing import NamedTuple

from construct import Int8ul, Int32ul, Struct

from protocols.errors import CrcError, LengthError, ProtocolError
from protocols.flat import flatten
from protocols.tracker_messages import RESPONSE_BIT, MsgType, Status

__all__ = ["DELIMITER", "MAX_FRAME", "CobsError", "CrcError", "Frame", "FrameDecoder",
           "LengthError", "ProtocolError", "cobs_decode", "cobs_encode", "decode_frame",
           "encode_frame"]

DELIMITER = 0x00
MAX_FRAME = 256  # bytes before stuffing: type, status, payload and CRC
MAX_PENDING = 1024  # held back without a delimiter or newline: noise, given up

HEADER = flatten(Struct("type" / Int8ul, "status" / Int8ul))
TRAILER = flatten(Struct("crc" / Int32ul))
HEADER_SIZE, CRC_SIZE = HEADER.size, TRAILER.size
CRC_RESIDUE = 0x2144DF1C  # CRC-32 of any bytes followed by their own CRC-32, little-endian


class CobsError(ProtocolError):
    """The bytes between two delimiters are not a valid COBS encoding."""


class Frame(NamedTuple):
    """One decoded frame; `offset` is the stream offset of its first stuffed byte.

    A named tuple rather than a frozen dataclass: a round trip builds two, and a frozen
    dataclass's `__init__` (one `object.__setattr__` per field) costs twice as much."""

    type: int
    status: int = Status.OK
    payload: bytes = b""
    offset: int = 0

    @property
    def name(self) -> str:
        kind = self.type if self.type == MsgType.REFUSED else self.type & ~RESPONSE_BIT
        try:
            name = MsgType(kind).name
        except ValueError:
            return f"0x{self.type:02x}"
        return f"{name}_RSP" if kind != self.type else name


def cobs_encode(data: bytes) -> bytes:
    """Stuff `data` so that it holds no zero byte: each run of up to 254 non-zero bytes is led
    by a code byte (its length + 1); a full run (code 0xFF) implies no zero after it."""
    out = bytearray()
    segments = data.split(b"\x00")  # each segment but the last was followed by a zero
    for index, segment in enumerate(segments):
        full = False
        while len(segment) >= 254:
            out.append(255)
            out += segment[:254]
            segment = segment[254:]
            full = True
        if segment or not full or index < len(segments) - 1:  # data ending on a full run
            out.append(len(segment) + 1)                      # needs no closing code
            out += segment
    return bytes(out)


def cobs_decode(data: bytes, offset: int = 0) -> bytes:
    """Unstuff one COBS block; `offset` (of data[0] in the stream) goes into the error.

    Each code byte stands for the zero that ended the run before it, except the first and one
    after a full run (code 0xFF): the first kind become zeros in place, the others are dropped.
    """
    if 0 in data:  # one scan in C, rather than one per run
        raise CobsError("zero byte inside a COBS block", offset + data.index(0), bytes(data))
    out = bytearray(data)
    dropped = []
    index, size, code = 0, len(data), 255
    while index < size:
        if code == 255:
            dropped.append(index)
        else:
            out[index] = 0
        code = data[index]
        index += code
    if index > size:
        raise CobsError(f"COBS code byte {code} runs {index - size} byte(s) past the end of "
                        f"the frame", offset + index - code, bytes(data))
    for index in reversed(dropped):
        del out[index]
    return bytes(out)


def encode_frame(msg_type: int, payload: bytes = b"", status: int = Status.OK) -> bytes:
    """The wire bytes of one frame: delimiter, COBS(type, status, payload, CRC-32), delimiter."""
    if status != Status.OK and payload:  # keeps the first COBS byte below 0x08: never text
        raise LengthError(f"a refusal (status {status}) carries no payload, got "
                          f"{payload.hex(' ')}")
    body = HEADER.layout.pack(msg_type, status) + payload
    if len(body) + CRC_SIZE > MAX_FRAME:
        raise LengthError(f"frame of {len(body) + CRC_SIZE} bytes exceeds {MAX_FRAME}")
    stuffed = cobs_encode(body + TRAILER.layout.pack(binascii.crc32(body)))
    return bytes([DELIMITER]) + stuffed + bytes([DELIMITER])


def decode_frame(stuffed: bytes, offset: int = 0) -> Frame:
    """Decode the bytes between two delimiters (without them) into one frame."""
    raw = cobs_decode(stuffed, offset)
    if len(raw) < HEADER_SIZE + CRC_SIZE:
        raise LengthError(f"frame of {len(raw)} bytes is shorter than the minimum "
                          f"{HEADER_SIZE + CRC_SIZE} (truncated)", offset, raw)
    if len(raw) > MAX_FRAME:
        raise LengthError(f"frame of {len(raw)} bytes exceeds {MAX_FRAME}", offset, raw)
    if binascii.crc32(raw) != CRC_RESIDUE:  # one pass over the frame and its own CRC
        body = raw[:-CRC_SIZE]
        (got,) = TRAILER.layout.unpack_from(raw, len(body))
        raise CrcError(f"CRC-32 0x{got:08x} != computed 0x{binascii.crc32(body):08x}",
                       offset + len(body), raw)
    msg_type, status = HEADER.layout.unpack_from(raw)
    return Frame(msg_type, status, raw[HEADER_SIZE:-CRC_SIZE], offset)


TEXT_CONTROLS = (0x09, 0x0A, 0x0D)  # tab, line feed, carriage return: text as well


def _is_text(byte: int) -> bool:
    return 0x20 <= byte < 0x7F or byte in TEXT_CONTROLS


class FrameDecoder:
    """Incremental decoder over one byte stream: frames, console text and protocol errors.

    Bytes up to a zero are one frame candidate; a candidate that starts with a printable
    character and ends with a newline is a console line (the boot log) instead. An invalid
    candidate (bad COBS, bad CRC, too short) is one ProtocolError with its stream offset, and
    decoding goes on at the next zero, so a valid frame after garbage is never lost.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | ProtocolError | str]:
        if data and not self._buf and data[0] == data[-1] == DELIMITER:
            fast = self._whole_frames(data)  # the common case: whole frames, no text
            if fast is not None:
                return fast
        events: list[Frame | ProtocolError | str] = []
        self._buf += data
        while self._buf:
            if _is_text(self._buf[0]):
                line_end = self._line_end()
                if line_end == 0:
                    break  # a line still arriving
                if line_end > 0:
                    self._take_text(events, line_end)
                    continue
            zero = self._buf.find(DELIMITER)
            if zero < 0:
                break
            if zero:
                try:
                    events.append(decode_frame(bytes(self._buf[:zero]), self._base))
                except ProtocolError as error:
                    events.append(error)
            del self._buf[:zero + 1]
            self._base += zero + 1
        if len(self._buf) > MAX_PENDING:  # noise without a delimiter must not grow forever
            events += self.drop_partial()
        return events

    def _whole_frames(self, data: bytes) -> list[Frame | ProtocolError | str] | None:
        """Decode a chunk of whole frames without buffering; None when it holds text."""
        events: list[Frame | ProtocolError | str] = []
        offset = self._base
        for chunk in data.split(b"\x00"):
            if chunk:
                first = chunk[0]
                if 0x20 <= first < 0x7F or first in TEXT_CONTROLS:  # _is_text, inlined
                    return None
                try:
                    events.append(decode_frame(chunk, offset))
                except ProtocolError as error:
                    events.append(error)
            offset += len(chunk) + 1
        self._base += len(data)
        return events

    def _line_end(self) -> int:
        """End of the console line at the head of the buffer: > 0 a whole line, 0 a line still
        arriving, -1 not a line (a non-text byte comes first: garbage, up to the next zero)."""
        for index, byte in enumerate(self._buf):
            if byte == 0x0A:
                return index + 1
            if not _is_text(byte):
                return -1
        return 0

    def _take_text(self, events: list[Frame | ProtocolError | str], end: int) -> None:
        events.append(bytes(self._buf[:end]).decode("ascii"))
        del self._buf[:end]
        self._base += end

    def drop_partial(self) -> list[Frame | ProtocolError | str]:
        """Give up on bytes that stopped arriving: a prompt without newline, or a cut frame."""
        if not self._buf:
            return []
        held, offset = bytes(self._buf), self._base
        self._base += len(held)
        self._buf.clear()
        if all(_is_text(byte) for byte in held):
            return [held.decode("ascii")]
        return [LengthError(f"frame of {len(held)} stuffed bytes without its delimiter "
                            f"(truncated)", offset, held[:64])]
