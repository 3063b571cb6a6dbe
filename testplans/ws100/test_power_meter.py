"""Power: the instruments themselves, and the board's battery reading checked against the meter."""

import datetime as dt
import statistics

import pytest

from bench.kits import ProductSpec
from drivers.dmm import Multimeter
from drivers.psu import SupplyChannel
from drivers.ws100 import Ws100Driver
from fixtures.station import Station

CHECK_V = (3.3, 4.1)
READINGS = 5


def test_instruments_identified(psu: SupplyChannel, dmm: Multimeter, station: Station,
                                spec: ProductSpec, measure) -> None:
    """Who measured: each instrument's identity, and days left before its calibration is due
    (logged here; the run record flags an expired one, as the station profile's policy says)."""
    for role, instrument in (("psu", psu.instrument), ("dmm", dmm)):
        measure(spec.limit(f"{role}_identity"), str(instrument.identity))
        due = getattr(station.profile, role).calibration_due
        if due is not None:
            measure(spec.limit(f"{role}_calibration_days_left"), (due - dt.date.today()).days)


def test_battery_voltage_accuracy(psu: SupplyChannel, dmm: Multimeter, dut: Ws100Driver,
                                  station: Station, spec: ProductSpec, measure) -> None:
    """READ_SENSORS battery voltage against the meter on vbat, at two supply voltages: ±50 mV."""
    if station.profile.dmm.test_point != "vbat":
        pytest.skip(f"the meter probes {station.profile.dmm.test_point}, not vbat")
    nominal = psu.voltage
    try:
        for volts in (v for v in CHECK_V if v <= psu.limits["max_voltage"]):
            psu.voltage = volts
            dmm.configure_voltage(10)
            dmm.sample_count = READINGS
            dmm.trigger_source = "BUS"
            dmm.initiate()
            dmm.trigger()
            meter = statistics.fmean(dmm.fetch())
            board = statistics.fmean(dut.read_sensors().battery_v for _ in range(READINGS))
            measure(spec.limit("meter_voltage").at(f"{volts:g} V"), meter)
            measure(spec.limit("battery_reading_error").at(f"{volts:g} V"), board - meter)
    finally:
        psu.voltage = nominal
