"""Message types and their payloads, declared once for the emulator (build) and driver (parse).

    >>> payload = build_payload(MsgType.SET_MODE, {"mode": Mode.ACTIVE})
    >>> parse_payload(MsgType.SET_MODE, payload).mode
    2

A response carries the request's type with bit 7 set and the request's sequence number.
All multi-byte integers are little-endian; units are in the field names (docs/protocol.md).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from construct import (
    Bytes,
    Construct,
    ConstructError,
    GreedyBytes,
    Int8ul,
    Int16sl,
    Int16ul,
    Int32ul,
    PascalString,
    Struct,
)

from protocols.errors import PayloadError
from protocols.flat import FlatStruct, flatten

RESPONSE_BIT = 0x80


class MsgType(IntEnum):
    PING = 0x01
    GET_INFO = 0x02
    READ_SENSORS = 0x03
    SET_MODE = 0x04
    SELF_TEST = 0x05
    SET_STREAM = 0x06
    FACTORY_WRITE_SERIAL = 0x07
    RESET = 0x08
    TELEMETRY = 0x40
    NACK = 0x7F


class Mode(IntEnum):
    SLEEP = 0
    IDLE = 1
    ACTIVE = 2
    RADIO_TEST = 3


class NackCode(IntEnum):
    BAD_CRC = 1
    UNKNOWN_TYPE = 2
    BAD_LENGTH = 3
    BAD_VALUE = 4
    ALREADY_PROVISIONED = 5
    UNSUPPORTED_VERSION = 6


class SelfTest(IntFlag):
    """SELF_TEST result bitmap: a set bit is a failed subsystem; 0 means all passed."""

    SENSOR = 0x01
    FLASH = 0x02
    RADIO = 0x04
    PMIC = 0x08
    RTC = 0x10


@dataclass(frozen=True)
class SensorReading:
    """One set of sensor values in SI-derived units, as the board measured them."""

    temperature_c: float
    humidity_pct: float
    pressure_pa: float
    battery_v: float

    def to_wire(self) -> dict[str, int]:
        """Scale to the wire's integers (0.01 degC, 0.01 %RH, 0.1 Pa, mV), clamped to range."""
        return {
            "temperature_cdeg": max(-0x8000, min(0x7FFF, round(self.temperature_c * 100))),
            "humidity_cpct": max(0, min(0xFFFF, round(self.humidity_pct * 100))),
            "pressure_dpa": max(0, min(0xFFFFFFFF, round(self.pressure_pa * 10))),
            "battery_mv": max(0, min(0xFFFF, round(self.battery_v * 1000))),
        }

    @classmethod
    def from_wire(cls, fields) -> SensorReading:
        return cls(
            temperature_c=fields.temperature_cdeg / 100,
            humidity_pct=fields.humidity_cpct / 100,
            pressure_pa=fields.pressure_dpa / 10,
            battery_v=fields.battery_mv / 1000,
        )


_text = PascalString(Int8ul, "ascii")

Info = Struct(
    "serial" / _text,
    "part_number" / _text,
    "hw_revision" / _text,
    "fw_major" / Int8ul,
    "fw_minor" / Int8ul,
    "fw_patch" / Int8ul,
    "ble_address" / Bytes(6),
)
Sensors = Struct(
    "temperature_cdeg" / Int16sl,
    "humidity_cpct" / Int16ul,
    "pressure_dpa" / Int32ul,
    "battery_mv" / Int16ul,
)
ModeMsg = Struct("mode" / Int8ul)
SelfTestResult = Struct("failed" / Int16ul)
Stream = Struct("enabled" / Int8ul, "rate_hz" / Int16ul)
Serial = Struct("serial" / _text)
Telemetry = Struct(
    "counter" / Int32ul,
    "uptime_ms" / Int32ul,
    "temperature_cdeg" / Int16sl,
    "humidity_cpct" / Int16ul,
    "pressure_dpa" / Int32ul,
    "battery_mv" / Int16ul,
)
Nack = Struct("request_type" / Int8ul, "code" / Int8ul)
Empty = Struct()
Echo = Struct("data" / GreedyBytes)

# (request payload, response payload) per message type; TELEMETRY and NACK are board-originated.
DECLARATIONS: dict[MsgType, tuple[Construct, Construct]] = {
    MsgType.PING: (Echo, Echo),
    MsgType.GET_INFO: (Empty, Info),
    MsgType.READ_SENSORS: (Empty, Sensors),
    MsgType.SET_MODE: (ModeMsg, ModeMsg),
    MsgType.SELF_TEST: (Empty, SelfTestResult),
    MsgType.SET_STREAM: (Stream, Stream),
    MsgType.FACTORY_WRITE_SERIAL: (Serial, Serial),
    MsgType.RESET: (Empty, Empty),
    MsgType.TELEMETRY: (Telemetry, Telemetry),
    MsgType.NACK: (Nack, Nack),
}


def _fast(construct: Construct) -> Construct | FlatStruct:
    """The fastest faithful parser of a declaration: a flat struct, else construct's interpreter.

    Why not construct's compiled parser for the rest: it reads a field shorter than declared
    without complaint (a string prefix claiming more bytes than follow, a 5-byte address), so a
    truncated GET_INFO would parse; the interpreter raises for it.
    """
    return flatten(construct) or construct


_REQUEST = {t: _fast(req) for t, (req, _) in DECLARATIONS.items()}
_RESPONSE = {t: _fast(resp) for t, (_, resp) in DECLARATIONS.items()}
# fixed payload sizes; None where the length varies (construct's parser checks those)
_SIZES = {c: c.size if isinstance(c, FlatStruct) else None
          for c in (*_REQUEST.values(), *_RESPONSE.values())}
_GREEDY = {c for c in _SIZES if isinstance(c, FlatStruct) and c.tail}


# wire type (request, or response with bit 7 set) -> (parser, message type), looked up per frame
_BY_WIRE_TYPE: dict[int, tuple[Construct | FlatStruct, MsgType]] = {
    **{int(t): (c, t) for t, c in _REQUEST.items()},
    **{int(t) | RESPONSE_BIT: (c, t) for t, c in _RESPONSE.items()},
}


def _lookup(msg_type: int) -> tuple[Construct | FlatStruct, MsgType | None]:
    """The parser for a wire type (response bit honoured) and its message type, or (None, None)."""
    return _BY_WIRE_TYPE.get(msg_type, (None, None))  # type: ignore[return-value]


def build_payload(msg_type: int, values: dict | None = None) -> bytes:
    """Build the payload of `msg_type` (set RESPONSE_BIT for a response) from field values."""
    construct, key = _lookup(msg_type)
    if key is None:
        raise ValueError(f"unknown message type 0x{msg_type:02x}")
    return construct.build(values or {})


def parse_payload(msg_type: int, payload: bytes):
    """Parse a payload by its wire type, raising PayloadError (never construct's own errors)."""
    construct, key = _lookup(msg_type)
    if key is None:
        raise PayloadError(f"unknown message type 0x{msg_type:02x}", 0, payload)
    size = _SIZES[construct]
    if size is not None and size != len(payload):
        raise PayloadError(f"{key.name} payload is {len(payload)} bytes, expected {size}",
                           min(size, len(payload)), payload)
    try:
        value = construct.parse(payload)
    except (ConstructError, struct.error, UnicodeDecodeError, ValueError) as error:
        # flat structs raise struct.error where construct raises ConstructError
        raise PayloadError(f"{key.name} payload does not parse ({error})", 0, payload) from error
    if size is not None or construct in _GREEDY:
        return value  # a fixed size was checked above; a greedy tail cannot leave bytes over
    consumed = len(construct.build(value))
    if consumed != len(payload):
        raise PayloadError(
            f"{key.name} payload has {len(payload) - consumed} trailing bytes", consumed, payload
        )
    return value
