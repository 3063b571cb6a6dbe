"""The protocol's own errors: every decoding failure is one of these, with the byte offset."""

from __future__ import annotations


class ProtocolError(Exception):
    """A stream or frame violates the protocol; `offset` is the byte offset of the fault."""

    def __init__(self, message: str, offset: int = 0, raw: bytes = b"", seq: int | None = None):
        shown = f": {raw.hex(' ')}" if raw else ""
        super().__init__(f"{message} at byte offset {offset}{shown}")
        self.offset = offset
        self.raw = raw
        self.seq = seq


class CrcError(ProtocolError):
    """The frame's CRC does not match its contents."""


class LengthError(ProtocolError):
    """The length field is larger than the protocol allows, or disagrees with the bytes given."""


class VersionError(ProtocolError):
    """The frame carries a protocol version this side does not speak."""


class PayloadError(ProtocolError):
    """The payload does not match the declaration of its message type."""
