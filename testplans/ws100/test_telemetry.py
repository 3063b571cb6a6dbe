"""Telemetry: unsolicited frames arrive at the requested rate, without sequence gaps."""

import itertools

import pytest

from drivers.ws100 import Ws100Driver

RATE_HZ = 20
WINDOW_S = 2.0
RATE_TOLERANCE = 0.10


@pytest.fixture(scope="module")
def stream(dut: Ws100Driver):
    return dut.collect_telemetry(WINDOW_S, RATE_HZ)


def test_telemetry_rate(stream, measure) -> None:
    """Frame rate over a 2 s window at 20 Hz, from the first to the last arrival."""
    measure("telemetry frames", len(stream), low=2)
    if len(stream) < 2:
        return  # no rate without two frames: the board fails on its frame count, not an error
    span = stream[-1].received_at - stream[0].received_at
    rate = (len(stream) - 1) / span
    measure("telemetry rate", rate, units="Hz", low=RATE_HZ * (1 - RATE_TOLERANCE),
            high=RATE_HZ * (1 + RATE_TOLERANCE), nominal=RATE_HZ)


def test_telemetry_has_no_gaps(stream, measure) -> None:
    """The board's frame counter increases by exactly one from frame to frame."""
    counters = [frame.counter for frame in stream]
    gaps = sum(b - a - 1 for a, b in itertools.pairwise(counters) if b != a + 1)
    # a frame the line damaged was sent by the board: the bench lost it, not the board
    measure("telemetry frames damaged on the line", stream.line_damaged)
    measure("telemetry frames lost", max(0, gaps - stream.line_damaged), high=0)


def test_telemetry_values_plausible(stream, measure) -> None:
    """Streamed temperatures stay in the room range the sensor plan uses."""
    temps = [frame.reading.temperature_c for frame in stream]
    if not temps:
        return  # no frame at all is test_telemetry_rate's failure
    measure("telemetry temperature min", min(temps), units="degC", low=5.0)
    measure("telemetry temperature max", max(temps), units="degC", high=45.0)
