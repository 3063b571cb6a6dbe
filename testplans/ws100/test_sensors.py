"""Sensors: each reading is physically plausible, and readings vary the way real sensors do."""

import statistics

from bench.kits import ProductSpec
from drivers.ws100 import Ws100Driver

SAMPLES = 20
# READ_SENSORS fields; each is a measurement of the spec under its own name (its limits are what
# a room and a Li-ion cell allow), and the first three sensors' spread is measured too
FIELDS = ("temperature_c", "humidity_pct", "pressure_pa", "battery_v")


def test_readings_within_physical_limits(dut: Ws100Driver, spec: ProductSpec, measure) -> None:
    """One READ_SENSORS: every value inside what a room and a Li-ion cell allow."""
    reading = dut.read_sensors()
    for field in FIELDS:
        measure(spec.limit(field), getattr(reading, field))


def test_readings_vary_like_real_sensors(dut: Ws100Driver, spec: ProductSpec, measure) -> None:
    """Twenty readings: noise present (a stuck sensor repeats itself), but no wild jumps."""
    readings = [dut.read_sensors() for _ in range(SAMPLES)]
    for field in FIELDS[:3]:
        values = [getattr(r, field) for r in readings]
        measure(spec.limit(f"{field}_distinct"), len(set(values)))
        measure(spec.limit(f"{field}_stdev"), statistics.stdev(values))
