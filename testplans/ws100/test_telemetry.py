"""Telemetry: unsolicited frames arrive at the requested rate, without sequence gaps."""

import itertools

import pytest

from bench.kits import ProductSpec
from bench.timing import undisturbed
from drivers.ws100 import Ws100Driver

WINDOW_S = 2.0


@pytest.fixture(scope="module")
def stream(dut: Ws100Driver, spec: ProductSpec):
    """Telemetry asked at the rate the spec's `telemetry_rate` names as its nominal."""
    with undisturbed():  # arrival times are the host's: no garbage-collector pause in them
        return dut.collect_telemetry(WINDOW_S, spec.limit("telemetry_rate").nominal)


def test_telemetry_rate(stream, spec: ProductSpec, measure) -> None:
    """Frame rate over a 2 s window at 20 Hz, from the first to the last arrival."""
    measure(spec.limit("telemetry_frames"), len(stream))
    if len(stream) < 2:
        return  # no rate without two frames: the board fails on its frame count, not an error
    span = stream[-1].received_at - stream[0].received_at
    measure(spec.limit("telemetry_rate"), (len(stream) - 1) / span)


def test_telemetry_has_no_gaps(stream, spec: ProductSpec, measure) -> None:
    """The board's frame counter increases by exactly one from frame to frame."""
    counters = [frame.counter for frame in stream]
    gaps = sum(b - a - 1 for a, b in itertools.pairwise(counters) if b != a + 1)
    # a frame the line damaged was sent by the board: the bench lost it, not the board
    measure(spec.limit("telemetry_damaged"), stream.line_damaged)
    measure(spec.limit("telemetry_lost"), max(0, gaps - stream.line_damaged))


def test_telemetry_values_plausible(stream, spec: ProductSpec, measure) -> None:
    """Streamed temperatures stay in the room range the sensor plan uses."""
    temps = [frame.reading.temperature_c for frame in stream]
    if not temps:
        return  # no frame at all is test_telemetry_rate's failure
    measure(spec.limit("telemetry_temperature_min"), min(temps))
    measure(spec.limit("telemetry_temperature_max"), max(temps))
