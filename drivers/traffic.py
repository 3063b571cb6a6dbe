"""Per-test traffic logs: every byte in and out with a timestamp, decoded frames alongside.

    >>> log = TrafficLog("/dev/pts/9")
    >>> log.bytes("TX", b"\\xa5\\x5a")
    >>> log.lines[-1].split()[1:]
    ['TX', '2', 'bytes:', 'a5', '5a']

The serial link writes here from its reader thread and from the caller's thread; a fixture points
the log at a new file for each test (`begin`) and attaches it to the test's record.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TextIO


class TrafficLog:
    """Thread-safe, line-oriented log of one link; keeps the current test's lines in memory."""

    def __init__(self, port: str) -> None:
        self.port = port
        self.path: Path | None = None
        self.lines: list[str] = []
        self._file: TextIO | None = None
        self._t0 = time.monotonic()
        self._lock = threading.Lock()

    def begin(self, path: Path | None) -> None:
        """Start a new log (one per test): lines go to memory and, if given, to `path`."""
        with self._lock:
            self._close_file()
            self.lines = []
            self.path = path
            self._t0 = time.monotonic()
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = path.open("w", encoding="utf-8")
                self._file.write(f"# serial traffic on {self.port}\n")

    def bytes(self, direction: str, data: bytes) -> None:
        self.note(f"{direction} {len(data)} bytes: {data.hex(' ')}")

    def note(self, text: str) -> None:
        line = f"{time.monotonic() - self._t0:+11.6f} {text}"
        with self._lock:
            self.lines.append(line)
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def close(self) -> None:
        with self._lock:
            self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
