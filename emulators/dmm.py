"""An emulated Keysight 34465A (with the DIG option) probing one test point of the board.

    >>> from emulators.ws100_board import BoardModel
    >>> board = BoardModel(seed=1)
    >>> dmm = DmmEmulator(board, test_point="vbat", seed=1)
    >>> round(float(dmm.execute("MEAS:VOLT:DC?")), 2)
    3.7
    >>> board.shutdown()

The station profile names the test point the probes sit on (`[dmm] test_point`); voltage reads
that node of the board, current reads what flows in the supply lead (the meter in series).
Readings carry seeded noise; a reading beyond the range (plus 20 % over-range) is the SCPI
overload value 9.9E37, as on the real meter. With `SAMP:SOUR TIM` the meter digitises
(`SAMP:TIM` down to 20 µs, 50 kS/s): `INIT` starts a real-time window of samples taken from the
board's current at their instants, `FETC?` waits for it, `*OPC?` and `*WAI` too. Commands follow
the Keysight Truevolt Series Operating and Service Guide (34460-90901), "SCPI Programming
Reference": CONFigure, SAMPle, TRIGger, INITiate, FETCh?, READ?, MEASure?, FORMat, *OPT?.
"""

from __future__ import annotations

import random
import threading
import time

from emulators.interfaces import PowerFace
from emulators.scpi import (
    ByteOrder,
    Call,
    Ieee4882,
    Pending,
    Scpi99,
    ScpiDevice,
    ScpiError,
    ascii_array,
    binary_block,
    fmt_number,
    scpi,
)

RANGES = {"VOLT": (0.1, 1.0, 10.0, 100.0, 1000.0), "CURR": (1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.0)}
OVERLOAD = 9.9e37
MAX_SAMPLES = 2_000_000  # the MEM option's reading memory
MIN_SAMPLE_TIMER_S = 20e-6  # 50 kS/s with the DIG option
PACE_S = 0.002


class DmmEmulator(ByteOrder, Ieee4882, Scpi99, ScpiDevice):
    idn = "Keysight Technologies,34465A,CB00000002,A.03.01-03.15-03.01-00.52-03-01"

    def __init__(self, board: PowerFace, test_point: str = "vbat", seed: int = 0) -> None:
        if test_point not in board.test_points:
            raise ValueError(f"dmm test point {test_point!r}: the emulated board has "
                             f"{', '.join(board.test_points)}")
        self.board = board
        self.test_point = test_point
        self.rng = random.Random(seed)
        super().__init__()

    def reset(self) -> None:
        self.function = "VOLT"
        self.ranges = {"VOLT": 10.0, "CURR": 0.1}
        self.auto = {"VOLT": True, "CURR": True}
        self.samples = 1
        self.triggers = 1
        self.source = "IMM"
        self.waiting = False
        self.readings: list[float] | None = None
        self.timed = False  # SAMP:SOUR TIM: digitising at `timer_s`
        self.timer_s = 1e-3
        self.real = False  # FORM:DATA REAL: readings as a float64 block
        self.byte_order = ">"
        self.acquisition: threading.Thread | None = None

    # --- physics ------------------------------------------------------------------------------
    def _reading(self, at: float | None = None) -> float:
        if self.function == "VOLT":
            value = self.board.test_point_v(self.test_point)
            value += self.rng.gauss(0.0, 5e-6 + 5e-6 * abs(value))
        else:
            value = self.board.current_a(at)
            value += self.rng.gauss(0.0, 2e-9 + 1e-4 * abs(value))
        ranges = RANGES[self.function]
        if self.auto[self.function]:
            fits = [r for r in ranges if abs(value) <= r * 1.2]
            self.ranges[self.function] = fits[0] if fits else ranges[-1]
        return value if abs(value) <= self.ranges[self.function] * 1.2 else OVERLOAD

    def _take(self) -> None:
        count = self.samples * self.triggers
        self.waiting = False
        if not self.timed:
            self.readings = [self._reading() for _ in range(count)]
            return
        readings: list[float] = []
        self.readings = readings
        self.acquisition = threading.Thread(target=self._digitise, args=(readings, count),
                                            daemon=True, name="dmm digitiser")
        self.pending.append(self.acquisition)
        self.acquisition.start()

    def _digitise(self, readings: list[float], count: int) -> None:
        """Samples `timer_s` apart over a real-time window (the window is the measurement)."""
        clock = self.board.clock
        start = clock()
        while len(readings) < count:
            due = min(count, int((clock() - start) / self.timer_s) + 1)
            readings.extend(self._reading(start + i * self.timer_s)
                            for i in range(len(readings), due))
            if len(readings) < count:
                time.sleep(PACE_S)

    def _answer(self, values: list[float]) -> bytes:
        return binary_block(values, self.byte_order + "d") if self.real else ascii_array(values)

    # --- configuration ------------------------------------------------------------------------
    @scpi("CONFigure:VOLTage[:DC]", "set")
    def _conf_volts(self, call: Call) -> None:
        self._configure(call, "VOLT")

    @scpi("CONFigure:CURRent[:DC]", "set")
    def _conf_amps(self, call: Call) -> None:
        self._configure(call, "CURR")

    def _configure(self, call: Call, function: str) -> None:
        """CONF sets the function and range and returns the trigger system to its defaults."""
        call.no_more_than(2)
        if call.args:
            self._set_range(call, function)
        else:
            self.auto[function] = True
        self.function = function
        self.samples, self.triggers, self.source = 1, 1, "IMM"
        self.waiting, self.readings, self.timed = False, None, False

    def _set_range(self, call: Call, function: str) -> None:
        ranges = RANGES[function]
        if call.arg(0).upper() in ("AUTO", "AUT"):
            self.auto[function] = True
            return
        wanted = call.number(0, low=0.0, high=ranges[-1], default=ranges[-2],
                             unit="V" if function == "VOLT" else "A")
        self.ranges[function] = next(r for r in ranges if wanted <= r)
        self.auto[function] = False

    @scpi("CONFigure", "query")
    def _conf_query(self, call: Call) -> str:
        resolution = self.ranges[self.function] * 3e-7
        return f'"{self.function} {fmt_number(self.ranges[self.function])},' \
               f'{fmt_number(resolution)}"'

    @scpi("[SENSe]:VOLTage[:DC]:RANGe[:UPPer]")
    def _volt_range(self, call: Call) -> str | None:
        return self._range(call, "VOLT")

    @scpi("[SENSe]:CURRent[:DC]:RANGe[:UPPer]")
    def _curr_range(self, call: Call) -> str | None:
        return self._range(call, "CURR")

    def _range(self, call: Call, function: str) -> str | None:
        if call.query:
            return fmt_number(self.ranges[function])
        call.no_more_than(1)
        self._set_range(call, function)
        return None

    @scpi("[SENSe]:VOLTage[:DC]:RANGe:AUTO")
    def _volt_auto(self, call: Call) -> str | None:
        return self._auto(call, "VOLT")

    @scpi("[SENSe]:CURRent[:DC]:RANGe:AUTO")
    def _curr_auto(self, call: Call) -> str | None:
        return self._auto(call, "CURR")

    def _auto(self, call: Call, function: str) -> str | None:
        if call.query:
            return str(int(self.auto[function]))
        call.no_more_than(1)
        self.auto[function] = call.boolean(0)
        return None

    # --- trigger system -----------------------------------------------------------------------
    @scpi("SAMPle:COUNt")
    def _sample_count(self, call: Call) -> str | None:
        if call.query:
            return f"{self.samples:+d}"
        call.no_more_than(1)
        self.samples = int(call.number(0, low=1, high=MAX_SAMPLES, default=1))
        return None

    @scpi("TRIGger:COUNt")
    def _trigger_count(self, call: Call) -> str | None:
        if call.query:
            return f"{self.triggers:+d}"
        call.no_more_than(1)
        self.triggers = int(call.number(0, low=1, high=1_000_000, default=1))
        return None

    @scpi("TRIGger:SOURce")
    def _trigger_source(self, call: Call) -> str | None:
        if call.query:
            return self.source
        call.no_more_than(1)
        self.source = call.choice(0, ("IMMediate", "BUS", "EXTernal"))
        return None

    @scpi("SAMPle:SOURce")
    def _sample_source(self, call: Call) -> str | None:
        if call.query:
            return "TIM" if self.timed else "IMM"
        call.no_more_than(1)
        self.timed = call.choice(0, ("IMMediate", "TIMer")) == "TIM"
        return None

    @scpi("SAMPle:TIMer")
    def _sample_timer(self, call: Call) -> str | None:
        if call.query:
            return fmt_number(self.timer_s)
        call.no_more_than(1)
        self.timer_s = call.number(0, low=MIN_SAMPLE_TIMER_S, high=3600.0, default=1e-3,
                                   unit="S")
        return None

    @scpi("FORMat[:DATA]")
    def _format(self, call: Call) -> str | None:
        if call.query:
            return "REAL,64" if self.real else "ASC,9"
        call.no_more_than(2)
        self.real = call.choice(0, ("ASCii", "REAL")) == "REAL"
        if self.real and len(call.args) == 2 and call.number(1, low=0, high=64,
                                                             default=64) != 64:
            raise ScpiError(-224, "REAL is 64-bit on this meter")
        return None

    @scpi("*OPT", "query")
    def _options(self, call: Call) -> str:
        call.no_more_than(0)
        return '"DIG,MEM"'

    @scpi("INITiate[:IMMediate]", "set")
    def _initiate(self, call: Call) -> None:
        call.no_more_than(0)
        if self.acquisition is not None and self.acquisition.is_alive():
            raise ScpiError(-213, "already digitising")
        if self.waiting:
            raise ScpiError(-213, "already waiting for a trigger")
        if self.samples * self.triggers > MAX_SAMPLES:
            raise ScpiError(-221, f"sample count x trigger count over {MAX_SAMPLES}")
        self.readings = None
        if self.source == "IMM":
            self._take()
        else:
            self.waiting = True

    @scpi("*TRG", "set")
    def _trg(self, call: Call) -> None:
        if not (self.waiting and self.source == "BUS"):
            raise ScpiError(-211, "not waiting for a BUS trigger")
        self._take()

    @scpi("FETCh", "query")
    def _fetch(self, call: Call) -> bytes | Pending:
        call.no_more_than(0)
        if self.waiting:
            raise ScpiError(-214, f"FETC? while waiting for a {self.source} trigger")
        if self.readings is None:
            raise ScpiError(-230, "no readings: INIT first")
        readings = self.readings
        if self.acquisition is not None:
            return Pending(self.acquisition.join, lambda: self._answer(readings))
        return self._answer(readings)

    @scpi("READ", "query")
    def _read(self, call: Call) -> bytes | Pending:
        self._initiate(Call("INIT", False))
        return self._fetch(call)

    @scpi("MEASure:VOLTage[:DC]", "query")
    def _measure_volts(self, call: Call) -> bytes | Pending:
        self._configure(call, "VOLT")
        return self._read(Call("READ", True))

    @scpi("MEASure:CURRent[:DC]", "query")
    def _measure_amps(self, call: Call) -> bytes | Pending:
        self._configure(call, "CURR")
        return self._read(Call("READ", True))
