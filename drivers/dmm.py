"""Digital multimeter driver: Keysight 34465A command set (34460A/61A/65A/70A, 34410A/11A).

    >>> dmm = Multimeter.open("TCPIP0::10.0.0.8::5025::SOCKET")      # doctest: +SKIP
    >>> dmm.measure_voltage()                                        # doctest: +SKIP
    3.70012
    >>> dmm.configure_voltage(10); dmm.sample_count = 5              # doctest: +SKIP
    >>> dmm.trigger_source = "BUS"; dmm.initiate(); dmm.trigger()    # doctest: +SKIP
    >>> dmm.fetch()                                                  # doctest: +SKIP
    [3.70011, 3.70013, 3.70012, 3.7001, 3.70012]

`CONF:...` sets function and range and returns the trigger system to its defaults (one trigger,
one sample, immediate source), as on the real meter; set counts and source after it.

With the DIG option (`*OPT?` lists it) the meter digitises: `Digitiser(meter)` is a
`CurrentProfiler` taking the supply lead's current at up to 50 kS/s (`SAMP:SOUR TIM`,
`SAMP:TIM`, `SAMP:COUN`, `INIT`, `FETC?` as a float64 block through pyvisa's reader).
Commands follow the Keysight Truevolt Series Operating and Service Guide (34460-90901).
"""

from __future__ import annotations

import contextlib

from drivers.profiler import MIN_RATE_HZ, Capture
from drivers.scpi import Instrument, control

CURRENT_RANGES_A = (1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.0)


class Multimeter(Instrument):
    """DC volts and amps, range, sample count, trigger and fetch."""

    function = control("CONF?", kind=str)
    voltage_range = control("VOLT:RANG?", "VOLT:RANG {value:g}", "V", values=(0, 1000))
    current_range = control("CURR:RANG?", "CURR:RANG {value:g}", "A", values=(0, 3),
                            limit="max_current")
    sample_count = control("SAMP:COUN?", "SAMP:COUN {value:d}", values=(1, 50_000), kind=int)
    trigger_count = control("TRIG:COUN?", "TRIG:COUN {value:d}", values=(1, 50_000), kind=int)
    trigger_source = control("TRIG:SOUR?", "TRIG:SOUR {value}", values=("IMM", "BUS", "EXT"),
                             kind=str)

    def configure_voltage(self, range_v: float | None = None) -> None:
        self.write(f"CONF:VOLT:DC {_range(range_v)}", idempotent=True)

    def configure_current(self, range_a: float | None = None) -> None:
        if range_a is not None:
            control.check(type(self).current_range, self, range_a, f"CONF:CURR:DC {range_a:g}")
        self.write(f"CONF:CURR:DC {_range(range_a)}", idempotent=True)

    def initiate(self) -> None:
        self.write("INIT")

    def trigger(self) -> None:
        self.write("*TRG")

    def fetch(self) -> list[float]:
        return list(self.query_list("FETC?"))

    def read(self) -> list[float]:
        return list(self.query_list("READ?"))

    @property
    def options(self) -> tuple[str, ...]:
        """`*OPT?`: the installed options (DIG: digitising, MEM: 2 M readings)."""
        return tuple(o.strip() for o in self.query("*OPT?").strip('"').split(",") if o.strip())

    @property
    def capabilities(self) -> frozenset[str]:
        found = {"dc_voltage", "dc_current"}
        return frozenset(found | ({"current_profiler"} if "DIG" in self.options else set()))

    def measure_voltage(self) -> float:
        return float(self.query("MEAS:VOLT:DC?"))

    def measure_current(self) -> float:
        return float(self.query("MEAS:CURR:DC?"))


def _range(value: float | None) -> str:
    return "AUTO" if value is None else f"{value:g}"


class Digitiser:
    """A 34465A/34470A with the DIG option as a `CurrentProfiler` (probes in the supply lead).

    The range is fixed for the window (auto-ranging would lose samples): the smallest range
    that holds `range_a` (the station's max_current by default).
    """

    role = "dmm"

    def __init__(self, meter: Multimeter, range_a: float) -> None:
        self.meter = meter
        self.model = meter.identity.model
        self.range_a = next((r for r in CURRENT_RANGES_A if r >= range_a), CURRENT_RANGES_A[-1])
        self._interval = 0.0
        self._points = 0
        self._held = contextlib.ExitStack()  # the meter's lock, from INIT until FETC?

    def capture(self, points: int, interval: float) -> Capture:
        self.start_capture(points, interval)
        return self.fetch_capture()

    def start_capture(self, points: int, interval: float) -> None:
        if interval > 0 and 1 / interval > MIN_RATE_HZ * 1.0001:
            raise ValueError(f"{self.meter.resource_name}: {self.model} digitises at "
                             f"{MIN_RATE_HZ} S/s at most, not {1 / interval:g}")
        meter = self.meter
        # the meter is this capture's from its configuration to its FETC? (slots share it)
        self._held.enter_context(meter.transaction())
        try:
            meter.write(f"CONF:CURR:DC {self.range_a:g}", idempotent=True)
            meter.write(f"SAMP:SOUR TIM;:SAMP:TIM {interval:.6g};:SAMP:COUN {points:d};"
                        ":TRIG:SOUR IMM;:FORM:DATA REAL,64", idempotent=True)
            meter.write("INIT")
        except BaseException:
            self._held.close()
            raise
        self._interval, self._points = interval, points

    def fetch_capture(self) -> Capture:
        meter = self.meter
        try:
            with meter.extra_time(self._points * self._interval):
                amps = meter.query_block("FETC?", datatype="d")
        finally:
            with self._held:
                meter.write("FORM:DATA ASC", idempotent=True)
        return Capture(self._interval, amps, "A", f"dmm {self.model} digitising")
