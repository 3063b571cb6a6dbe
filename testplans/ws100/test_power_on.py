"""Power: power-on from cold, brown-out reset and recovery, operation across the supply range.

The supply powers the board (the `psu` fixture is its channel); the banner arrives on the serial
console, so the time from output-on to banner is measured where a user would see it.
"""

import statistics
import time

import pytest

from bench.kits import ProductSpec
from drivers.profiler import CurrentProfiler
from drivers.psu import SupplyChannel
from drivers.serial_link import ExpectTimeoutError
from drivers.ws100 import BANNER, Ws100Driver
from fixtures.instruments import attach_capture

OFF_A = 50e-6  # a board drawing less than this is off (idle draws 1.2 mA)
BOOT_POINTS, BOOT_INTERVAL_S = 12_000, 50e-6  # a 600 ms window
BOOT_PLATEAU_A = 12e-3  # the firmware draws about 15 mA until it has booted
BROWNOUT_STEPS_V = [round(3.0 - 0.05 * i, 3) for i in range(21)]  # 3.0 V down to 2.0 V
SWEEP_V = (3.0, 3.3, 3.6, 3.9, 4.2)
PINGS = 5  # the median: one answer a busy bench PC held up is not the board's


def _ping(dut: Ws100Driver) -> float:
    """The board's round-trip time: the median of a few PINGs."""
    return statistics.median(dut.ping() for _ in range(PINGS))


def _banner_after(dut: Ws100Driver, start: float, timeout: float = 2.0) -> float | None:
    """Seconds from `start` to the boot banner on the console, None if it never came."""
    try:
        dut.link.expect(BANNER, timeout)
        seen = time.monotonic() - start
        dut.link.expect(r"ready\r?\n", timeout)
    except ExpectTimeoutError:
        return None
    return seen


def _switch_off(psu: SupplyChannel) -> None:
    psu.output = False
    deadline = time.monotonic() + 2.0
    while psu.current > OFF_A:  # the supply's own reading is the event: poll it
        assert time.monotonic() < deadline, "board still draws current 2 s after output off"


@pytest.mark.requires("psu", "current_profiler")
def test_power_on(psu: SupplyChannel, current_profiler: CurrentProfiler, dut: Ws100Driver,
                  spec: ProductSpec, measure) -> None:
    """Output on from cold: inrush peak within budget, booted (trace and banner) within 200 ms."""
    _switch_off(psu)
    dut.link.clear_console()
    current_profiler.start_capture(BOOT_POINTS, BOOT_INTERVAL_S)
    psu.output = True
    banner_s = _banner_after(dut, psu.setting_sent_at)  # not before a shared supply's lock
    capture = current_profiler.fetch_capture()
    amps = capture.amps
    on = next((i for i, a in enumerate(amps) if a > BOOT_PLATEAU_A), None)
    booted = on is not None and next(
        (i for i in range(on, len(amps)) if amps[i] < BOOT_PLATEAU_A), None)
    measure(spec.limit("boot_current_peak"), capture.peak)
    measure(spec.limit("boot_time_trace"), (booted - on) * capture.interval_s if booted else None)
    measure(spec.limit("banner_after_power_on"), banner_s)
    on_s = (on or 0) * capture.interval_s
    marks = [(on_s, "output on")] + ([(on_s + banner_s, "banner")] if banner_s else [])
    attach_capture(measure, "power-on current", capture, title="Power-on current", marks=marks)


def test_brownout_reset_and_recovery(psu: SupplyChannel, dut: Ws100Driver, spec: ProductSpec,
                                     measure) -> None:
    """Supply lowered in 50 mV steps: reset between 2.6 and 2.8 V, then a clean boot at nominal."""
    nominal = psu.voltage
    threshold = None
    try:
        for volts in BROWNOUT_STEPS_V:
            psu.voltage = volts
            if psu.current < OFF_A:
                threshold = volts + 0.025  # between the last step on and the first step off
                break
        measure(spec.limit("brownout_threshold"), threshold)
        dut.link.clear_console()
        psu.voltage = nominal
        measure(spec.limit("boot_after_brownout"), _banner_after(dut, psu.setting_sent_at))
    finally:
        psu.voltage = nominal
    measure(spec.limit("ping_after_recovery"), _ping(dut))


@pytest.mark.requires("psu", "current_profiler")
def test_operation_across_supply_range(psu: SupplyChannel, current_profiler: CurrentProfiler,
                                       dut: Ws100Driver, spec: ProductSpec, measure) -> None:
    """From a flat cell (3.0 V) to a full one (4.2 V): the board answers and idles normally."""
    nominal = psu.voltage
    allowed = [v for v in SWEEP_V if v <= psu.limits["max_voltage"]]
    try:
        for volts in allowed:
            psu.voltage = volts
            measure(spec.limit("ping_across_supply").at(f"{volts:g} V"), _ping(dut))
            capture = current_profiler.capture(1000, 50e-6)
            attach_capture(measure, f"idle current at {volts:g} V", capture, plot=False)
            idle = capture.median  # median: a radio burst does not count
            measure(spec.limit("idle_current").at(f"{volts:g} V"), idle)
    finally:
        psu.voltage = nominal
