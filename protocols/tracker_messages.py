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
    Int8ul,
    Int16sl,
    Int16ul,
    Int32sl,
    Int32ul,
    Int64ul,
    PascalString,
    Struct,
    Terminated,
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
# Fixed layouts parse in one struct.unpack (protocols/flat.py), which refuses a wrong size; the
# rest (IDENTIFY's Pascal string) through construct's interpreter, ending in Terminated so that
# bytes left over are refused too. Not its compiled parser: that one reads a string shorter than
# its length byte claims without complaint, so a truncated firmware version would be accepted.
_FAST = {kind: flatten(declaration) or Struct(*declaration.subcons, Terminated)
         for kind, declaration in PAYLOADS.items()}
_EMPTY_FAST = flatten(_EMPTY)
PARSE_ERRORS = (ConstructError, UnicodeDecodeError, ValueError, struct.error)


def build_payload(msg_type: int, values: dict | None = None) -> bytes:
    try:
        return _FAST.get(msg_type, _EMPTY_FAST).build(values or {})
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
