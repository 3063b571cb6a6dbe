"""Sensors: each reading is physically plausible, and readings vary the way real sensors do."""

import statistics

from drivers.ws100 import Ws100Driver

SAMPLES = 20
# (field, units, low, high) for a board on a lab bench at room conditions
PLAUSIBLE = [
    ("temperature_c", "degC", 5.0, 45.0),
    ("humidity_pct", "%RH", 0.0, 100.0),
    ("pressure_pa", "Pa", 80_000.0, 110_000.0),
    ("battery_v", "V", 2.5, 4.4),
]


def test_readings_within_physical_limits(dut: Ws100Driver, measure) -> None:
    """One READ_SENSORS: every value inside what a room and a Li-ion cell allow."""
    reading = dut.read_sensors()
    for field, units, low, high in PLAUSIBLE:
        measure(field, getattr(reading, field), units=units, low=low, high=high)


def test_readings_vary_like_real_sensors(dut: Ws100Driver, measure) -> None:
    """Twenty readings: noise present (a stuck sensor repeats itself), but no wild jumps."""
    readings = [dut.read_sensors() for _ in range(SAMPLES)]
    for field, units, *_ in PLAUSIBLE[:3]:
        values = [getattr(r, field) for r in readings]
        measure(f"{field} distinct values", len(set(values)), low=3)
        measure(f"{field} std dev", statistics.stdev(values), units=units,
                high={"temperature_c": 1.0, "humidity_pct": 3.0, "pressure_pa": 200.0}[field])
