"""The tracker's commands, replies and events, declared once for the emulator (build) and the
driver (parse).

    >>> payload = build_payload(MsgType.SET_INTERVAL, {"interval_ms": 500})
    >>> payload.hex(" "), parse_payload(MsgType.SET_INTERVAL, payload).interval_ms
    ('f4 01 00 00', 500)

A reply carries its request's type with bit 7 set and a status byte (0: done); a request the
board refuses is answered by a REFUSED frame whose status says why and whose payload is empty.
There are no sequence numbers: the host keeps one request in flight. MOTION and REPORT frames
arrive unprompted. Every multi-byte field is little-endian; units are in the field names.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from construct import (
    Construct,
    ConstructError,
    Container,
    FormatField,
    GreedyBytes,
    Int8ul,
    Int16sl,
    Int16ul,
    Int32sl,
    Int32ul,
    Int64ul,
    PascalString,
    Prefixed,
    StringEncoded,
    Struct,
)

from protocols.errors import PayloadError
from protocols.flat import flatten

RESPONSE_BIT = 0x80


class MsgType(IntEnum):
    IDENTIFY = 0x01
    READ_ACCEL = 0x02
    READ_GNSS = 0x03
    SET_INTERVAL = 0x04
    GET_STATUS = 0x05
    SHIP_MODE = 0x06
    FACTORY_RESET = 0x07
    REBOOT = 0x08
    ACCEL_SELF_TEST = 0x09  # pulses the accelerometer's self-test: one motion interrupt each
    MOTION = 0x60  # unsolicited: the accelerometer's motion interrupt fired
    REPORT = 0x61  # unsolicited: the periodic position report, every reporting interval
    REFUSED = 0xFF  # reply to a request the board will not carry out; status says why


class Status(IntEnum):
    OK = 0
    BAD_FRAME = 1  # CRC or COBS wrong: the board cannot know what was asked
    UNKNOWN_COMMAND = 2
    BAD_LENGTH = 3
    BAD_VALUE = 4


class Fix(IntEnum):
    NONE = 0
    FIX_2D = 2
    FIX_3D = 3


UNSOLICITED = frozenset({MsgType.MOTION, MsgType.REPORT})
INTERVAL_MS = (100, 86_400_000)  # what SET_INTERVAL accepts: 100 ms to one day
DEFAULT_INTERVAL_MS = 60_000  # after a factory reset

_EMPTY = Struct()
# payloads by message type: requests, replies (type | RESPONSE_BIT) and unsolicited events
PAYLOADS: dict[int, Construct] = {
    MsgType.SET_INTERVAL: Struct("interval_ms" / Int32ul),
    MsgType.ACCEL_SELF_TEST: Struct("pulses" / Int8ul),
    MsgType.IDENTIFY | RESPONSE_BIT: Struct(
        "unique_id" / Int64ul, "hw_revision" / Int8ul, "firmware" / PascalString(Int8ul, "ascii")),
    MsgType.READ_ACCEL | RESPONSE_BIT: Struct("x_mg" / Int16sl, "y_mg" / Int16sl,
                                              "z_mg" / Int16sl),
    MsgType.READ_GNSS | RESPONSE_BIT: Struct(
        "latitude_e7" / Int32sl, "longitude_e7" / Int32sl,  # degrees x 10^7
        "fix" / Int8ul, "satellites" / Int8ul, "age_ms" / Int32ul),  # age: since the fix
    MsgType.SET_INTERVAL | RESPONSE_BIT: Struct("interval_ms" / Int32ul),
    MsgType.GET_STATUS | RESPONSE_BIT: Struct(
        "interval_ms" / Int32ul, "uptime_ms" / Int32ul, "motion_events" / Int16ul,
        "boot_count" / Int16ul),
    MsgType.ACCEL_SELF_TEST | RESPONSE_BIT: Struct("pulses" / Int8ul),
    MsgType.MOTION: Struct("count" / Int16ul, "peak_mg" / Int16ul, "uptime_ms" / Int32ul),
    MsgType.REPORT: Struct("counter" / Int16ul, "uptime_ms" / Int32ul, "fix" / Int8ul,
                           "satellites" / Int8ul),
}


class StringTail:
    """A Struct of fixed fields ending in a length-prefixed string (IDENTIFY's firmware),
    parsed as the declaration says in one `struct.unpack` and a slice; the length must cover
    exactly the bytes that follow, so a truncated version or bytes left over are refused.

    Why not construct: its interpreter cost a seventh of the tracker's request round trip
    (benchmarks/bench_tracker.py), and its compiled parser reads a string shorter than its
    length byte claims without complaint. Building stays construct's (the emulator's side).
    """

    def __init__(self, declaration: Construct) -> None:
        *fixed, last = getattr(declaration, "subcons", None) or [None]
        string = getattr(last, "subcon", None)
        head = flatten(Struct(*fixed))
        if not (isinstance(string, StringEncoded) and isinstance(string.subcon, Prefixed)
                and isinstance(string.subcon.lengthfield, FormatField)
                and string.subcon.subcon is GreedyBytes and head is not None):
            raise TypeError(f"{declaration}: neither fixed fields nor fixed fields and a "
                            f"PascalString; give it a parser")
        length = struct.Struct(string.subcon.lengthfield.fmtstr)
        self.names, self.unpack_head = head.names, head.layout.unpack_from
        self.unpack_length, self.head_size = length.unpack_from, head.layout.size
        self.start = head.layout.size + length.size  # where the string's bytes begin
        self.name, self.encoding = last.name, string.encoding
        self.build = declaration.build

    def parse(self, data: bytes) -> Container:
        start = self.start
        if len(data) < start:
            raise ValueError(f"expected at least {start} bytes, got {len(data)}")
        (length,) = self.unpack_length(data, self.head_size)
        if len(data) - start != length:
            raise ValueError(f"{self.name} of {length} bytes declared, {len(data) - start} "
                             f"follow")
        fields = Container(zip(self.names, self.unpack_head(data), strict=True))
        fields[self.name] = data[start:].decode(self.encoding)
        return fields


# Fixed layouts parse in one struct.unpack (protocols/flat.py), which refuses a wrong size;
# IDENTIFY's Pascal string as a StringTail.
_FAST = {kind: flatten(declaration) or StringTail(declaration)
         for kind, declaration in PAYLOADS.items()}
_EMPTY_FAST = flatten(_EMPTY)
PARSE_ERRORS = (ConstructError, UnicodeDecodeError, ValueError, struct.error)


def build_payload(msg_type: int, values: dict | None = None) -> bytes:
    declaration = _FAST.get(msg_type)
    if declaration is None:
        return b""  # a message without payload (most requests)
    try:
        return declaration.build(values or {})
    except (*PARSE_ERRORS, KeyError) as error:
        raise PayloadError(f"cannot build 0x{msg_type:02x} payload from {values!r}: "
                           f"{error}") from error


def parse_payload(msg_type: int, payload: bytes):
    """The payload's fields (a construct Container); a wrong size is a PayloadError."""
    try:
        return _FAST.get(msg_type, _EMPTY_FAST).parse(payload)
    except PARSE_ERRORS as error:
        reason = str(error).splitlines()[-1]  # construct's last line says what was wrong
        raise PayloadError(f"0x{msg_type:02x} payload {payload.hex(' ') or '(empty)'} does not "
                           f"parse: {reason}", 0, payload) from error
