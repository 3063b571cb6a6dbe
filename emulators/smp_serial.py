"""SMP on a UART shared with the board's own frames: "SMP over console" lines picked out.

    >>> uart = SmpUart(server)                                  # doctest: +SKIP
    >>> other = uart.feed(received, binary_idle=decoder.pending == 0)  # doctest: +SKIP

An SMP serial line starts with 06 09 (first of a frame) or 04 14 (continuation) and ends with
`\\n`; between the delimiter and the newline there is only base64. Zephyr's console recognises a
delimiter at the start of a line; here a delimiter counts only where the board's own frame
decoder holds no partial frame (`binary_idle`), so an 06 09 inside a binary frame's payload stays
the frame's. What is not SMP is returned for the board's decoder; each complete SMP frame is
answered at once, the whole answer in one write so the board's own output never splits a line.
"""

from __future__ import annotations

from collections.abc import Callable

from smp import packet as smppacket
from smp.exceptions import SMPDecodeError

from emulators.smp_server import SmpServer

DELIMITERS = (smppacket.START_DELIMITER, smppacket.CONTINUE_DELIMITER)
LINE_LENGTH = 128


class SmpUart:
    """Separates SMP lines from other bytes and answers each SMP frame through `write`."""

    def __init__(self, server: SmpServer, write: Callable[[bytes], None]) -> None:
        self.server = server
        self._write = write
        self._line: bytearray | None = None  # an SMP line being received
        self._decoder = None

    def feed(self, data: bytes, binary_idle: bool) -> bytes:
        """Take the SMP lines out of `data`; returns the rest, in order, for the frame decoder.
        `binary_idle` says whether the frame decoder was between frames before `data`: a line
        starts only there, before any other byte of `data`."""
        other = bytearray()
        rest = memoryview(data)
        while rest:
            if self._line is not None:
                end = bytes(rest).find(b"\n")
                if end < 0:
                    self._line += rest
                    break
                self._line += rest[:end + 1]
                rest = rest[end + 1:]
                self._take_line(bytes(self._line))
                self._line = None
                continue
            start = _find_delimiter(bytes(rest))
            if start < 0:
                other += rest
                break
            other += rest[:start]
            if not other and binary_idle:
                self._line = bytearray()
                rest = rest[start:]
            else:  # inside a frame (or after bytes that may start one): not a line start
                other += rest[start:start + 1]
                rest = rest[start + 1:]
        return bytes(other)

    def reset(self) -> None:
        """Power lost: a half-received line or frame is gone."""
        self._line = None
        self._decoder = None

    def _take_line(self, line: bytes) -> None:
        if line.startswith(smppacket.START_DELIMITER):
            self._decoder = smppacket.decode()
            next(self._decoder)
        if self._decoder is None:
            return  # a continuation without its start: dropped, as Zephyr drops it
        try:
            self._decoder.send(line)
        except StopIteration as done:
            self._decoder = None
            reply = self.server.handle(bytes(done.value))
            if reply is not None:
                self._write(b"".join(smppacket.encode(reply, line_length=LINE_LENGTH)))
                self.server.after_reply()
        except (SMPDecodeError, ValueError):  # bad CRC or base64: discarded, no answer
            self._decoder = None


def _find_delimiter(data: bytes) -> int:
    found = [i for i in (data.find(d) for d in DELIMITERS) if i >= 0]
    return min(found) if found else -1
