"""An emulated Keysight N6705C DC power analyzer: E36300-style channel commands plus array capture.

    >>> from emulators.ws100_board import BoardModel
    >>> board = BoardModel(powered=False)
    >>> psu = N6705C(board, seed=1)
    >>> psu.execute("SENS:SWE:POIN 4,(@1);TINT 20us,(@1);:MEAS:ARR:CURR? (@1)").count(b",")
    3
    >>> board.shutdown()

Commands follow the Keysight N6700 Programming Guide (N6705-90901), "SENSe:SWEep",
"MEASure:ARRay", "INITiate:ACQuire", "FETCh:ARRay" and "FORMat". Channel 1 is an N6781A
source-measure unit (20 V / 3 A, 200 kS/s digitiser, 5.12 µs); channels 2-4 are N6762A
precision modules (50 V / 3 A, 50 kS/s, 20.48 µs).
"""

from __future__ import annotations

import threading
from typing import ClassVar

from emulators.psu import KeysightSupply
from emulators.scpi import (
    ByteOrder,
    Call,
    Pending,
    ScpiError,
    ascii_array,
    binary_block,
    fmt_number,
    scpi,
)

MAX_POINTS = 512 * 1024  # the N6705C's 512 k-point measurement buffer
MIN_INTERVAL_S = {1: 5.12e-6, 2: 20.48e-6, 3: 20.48e-6, 4: 20.48e-6}


class N6705C(ByteOrder, KeysightSupply):
    idn = "Keysight Technologies,N6705C,MY56000001,D.03.03.2015"
    ratings: ClassVar[dict[int, tuple[float, float]]] = {
        1: (20.4, 3.06), 2: (51.0, 3.06), 3: (51.0, 3.06), 4: (51.0, 3.06)}
    readback_resolution_a = 10e-9  # the N6781A's 10 mA range, auto-ranged readback

    def reset(self) -> None:
        super().reset()
        self.sweeps = {ch: {"points": 1024, "interval_s": 20.48e-6} for ch in self.ratings}
        self.captures: dict[int, tuple[threading.Thread, list[float]]] = {}
        self.binary = False
        self.byte_order = ">"

    def operation_condition(self) -> int:
        """N6700 STAT:OPER bit 3 (WTG-meas) and 4 (MEAS active) while a capture runs."""
        return 16 if any(t.is_alive() for t, _ in self.captures.values()) else 0

    @scpi("SENSe:SWEep:POINts")
    def _points(self, call: Call) -> str | None:
        return self._sweep(call, "points", "")

    @scpi("SENSe:SWEep:TINTerval")
    def _interval(self, call: Call) -> str | None:
        return self._sweep(call, "interval_s", "S")

    def _sweep(self, call: Call, key: str, unit: str) -> str | None:
        if call.query:
            value = self.sweeps[self._channel(call, 0)][key]
            return f"{value:+d}" if key == "points" else fmt_number(value)
        for ch in self._channels(call, 1):
            low, high = (1, MAX_POINTS) if key == "points" else (MIN_INTERVAL_S[ch], 40_000.0)
            value = call.number(0, low=low, high=high, default=low if unit else 1024, unit=unit)
            self.sweeps[ch][key] = int(value) if key == "points" else value
        return None

    def _channel(self, call: Call, index: int) -> int:
        channels = self._channels(call, index)
        if len(channels) != 1:
            raise ScpiError(-221, "an acquisition takes exactly one channel")
        return channels[0]

    def _window(self, ch: int) -> list[float]:
        return self.acquire(ch, self.sweeps[ch]["points"], self.sweeps[ch]["interval_s"])

    @scpi("INITiate[:IMMediate]:ACQuire", "set")
    def _init(self, call: Call) -> None:
        self._start(self._channel(call, 0))

    def _start(self, ch: int) -> tuple[threading.Thread, list[float]]:
        running = self.captures.get(ch)
        if running is not None and running[0].is_alive():
            raise ScpiError(-213, f"channel {ch} is already acquiring")
        samples: list[float] = []
        thread = threading.Thread(target=lambda: samples.extend(self._window(ch)), daemon=True,
                                  name=f"psu capture ch{ch}")
        self.captures[ch] = (thread, samples)
        self.pending.append(thread)  # *OPC, *OPC? and *WAI wait for it
        thread.start()
        return thread, samples

    @scpi("FETCh:ARRay:CURRent[:DC]", "query")
    def _fetch(self, call: Call) -> Pending:
        ch = self._channel(call, 0)
        if ch not in self.captures:
            raise ScpiError(-230, f"no acquisition on channel {ch}")
        thread, samples = self.captures[ch]
        return Pending(thread.join, lambda: self._array(samples))

    @scpi("MEASure:ARRay:CURRent[:DC]", "query")
    def _measure_array(self, call: Call) -> Pending:
        thread, samples = self._start(self._channel(call, 0))
        return Pending(thread.join, lambda: self._array(samples))

    def _array(self, values: list[float]) -> bytes:
        return binary_block(values, self.byte_order + "f") if self.binary else ascii_array(values)

    @scpi("FORMat[:DATA]")
    def _format(self, call: Call) -> str | None:
        if call.query:
            return "REAL,32" if self.binary else "ASC,8"
        call.no_more_than(2)
        binary = call.choice(0, ("ASCii", "REAL")) == "REAL"
        if binary and len(call.args) == 2 and call.number(1, low=0, high=64, default=32) != 32:
            raise ScpiError(-224, "REAL supports 32-bit only")
        self.binary = binary
        return None
