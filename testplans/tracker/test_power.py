"""Power from USB: running current, shipping-mode current under 2 uA, wake-up by re-plugging.

The supply stands in for the USB port (VBUS); each figure comes from its current capture.
"""

import time

import pytest

from drivers.psu import Capture, SupplyChannel
from drivers.tracker import TrackerDriver

pytestmark = pytest.mark.requires("psu")

SHIP_POINTS, SHIP_INTERVAL_S = 5_000, 200e-6  # one second asleep
SETTLE_S = 0.05  # the regulators discharge after shipping mode is entered


def _plot(measure, name: str, capture: Capture, log: bool = False) -> None:
    measure.plot(name, capture.times, capture.amps, unit="A", log=log)


def test_run_current(psu: SupplyChannel, dut: TrackerDriver, spec, measure) -> None:
    """Awake and tracking: the median current over 300 ms."""
    capture = psu.capture(3_000, 100e-6)
    measure("run current", capture.median, **spec.limit("run_current"))
    _plot(measure, "Run current", capture)


def test_motion_bursts_drawn(psu: SupplyChannel, dut: TrackerDriver, measure) -> None:
    """Each motion event wakes the MCU and the radio: a burst above the running current."""
    psu.start_capture(4_000, 100e-6)
    dut.accel_self_test(3)
    capture = psu.fetch_capture()
    bursts = capture.bursts(capture.median + 6e-3)
    measure("motion bursts seen", len(bursts), nominal=3)
    _plot(measure, "Motion bursts", capture)


def test_shipping_mode_current(psu: SupplyChannel, dut: TrackerDriver, spec, measure) -> None:
    """Shipping mode: under 2 uA on average; re-plugging USB wakes the board with its banner."""
    dut.ship_mode()
    time.sleep(SETTLE_S)  # the datasheet's settling time before the figure is valid
    capture = psu.capture(SHIP_POINTS, SHIP_INTERVAL_S)
    measure("shipping-mode current", capture.mean, **spec.limit("shipping_current"))
    _plot(measure, "Shipping-mode current", capture, log=True)
    dut.link.clear_console()
    psu.output = False
    psu.output = True
    banner = dut.wait_banner(timeout=3.0)
    measure("board wakes on USB re-plug", banner["firmware"], nominal=dut.identify().firmware)
