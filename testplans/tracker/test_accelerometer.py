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
    measure("acceleration magnitude at rest", magnitude, **spec.limit("gravity"))


def test_z_axis_points_up(readings, measure) -> None:
    """The board lies component side up: gravity is on +z, not on x or y."""
    measure("z acceleration at rest", statistics.fmean(r.z_mg for r in readings), units="mg",
            low=800)
    for axis in ("x", "y"):
        measure(f"{axis} acceleration at rest",
                statistics.fmean(getattr(r, f"{axis}_mg") for r in readings), units="mg",
                low=-150, high=150)


def test_axes_are_live(readings, spec, measure) -> None:
    """Each axis shows sensor noise: a constant value means a stuck sensor or a stale register."""
    for axis in ("x", "y", "z"):
        measure(f"{axis} noise (standard deviation)",
                statistics.stdev(getattr(r, f"{axis}_mg") for r in readings),
                **spec.limit("axis_noise"))
