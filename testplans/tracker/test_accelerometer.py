"""Accelerometer: lying still on the desk, the sensor reads 1 g straight up, with live noise."""

import statistics

import pytest

from drivers.tracker import Acceleration, TrackerDriver

SAMPLES = 20


@pytest.fixture(scope="module")
def readings(dut: TrackerDriver) -> list[Acceleration]:
    return [dut.read_accel() for _ in range(SAMPLES)]


def test_gravity_magnitude(readings, spec, measure) -> None:
    """|a| averaged over the samples is 1 g within the product's tolerance."""
    magnitude = statistics.fmean(r.magnitude_mg for r in readings)
    measure(spec.limit("gravity"), magnitude)


def test_z_axis_points_up(readings, spec, measure) -> None:
    """The board lies component side up: gravity is on +z, not on x or y."""
    for axis in ("z", "x", "y"):
        measure(spec.limit(f"{axis}_at_rest"),
                statistics.fmean(getattr(r, f"{axis}_mg") for r in readings))


def test_axes_are_live(readings, spec, measure) -> None:
    """Each axis shows sensor noise: a constant value means a stuck sensor or a stale register."""
    for axis in ("x", "y", "z"):
        measure(spec.limit(f"{axis}_noise"),
                statistics.stdev(getattr(r, f"{axis}_mg") for r in readings))
