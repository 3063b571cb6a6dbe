"""Per-test traffic logs: every byte in and out with a timestamp, decoded frames alongside.

    >>> log = TrafficLog("/dev/pts/9")
    >>> log.add("TX", b"\\xa5\\x5a")
    >>> log.text().split()[1:]
    ['TX', '2', 'bytes:', 'a5', '5a']

Why entries are formatted late: the link logs from its reader thread on every chunk, and hex
formatting plus a flushed write per line cost more than the round trip they describe. Entries are
kept raw (timestamp, kind, object) and turned into text when the log is read, flushed, switched to
the next test, or when an error message names the log file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

BYTES_KINDS = ("TX", "RX")


class TrafficLog:
    """Thread-safe log of one link; `describe` turns a logged object (a frame) into text."""

    def __init__(self, port: str, describe: Callable[[object], str] = str,
                 title: str = "serial traffic") -> None:
        self.port = port
        self.title = title
        self.path: Path | None = None
        self._describe = describe
        self._entries: list[tuple[float, str, object]] = []
        self._lines: list[str] = []
        self._file: TextIO | None = None
        self._t0 = time.monotonic()
        self._lock = threading.Lock()

    def begin(self, path: Path | None) -> None:
        """Start a new log (one per test): lines go to memory and, if given, to `path`."""
        with self._lock:
            self._close_file()
            self._entries, self._lines = [], []
            self.path = path
            self._t0 = time.monotonic()
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = path.open("w", encoding="utf-8")
                self._file.write(f"# {self.title} on {self.port}\n")

    def add(self, kind: str, item: object) -> None:
        """Log bytes ("TX"/"RX"), a frame or any other object; cheap enough for the hot path."""
        self._entries.append((time.monotonic(), kind, item))  # list.append is atomic

    def flush(self) -> None:
        """Format pending entries and write them to the file."""
        with self._lock:
            self._flush_locked()

    def text(self) -> str:
        with self._lock:
            self._flush_locked()
            return "\n".join(self._lines)

    def close(self) -> None:
        with self._lock:
            self._close_file()

    def _flush_locked(self) -> None:
        pending, self._entries = self._entries, []
        lines = [self._format(*entry) for entry in pending]
        self._lines += lines
        if self._file is not None and lines:
            self._file.write("\n".join(lines) + "\n")
            self._file.flush()

    def _format(self, at: float, kind: str, item: object) -> str:
        if kind in BYTES_KINDS:
            text = f"{kind} {len(item)} bytes: {item.hex(' ')}"  # type: ignore[attr-defined]
        else:
            text = f"   {kind} {self._describe(item)}"
        return f"{at - self._t0:+11.6f} {text}"

    def _close_file(self) -> None:
        self._flush_locked()
        if self._file is not None:
            self._file.close()
            self._file = None
