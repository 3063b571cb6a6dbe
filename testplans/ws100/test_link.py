"""Link: the serial link answers promptly and echoes exactly what it is sent."""

import statistics

import pytest

from drivers.ws100 import Ws100Driver

PINGS = 50
RTT_LIMIT_S = 0.030


def test_ping_round_trip_time(dut: Ws100Driver, measure) -> None:
    """PING round-trip time over the serial link, median and worst of 50."""
    rtts = [dut.ping() for _ in range(PINGS)]
    measure("ping rtt median", statistics.median(rtts), units="s", high=RTT_LIMIT_S)
    measure("ping rtt max", max(rtts), units="s", high=2 * RTT_LIMIT_S)


@pytest.mark.parametrize("size", [0, 1, 64, 255])
def test_ping_echo(dut: Ws100Driver, measure, size: int) -> None:
    """PING echoes payloads from empty to 255 bytes byte for byte."""
    data = bytes((i * 37 + size) & 0xFF for i in range(size))
    measure("echo round trip", dut.ping(data), units="s", high=RTT_LIMIT_S * 4)
