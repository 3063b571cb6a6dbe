"""The ${name}'s frames, declared once with construct: the emulator builds what the driver parses.

    7E | command (u8) | length (u8) | payload (length bytes) | checksum (u8, sum of the rest)

A reply carries its request's command with bit 7 set; 0x7F is the board's refusal (ERROR).
"""

from __future__ import annotations

from construct import Bytes, Const, Int8ul, Struct, this

SYNC = 0x7E
REPLY_BIT = 0x80
ERROR = 0x7F
IDENTIFY, PING, RESET = 0x01, 0x02, 0x03
HEADER = 3  # sync, command, length
MAX_PAYLOAD = 255

FRAME = Struct(
    "sync" / Const(bytes([SYNC])),
    "command" / Int8ul,
    "length" / Int8ul,
    "payload" / Bytes(this.length),
    "checksum" / Int8ul,
)
IDENTITY = Struct("unique_id" / Bytes(8), "fw" / Bytes(3))  # firmware major, minor, patch


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def encode(command: int, payload: bytes = b"") -> bytes:
    body = bytes([command, len(payload)]) + payload
    return FRAME.build({"command": command, "length": len(payload), "payload": payload,
                        "checksum": checksum(body)})
