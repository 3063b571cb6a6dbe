"""The ${name}'s codec (citebench's protocols/codec.py): one request in flight, no sequence numbers.

    >>> codec = Codec()
    >>> codec.decoder().feed(codec.encode(Frame(PING, b"hi")))
    [Frame(command=2, payload=b'hi', offset=0)]
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.errors import NackError, ReplyMismatchError
from protocols.errors import CrcError, ProtocolError

from ${name}_kit.protocol import ERROR, FRAME, HEADER, PING, REPLY_BIT, SYNC, checksum, encode


@dataclass(frozen=True)
class Frame:
    command: int
    payload: bytes = b""
    offset: int = 0  # where its sync byte was in the stream


class Decoder:
    """Frames out of a byte stream; bytes outside frames are console text (the banner)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[object]:
        self._buf += data
        events: list[object] = []
        while self._buf:
            start = self._buf.find(SYNC)
            if start != 0:
                count = len(self._buf) if start < 0 else start
                events.append(bytes(self._buf[:count]).decode("utf-8", "replace"))
                self._skip(count)
                continue
            if len(self._buf) < HEADER:
                break
            size = HEADER + self._buf[2] + 1
            if len(self._buf) < size:
                break
            raw = bytes(self._buf[:size])
            if checksum(raw[1:-1]) != raw[-1]:
                events.append(CrcError(f"checksum 0x{raw[-1]:02x} != computed "
                                       f"0x{checksum(raw[1:-1]):02x}", self._base + size - 1, raw))
                self._skip(1)
                continue
            parsed = FRAME.parse(raw)
            events.append(Frame(parsed.command, parsed.payload, self._base))
            self._skip(size)
        return events

    def drop_partial(self) -> list[object]:
        if not self._buf:
            return []
        error = ProtocolError(f"incomplete frame of {len(self._buf)} bytes timed out", self._base,
                              bytes(self._buf))
        self._skip(1)
        return [error, *self.feed(b"")]

    def _skip(self, count: int) -> None:
        del self._buf[:count]
        self._base += count


class Codec:
    sequenced = False
    seq_space = 1

    def decoder(self) -> Decoder:
        return Decoder()

    def encode(self, frame: Frame) -> bytes:
        return encode(frame.command, frame.payload)

    def stamp(self, request: Frame, seq: int) -> Frame:
        return request

    def key(self, frame: Frame) -> int:
        return 0

    def is_unsolicited(self, frame: Frame) -> bool:
        return False

    def check_reply(self, request: Frame, reply: Frame) -> None:
        if reply.command == ERROR:
            raise NackError(f"board refused command 0x{request.command:02x}", reply.payload[:1].hex())
        if reply.command != request.command | REPLY_BIT:
            raise ReplyMismatchError(f"reply 0x{reply.command:02x} to command "
                                     f"0x{request.command:02x}")

    def describe(self, item: object) -> str:
        if isinstance(item, Frame):
            return f"cmd=0x{item.command:02x} payload={item.payload.hex(' ') or '-'}"
        return str(item)


__all__ = ["PING", "Codec", "Decoder", "Frame"]
