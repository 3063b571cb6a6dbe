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

The I/O watchdog as the N6700 Operating and Service Guide describes it ("Watchdog Timer
Protection", `OUTPut:PROTection:WDOG[:STATe]`, `:DELay` 1-3600 s in 1 s steps, *RST OFF and
60 s): once no SCPI message has arrived on any session for the delay, every output is held off
in protection (`OUTP?` still answers the programmed state), the PROT bit (11) of the
questionable condition is set, and `OUTP:PROT:CLE` restores the outputs.
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar

from emulators.psu import QUES_OC, QUES_OV, KeysightSupply
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
QUES_PROT = 2048  # bit 11: output disabled by a protection (the watchdog's among them)
WDOG_DELAY_S = (1, 3600, 60)  # min, max, *RST


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
        self.wdog_on = False
        self.wdog_delay_s = WDOG_DELAY_S[2]

    def execute(self, message: str) -> bytes | None:
        self.last_io = time.monotonic()  # any message on any session restarts the watchdog
        return super().execute(message)

    def questionable_condition(self, ch: int | None = None) -> int:
        outs = [self.outputs[ch]] if ch else list(self.outputs.values())
        return ((QUES_OV if any(o.tripped for o in outs) else 0)
                | (QUES_OC if any(o.oc_tripped for o in outs) else 0)
                | (QUES_PROT if any(o.held_off for o in outs) else 0))

    @scpi("STATus:QUEStionable:CONDition", "query")
    def _ques_condition(self, call: Call) -> str:
        """Per channel on the N6700 (`STAT:QUES:COND? (@1)`); without a list, channel 1."""
        return f"{self.questionable_condition(self._channel(call, 0)):+d}"

    @scpi("OUTPut:PROTection:WDOG[:STATe]")
    def _wdog(self, call: Call) -> str | None:
        if call.query:
            call.no_more_than(0)
            return str(int(self.wdog_on))
        call.no_more_than(1)
        self.wdog_on = call.boolean(0)
        self.last_io = time.monotonic()
        if self.wdog_on and getattr(self, "_watcher", None) is None:
            self._watcher = threading.Thread(target=self._watch, daemon=True, name="psu wdog")
            self._watcher.start()
        return None

    @scpi("OUTPut:PROTection:WDOG:DELay")
    def _wdog_delay(self, call: Call) -> str | None:
        low, high, default = WDOG_DELAY_S
        if call.query:
            call.no_more_than(1)
            bound = call.choice(0, ("MINimum", "MAXimum")) if call.args else ""
            value = {"MIN": low, "MAX": high}.get(bound, self.wdog_delay_s)
            return f"{value:+d}"
        call.no_more_than(1)
        self.wdog_delay_s = round(call.number(0, low=low, high=high, default=default, unit="S"))
        return None

    def _watch(self) -> None:
        """Hold every output off once the bus has been silent for the delay; once per silence."""
        held_for = None
        while True:
            with self.lock:  # the lock the commands run under: *RST and WDOG OFF end this
                if not self.wdog_on:
                    self._watcher = None
                    return
                left = self.last_io + self.wdog_delay_s - time.monotonic()
                if left <= 0 and held_for != self.last_io:
                    held_for = self.last_io
                    for out in self.outputs.values():
                        out.held_off = True
                    self._wire()
                    with self.changed:
                        self.changed.notify_all()  # tests await the hold as they await commands
            with self.changed:  # notified after every message; bounded, so none is missed
                self.changed.wait(left if left > 0 else self.wdog_delay_s)

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
