"""DC power supply driver: Keysight E36300 command set, with N6705-style current capture.

    >>> psu = PowerSupply.open("TCPIP0::10.0.0.7::5025::SOCKET",           # doctest: +SKIP
    ...                        limits={"max_voltage": 4.4, "max_current": 0.5})
    >>> out = psu.channel(1)                                               # doctest: +SKIP
    >>> out.voltage = 3.7; out.current_limit = 0.2; out.output = True      # doctest: +SKIP
    >>> capture = out.capture(points=10_000, interval=100e-6)              # doctest: +SKIP
    >>> capture.mean, capture.times[-1]                                    # doctest: +SKIP
    (2.4e-05, 0.9999)

Fits Keysight E36311A/E36312A/E36313A and, for the channel commands, Rigol DP800 with
`(@n)` lists; the capture (`SENS:SWE:POIN`, `SENS:SWE:TINT`, `MEAS:ARR:CURR?`,
`INIT:ACQ`/`FETC:ARR:CURR?`) is the N6705/N6781A form. Another model is a subclass with
its own `ratings` and, if its commands differ, its own channel class.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from drivers.scpi import Channel, Instrument, control, measurement


@dataclass(frozen=True)
class Capture:
    """A current waveform: `amps[i]` was sampled `i * interval_s` after the capture began."""

    interval_s: float
    amps: tuple[float, ...]

    @property
    def times(self) -> list[float]:
        return [i * self.interval_s for i in range(len(self.amps))]

    @property
    def duration_s(self) -> float:
        return len(self.amps) * self.interval_s

    @property
    def mean(self) -> float:
        return statistics.fmean(self.amps)

    @property
    def peak(self) -> float:
        return max(self.amps)

    @property
    def median(self) -> float:
        return statistics.median(self.amps)

    @property
    def charge_c(self) -> float:
        return sum(self.amps) * self.interval_s

    def fraction_above(self, threshold: float) -> float:
        """Share of the window spent above `threshold` (the radio's duty cycle, say)."""
        return sum(a > threshold for a in self.amps) / len(self.amps)

    def bursts(self, threshold: float) -> list[Burst]:
        """Runs above `threshold`, whole ones only, with their charge above the median floor."""
        floor = self.median
        found, start = [], None
        for i, amps in enumerate(self.amps):
            if amps > threshold and start is None:
                start = i
            elif amps <= threshold and start is not None:
                if start > 0:  # a burst already running when the window opened is cut
                    extra = sum(self.amps[start:i]) - floor * (i - start)
                    found.append(Burst(start * self.interval_s, (i - start) * self.interval_s,
                                       extra * self.interval_s))
                start = None
        return found


@dataclass(frozen=True)
class Burst:
    """One pulse of a capture: when it began, how long it lasted, its charge above the floor."""

    start_s: float
    duration_s: float
    charge_c: float


class SupplyChannel(Channel):
    """One output: setpoints checked against the channel's rating and the station's limits."""

    voltage = control("VOLT? (@{ch})", "VOLT {value:.6g},(@{ch})", "V",
                      values="voltage_range", limit="max_voltage")
    current_limit = control("CURR? (@{ch})", "CURR {value:.6g},(@{ch})", "A",
                            values="current_range", limit="max_current")
    ovp = control("VOLT:PROT? (@{ch})", "VOLT:PROT {value:.6g},(@{ch})", "V",
                  values="voltage_range", limit="max_voltage")
    ovp_tripped = measurement("VOLT:PROT:TRIP? (@{ch})", kind=bool)
    output = control("OUTP? (@{ch})", "OUTP {value:d},(@{ch})", kind=bool)
    measured_voltage = measurement("MEAS:VOLT? (@{ch})", "V")
    current = measurement("MEAS:CURR? (@{ch})", "A")
    capture_points = control("SENS:SWE:POIN? (@{ch})", "SENS:SWE:POIN {value:d},(@{ch})",
                             values=(1, 1_000_000), kind=int)
    capture_interval = control("SENS:SWE:TINT? (@{ch})", "SENS:SWE:TINT {value:.6g},(@{ch})",
                               "s", values=(10.24e-6, 40_000))

    @property
    def voltage_range(self) -> tuple[float, float]:
        return (0.0, self.instrument.ratings[self.number][0])

    @property
    def current_range(self) -> tuple[float, float]:
        return (0.0, self.instrument.ratings[self.number][1])

    def capture(self, points: int, interval: float) -> Capture:
        """Acquire now and return when the window (points x interval) is over."""
        self._arm(points, interval)
        with self.instrument.extra_time(points * interval):
            amps = self.instrument.query_values(f"MEAS:ARR:CURR? (@{self.number})")
        return Capture(interval, tuple(amps))

    def start_capture(self, points: int, interval: float) -> None:
        """Start acquiring and return at once (to capture what the next commands cause)."""
        self._arm(points, interval)
        self.write(f"INIT:ACQ (@{self.number})")

    def fetch_capture(self) -> Capture:
        """The capture `start_capture` began; waits until its window is over."""
        interval = self.capture_interval
        with self.instrument.extra_time(self.capture_points * interval):
            amps = self.instrument.query_values(f"FETC:ARR:CURR? (@{self.number})")
        return Capture(interval, tuple(amps))

    def _arm(self, points: int, interval: float) -> None:
        self.instrument.binary_arrays()
        self.capture_points = points
        self.capture_interval = interval


class PowerSupply(Instrument):
    """Keysight E36312A: channel 1 6 V / 5 A, channels 2-3 25 V / 1 A (3 % over-range)."""

    ratings: dict[int, tuple[float, float]] = {1: (6.18, 5.15), 2: (25.75, 1.03),  # noqa: RUF012
                                               3: (25.75, 1.03)}
    channel_class = SupplyChannel

    def __init__(self, resource: object, limits: dict[str, float] | None = None) -> None:
        super().__init__(resource, limits)
        self.channels = {n: self.channel_class(self, n) for n in self.ratings}
        self._binary = False

    def channel(self, number: int) -> SupplyChannel:
        try:
            return self.channels[number]
        except KeyError:
            raise ValueError(f"{self.resource_name}: no channel {number}; this "
                             f"{type(self).__name__} has {sorted(self.channels)}") from None

    def binary_arrays(self) -> None:
        """Arrays as float32 blocks (about 4x less traffic than ASCII); once per session."""
        if not self._binary:
            self.write("FORM REAL")
            self.write("FORM:BORD NORM")
            self._binary = True

    def reset(self) -> None:
        super().reset()
        self._binary = False

    def all_off(self) -> None:
        """Every output off, without waiting for any reply: safe from a signal handler."""
        channels = ",".join(str(n) for n in self.channels)
        self.send(f"OUTP OFF,(@{channels})")
