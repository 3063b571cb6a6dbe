"""Link: the serial link answers promptly and echoes exactly what it is sent."""

import statistics

import pytest

from bench.kits import ProductSpec
from bench.timing import undisturbed
from drivers.ws100 import Ws100Driver

PINGS = 50


def test_ping_round_trip_time(dut: Ws100Driver, spec: ProductSpec, measure) -> None:
    """PING round-trip time over the serial link, median and worst of 50."""
    with undisturbed():  # a garbage-collector pause is the host's, not the board's
        rtts = [dut.ping() for _ in range(PINGS)]
    measure(spec.limit("ping_rtt_median"), statistics.median(rtts))
    measure(spec.limit("ping_rtt_max"), max(rtts))


@pytest.mark.parametrize("size", [0, 1, 64, 255])
def test_ping_echo(dut: Ws100Driver, spec: ProductSpec, measure, size: int) -> None:
    """PING echoes payloads from empty to 255 bytes byte for byte."""
    data = bytes((i * 37 + size) & 0xFF for i in range(size))
    measure(spec.limit("echo_round_trip"), dut.ping(data))
