"""Current profiling: a capture of current against time, and what serves one.

    >>> capture = Capture(20e-6, (1e-6, 9e-3, 9e-3, 1e-6, 2e-6), source="N6705C ch1")
    >>> round(capture.charge_c * 1e9, 1), capture.fraction_above(1e-3)
    (360.1, 0.4)
    >>> data, media_type = capture.archive()
    >>> len(data), media_type.split(";")[0]
    (40, 'application/vnd.citebench.samples')

A `CurrentProfiler` takes current against time at 50 kS/s or faster: an N6700 source-measure
channel (`drivers/psu_n6700.py`) or a 34465A digitising (`drivers/dmm.py`); the
`current_profiler` fixture picks whichever the station has. Plans only see `Capture`.
`Capture.archive()` gives the raw samples (little-endian float64, in `units`) and a media type
whose parameters carry the interval, units, count and source, so the record keeps the data a
plot was drawn from, not only the plot.
"""

from __future__ import annotations

import statistics
import struct
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

SAMPLES_MEDIA_TYPE = "application/vnd.citebench.samples"
MIN_RATE_HZ = 50_000  # what "current profiler" means here: a burst of 100 µs is 5 samples


@dataclass(frozen=True)
class Burst:
    """One pulse of a capture: when it began, how long it lasted, its charge above the floor."""

    start_s: float
    duration_s: float
    charge_c: float


@dataclass(frozen=True)
class Capture:
    """A current waveform: `amps[i]` was sampled `i * interval_s` after the capture began."""

    interval_s: float
    amps: tuple[float, ...]
    units: str = "A"
    source: str = ""  # model and channel that took it, as the record names it

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

    def archive(self) -> tuple[bytes, str]:
        """The raw samples as bytes and their media type (interval, units, count, source)."""
        data = struct.pack(f"<{len(self.amps)}d", *self.amps)
        source = self.source.replace('"', "'")
        return data, (f'{SAMPLES_MEDIA_TYPE}; dtype=float64-le; interval_s={self.interval_s!r}; '
                      f'units={self.units}; count={len(self.amps)}; source="{source}"')


def read_archived(data: bytes, media_type: str) -> Capture:
    """A capture back from its archived bytes and media type (what a lab's own script does)."""
    params = dict(part.strip().split("=", 1) for part in media_type.split(";")[1:])
    count = int(params["count"])
    if len(data) != 8 * count:
        raise ValueError(f"samples attachment holds {len(data)} bytes, its media type says "
                         f"{count} float64 samples ({8 * count} bytes)")
    return Capture(float(params["interval_s"]), struct.unpack(f"<{count}d", data),
                   params["units"], params["source"].strip('"'))


@runtime_checkable
class CurrentProfiler(Protocol):
    """Current against time at `MIN_RATE_HZ` or faster, from one instrument channel."""

    model: str  # the instrument model serving the capability
    role: str  # the station role it belongs to (psu, dmm)

    def capture(self, points: int, interval: float) -> Capture:
        """Acquire now; return when the window (points x interval) is over."""

    def start_capture(self, points: int, interval: float) -> None:
        """Start acquiring and return at once (to capture what the next commands cause)."""

    def fetch_capture(self) -> Capture:
        """The capture `start_capture` began; waits until its window is over."""
