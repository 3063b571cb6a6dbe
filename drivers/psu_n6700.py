"""Keysight N6700 mainframes (N6705C DC power analyzer): E36300-style channels plus capture.

Commands follow the Keysight N6700 Programming Guide (N6705-90901): the channel commands as on
the E36300, and for current against time "SENSe:SWEep:POINts/TINTerval", "MEASure:ARRay:
CURRent?", "INITiate:ACQuire", "FETCh:ARRay:CURRent?" and "FORMat[:DATA] REAL / :BORDer NORM".
An N6781A source-measure module in the board's slot samples at up to 200 kS/s (5.12 µs), so
a channel is a `current_profiler`. Ratings assume the N6781A in slot 1 and N6762A modules
beside it; pin another layout by subclassing with its own `models` entry.

`protect(n, io_timeout_s=T)` also arms the I/O watchdog ("Watchdog Timer Protection" in the
N6700 Operating and Service Guide: `OUTP:PROT:WDOG:DEL T`, `OUTP:PROT:WDOG ON`, read back):
with no message from any session for T s the instrument holds every output off itself, its
programmed state still on, and sets the PROT bit (2048) of `STAT:QUES:COND? (@n)`.
"""

from __future__ import annotations

from typing import ClassVar

from drivers.profiler import Capture
from drivers.psu import SupplyChannel
from drivers.psu_e36300 import KeysightChannel, KeysightSupply
from drivers.scpi import control

QUES_PROT = 2048  # questionable condition bit 11: held off by a protection (the watchdog's)


class N6700Channel(KeysightChannel):
    """A channel whose module digitises its current: a `CurrentProfiler`."""

    capture_points = control("SENS:SWE:POIN? (@{ch})", "SENS:SWE:POIN {value:d},(@{ch})",
                             values=(1, 512 * 1024), kind=int)
    capture_interval = control("SENS:SWE:TINT? (@{ch})", "SENS:SWE:TINT {value:.6g},(@{ch})",
                               "s", values=(5.12e-6, 40_000))
    role = "psu"

    @property
    def model(self) -> str:
        return self.instrument.model

    def capture(self, points: int, interval: float) -> Capture:
        """Acquire now and return when the window (points x interval) is over."""
        self._arm(points, interval)
        with self.instrument.extra_time(points * interval):
            amps = self.instrument.query_block(f"MEAS:ARR:CURR? (@{self.number})")
        return self._capture(interval, amps)

    def start_capture(self, points: int, interval: float) -> None:
        self._arm(points, interval)
        self.write(f"INIT:ACQ (@{self.number})")

    def fetch_capture(self) -> Capture:
        interval = self.capture_interval
        with self.instrument.extra_time(self.capture_points * interval):
            amps = self.instrument.query_block(f"FETC:ARR:CURR? (@{self.number})")
        return self._capture(interval, amps)

    def _capture(self, interval: float, amps: tuple[float, ...]) -> Capture:
        return Capture(interval, amps, "A", f"psu {self.model} ch{self.number}")

    def _arm(self, points: int, interval: float) -> None:
        self.instrument.binary_arrays()
        self.capture_points = points
        self.capture_interval = interval


class N6700(KeysightSupply):
    family = "N6700"
    models: ClassVar[dict[str, dict[int, tuple[float, float]]]] = {
        model: {1: (20.4, 3.06), 2: (51.0, 3.06), 3: (51.0, 3.06), 4: (51.0, 3.06)}
        for model in ("N6705C", "N6705B", "N6700C", "N6701C", "N6702C")}
    capabilities = KeysightSupply.capabilities | {"current_profiler"}
    allowed = (*KeysightSupply.allowed, "SENSe:SWEep:POINts", "SENSe:SWEep:TINTerval",
               "SENSe:SWEep:OFFSet:POINts", "SENSe:FUNCtion", "SENSe:CURRent[:DC]:RANGe[:UPPer]",
               "SENSe:VOLTage[:DC]:RANGe[:UPPer]", "INITiate[:IMMediate]:ACQuire",
               "TRIGger:ACQuire[:IMMediate]", "TRIGger:ACQuire:SOURce", "ABORt:ACQuire",
               "FORMat[:DATA]", "FORMat:BORDer",
               "OUTPut:PROTection:WDOG[:STATe]", "OUTPut:PROTection:WDOG:DELay")
    readback_resolution_a = 10e-9  # N6781A, 10 mA range
    channel_class = N6700Channel
    io_watchdog = control("OUTP:PROT:WDOG?", "OUTP:PROT:WDOG {value:d}", kind=bool)
    io_watchdog_s = control("OUTP:PROT:WDOG:DEL?", "OUTP:PROT:WDOG:DEL {value:d}", "s",
                            values=(1, 3600), kind=int)

    def _protect(self, out: SupplyChannel) -> dict[str, object]:
        # a hold that a killed run's watchdog left (outputs programmed off, as `psu` and *RST
        # leave them before this) would keep this run's outputs off
        self.write(f"OUTP:PROT:CLE (@{','.join(map(str, self.channels))})")
        readback = super()._protect(out)
        if self.io_timeout_s:
            self.io_watchdog_s = self.io_timeout_s
            self.io_watchdog = True
            readback |= {"io_watchdog_s": self.io_watchdog_s, "io_watchdog": self.io_watchdog}
            self.check_readback("OUTP:PROT:WDOG:DEL", self.io_timeout_s,
                                readback["io_watchdog_s"])
            self.check_readback("OUTP:PROT:WDOG", True, readback["io_watchdog"])
        return readback

    def release(self) -> None:
        if self.io_timeout_s:  # written only, as `all_off`: a signal may have cut a reply short
            self.send("OUTP:PROT:WDOG OFF")

    def delivering(self, number: int) -> bool:
        """`OUTP?` is the programmed state: a watchdog hold shows only in the PROT bit."""
        held = int(float(self.query(f"STAT:QUES:COND? (@{number})"))) & QUES_PROT
        return super().delivering(number) and not held

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._binary = False

    def binary_arrays(self) -> None:
        """Arrays as float32 blocks (about 4x less traffic than ASCII); once per session."""
        if not self._binary:
            self.write("FORM REAL", idempotent=True)
            self.write("FORM:BORD NORM", idempotent=True)
            self._binary = True

    def reset(self) -> None:
        super().reset()
        self._binary = False
