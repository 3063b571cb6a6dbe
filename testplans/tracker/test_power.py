"""Power from USB: running current, motion bursts, shipping-mode current under 2 uA, and the
wake-up by re-plugging.

The supply stands in for the USB port (VBUS); each figure comes from a capture of the station's
current profiler (an N6700 channel, or a 34465A digitising in the supply lead), drawn beside the
raw samples it was drawn from. A station without a profiler skips these plans with the reason.
"""

import time

import pytest

from drivers.profiler import CurrentProfiler
from drivers.psu import SupplyChannel
from drivers.tracker import TrackerDriver
from fixtures.instruments import attach_capture

pytestmark = pytest.mark.requires("psu", "current_profiler")

SHIP_POINTS, SHIP_INTERVAL_S = 5_000, 200e-6  # one second asleep
SETTLE_S = 0.05  # the regulators discharge after shipping mode is entered
BURST_ABOVE_A = 6e-3  # a motion burst adds 12 mA: half of it separates burst from run current


def test_run_current(current_profiler: CurrentProfiler, dut: TrackerDriver, spec,
                     measure) -> None:
    """Awake and tracking: the median current over 300 ms."""
    capture = current_profiler.capture(3_000, 100e-6)
    measure(spec.limit("run_current"), capture.median)
    attach_capture(measure, "Run current", capture)


def test_motion_bursts_drawn(current_profiler: CurrentProfiler, dut: TrackerDriver, spec,
                             measure) -> None:
    """Each motion event wakes the MCU and the radio: a burst above the running current."""
    current_profiler.start_capture(4_000, 100e-6)
    dut.accel_self_test(3)
    capture = current_profiler.fetch_capture()
    measure(spec.limit("motion_bursts"), len(capture.bursts(capture.median + BURST_ABOVE_A)),
            nominal=3)
    attach_capture(measure, "Motion bursts", capture)


def test_shipping_mode_current(psu: SupplyChannel, current_profiler: CurrentProfiler,
                               dut: TrackerDriver, spec, measure) -> None:
    """Shipping mode: under 2 uA on average; re-plugging USB wakes the board with its banner."""
    dut.ship_mode()
    time.sleep(SETTLE_S)  # the datasheet's settling time before the figure is valid
    capture = current_profiler.capture(SHIP_POINTS, SHIP_INTERVAL_S)
    measure(spec.limit("shipping_current"), capture.mean)
    attach_capture(measure, "Shipping-mode current", capture, log=True)
    dut.link.clear_console()
    psu.output = False
    psu.output = True
    banner = dut.wait_banner(timeout=3.0)
    measure(spec.limit("wakes_on_replug"), banner["firmware"], nominal=dut.identify().firmware)
