"""Power: consumption in each mode, the charge of a radio burst, and the battery life it gives.

Each figure comes from a current capture of the station's current profiler (an N6700 channel,
or a 34465A digitising in the supply lead), drawn into the report as an SVG plot beside the raw
samples it was drawn from. A station without a profiler skips these plans with the reason.
"""

import contextlib
from collections.abc import Iterator

import pytest

from bench.kits import ProductSpec
from drivers.profiler import Capture, CurrentProfiler
from drivers.ws100 import Ws100Driver
from fixtures.instruments import attach_capture
from protocols.ws100_messages import Mode

pytestmark = pytest.mark.requires("psu", "current_profiler")

BURST_ABOVE_A = 4e-3  # a burst adds 8 mA: half of it separates burst from floor
USABLE_CAPACITY = 0.8  # self-discharge and the cut-off voltage take the rest


@contextlib.contextmanager
def mode(dut: Ws100Driver, wanted: Mode) -> Iterator[None]:
    """The board in `wanted` mode for the block, back to IDLE after."""
    dut.set_mode(wanted)
    try:
        yield
    finally:
        dut.set_mode(Mode.IDLE)


def _plot(measure, name: str, capture: Capture, log: bool = False) -> None:
    attach_capture(measure, name, capture, log=log)


def test_sleep_current(current_profiler: CurrentProfiler, dut: Ws100Driver, spec: ProductSpec,
                       measure) -> None:
    """One second asleep: average (with its advertising burst) and floor within the budget."""
    with mode(dut, Mode.SLEEP):
        capture = current_profiler.capture(10_000, 100e-6)
    measure(spec.limit("sleep_current_average"), capture.mean)
    measure(spec.limit("sleep_current_floor"), capture.median)
    _plot(measure, "Sleep current", capture, log=True)


def test_active_current(current_profiler: CurrentProfiler, dut: Ws100Driver, spec: ProductSpec,
                        measure) -> None:
    """Active mode: the sensors and CPU running, between radio bursts."""
    with mode(dut, Mode.ACTIVE):
        capture = current_profiler.capture(6_000, 50e-6)
    measure(spec.limit("active_current"), capture.median)
    _plot(measure, "Active current", capture)


def test_charge_per_radio_burst(current_profiler: CurrentProfiler, dut: Ws100Driver,
                                spec: ProductSpec, measure) -> None:
    """Advertising every 100 ms in active mode: each burst's charge above the floor."""
    with mode(dut, Mode.ACTIVE):
        capture = current_profiler.capture(17_500, 20e-6)
    bursts = capture.bursts(capture.median + BURST_ABOVE_A)
    measure(spec.limit("radio_bursts_seen"), len(bursts))
    if bursts:
        charge = sum(b.charge_c for b in bursts) / len(bursts)
        measure(spec.limit("charge_per_radio_burst"), charge)
        measure(spec.limit("radio_burst_duration"),
                sum(b.duration_s for b in bursts) / len(bursts))
    _plot(measure, "Radio bursts (active mode)", capture)


def test_battery_life(current_profiler: CurrentProfiler, dut: Ws100Driver, spec: ProductSpec,
                      measure) -> None:
    """Two seconds of the product's duty cycle (asleep, advertising): life on the profile's cell."""
    with mode(dut, Mode.SLEEP):
        capture = current_profiler.capture(20_000, 100e-6)
    capacity_mah = spec["power.battery_capacity_mah"]
    hours = capacity_mah * USABLE_CAPACITY / 1000 / capture.mean
    measure(spec.limit("duty_cycled_current"), capture.mean)
    measure(spec.limit("radio_duty_cycle"), 100 * capture.fraction_above(1e-3))
    measure(spec.limit("battery_capacity"), capacity_mah)
    measure(spec.limit("battery_life"), hours / (24 * 365))
    _plot(measure, "Duty-cycled current", capture, log=True)
