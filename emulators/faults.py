"""Faults of the bench itself, switched on by name: a noisy line, lost bytes, a stalling link.

    >>> transport = FaultyTransport(open_transport("pty"), {"serial.bit_error_rate": 1e-3}, seed=1)

Board defects say the board is bad; faults say the bench is. They sit on the transport between
any kit's emulated UART and the bench, so every board kit gets them, and they are seeded so a
failing run can be replayed. A driver must either recover from each (counted retries) or stop
with an ERROR that names it; it must never accept a wrong value. Faults act on the bytes the
board sends (line noise on the bench's receive side).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping

from emulators.serial_transport import SerialTransport

FAULTS: dict[str, str] = {
    "serial.bit_error_rate": "each bit the board sends is flipped with this probability",
    "serial.drop_rate": "each byte the board sends is lost with this probability",
    "serial.garbage_rate": "after each write, with this probability, a burst of 1-32 random "
                           "bytes follows on the line",
    "serial.stall_ms": "one write in twenty is held back this many milliseconds",
    "serial.replug_after_s": "the port vanishes this many seconds after the emulator starts, as "
                             "on a USB re-enumeration, and comes back a moment later",
    "serial.replug_new_path": "with serial.replug_after_s: 1 = the port comes back under a new "
                              "device path (only its stable by-id link keeps the name)",
    "instrument.drop_after": "each emulated instrument resets its TCP connection once, after "
                             "this many messages, instead of running the next one",
    "instrument.late_reply_ms": "one query reply in ten is held back this many milliseconds "
                                "(past the driver's timeout, it arrives late)",
    "instrument.device_error_after": "after this many messages, a device-specific error (-3xx) "
                                     "is pushed onto each instrument's error queue, once",
    "radio.link_loss_after": "the radio link is lost in the middle of the Nth notification, "
                             "once: it never arrives, both sides see a supervision timeout",
    "radio.notify_drop_rate": "each notification never arrives with this probability",
    "radio.refuse_first_connect": "1 = the first connection attempt is refused: the board never "
                                  "hears it, the central's link fails to be established (0x3E)",
}


class UnknownFaultError(ValueError):
    """A fault name no emulator knows, or a value out of its range."""


def check_faults(faults: Mapping[str, float], where: str) -> dict[str, float]:
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown:
        raise UnknownFaultError(f"{where}: unknown fault(s) {', '.join(unknown)}; known: "
                                f"{', '.join(sorted(FAULTS))}")
    for name, value in faults.items():
        limit = 1.0 if name.endswith("_rate") else 60_000.0
        if not 0.0 <= float(value) <= limit:
            raise UnknownFaultError(f"{where}: {name} = {value} is outside 0..{limit:g}")
    return {name: float(value) for name, value in faults.items()}


class FaultyTransport:
    """A SerialTransport that damages what the board writes, as a bad cable or hub would."""

    def __init__(self, transport: SerialTransport, faults: Mapping[str, float],
                 seed: int = 0) -> None:
        self._inner = transport
        self.port = transport.port
        self._rng = random.Random(seed)
        self._ber = faults.get("serial.bit_error_rate", 0.0)
        self._drop = faults.get("serial.drop_rate", 0.0)
        self._garbage = faults.get("serial.garbage_rate", 0.0)
        self._stall_s = faults.get("serial.stall_ms", 0.0) / 1000
        self.injected = {"bits_flipped": 0, "bytes_dropped": 0, "bursts": 0, "stalls": 0}

    def wait_readable(self, timeout: float, stop: int) -> bool:
        return self._inner.wait_readable(timeout, stop)

    def read(self) -> bytes:
        return self._inner.read()

    def write(self, data: bytes) -> None:
        rng = self._rng
        if self._stall_s and rng.random() < 0.05:
            self.injected["stalls"] += 1
            time.sleep(self._stall_s)  # the fault is the delay itself
        out = bytearray()
        for byte in data:
            if self._drop and rng.random() < self._drop:
                self.injected["bytes_dropped"] += 1
                continue
            if self._ber:
                for bit in range(8):
                    if rng.random() < self._ber:
                        byte ^= 1 << bit
                        self.injected["bits_flipped"] += 1
            out.append(byte)
        if self._garbage and rng.random() < self._garbage:
            self.injected["bursts"] += 1
            out += rng.randbytes(rng.randint(1, 32))
        self._inner.write(bytes(out))

    def close(self) -> None:
        self._inner.close()
