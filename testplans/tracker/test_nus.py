"""The same commands over BLE: the Nordic UART Service carries the tracker's serial protocol.

Replies longer than one ATT payload (20 bytes at the tracker's MTU of 23) arrive in several
notifications; they must decode exactly as over the UART.
"""

import pytest

from drivers.tracker import TrackerDriver

pytestmark = pytest.mark.requires("radio")


def test_advertises_the_nus_service(radio, dut: TrackerDriver, spec, measure) -> None:
    """Before any connection: the product's name and the NUS service UUID in its adverts."""
    advert = radio.scan(name=spec["radio.name"])
    measure(spec.limit("nus_advertised"), int(spec["radio.nus_service"] in advert.service_uuids))


def test_identify_over_nus(nus: TrackerDriver, dut: TrackerDriver, spec, measure) -> None:
    """IDENTIFY (a reply of two ATT fragments) agrees with the UART's."""
    over_ble, over_uart = nus.identify(), dut.identify()
    measure(spec.limit("unique_id_over_nus"), over_ble.unique_id, nominal=over_uart.unique_id)
    measure(spec.limit("firmware_over_nus"), over_ble.firmware, nominal=over_uart.firmware)


def test_accelerometer_over_nus(nus: TrackerDriver, spec, measure) -> None:
    measure(spec.limit("gravity_over_nus"), nus.read_accel().magnitude_mg)


def test_gnss_over_nus(nus: TrackerDriver, spec, measure) -> None:
    """A GNSS reply spans two fragments too."""
    fix = nus.read_gnss()
    measure(spec.limit("satellites_over_nus"), fix.satellites)
    measure(spec.limit("fix_age_over_nus"), fix.age_s)


def test_interval_over_nus(nus: TrackerDriver, dut: TrackerDriver, spec, measure) -> None:
    """A setting written over BLE is the one the UART reads back: one board, two paths."""
    try:
        measure(spec.limit("confirmed_interval_over_nus"), nus.set_interval(2500), nominal=2500)
        measure(spec.limit("interval_over_uart"), dut.status().interval_ms, nominal=2500)
    finally:
        dut.set_interval(60_000)


def test_motion_events_over_nus(nus: TrackerDriver, spec, measure) -> None:
    """Motion events are notified to the connected central as MOTION frames."""
    events = nus.accel_self_test(3)
    measure(spec.limit("motion_events_over_nus"), len(events), nominal=3)


def test_no_malformed_frames_over_nus(nus: TrackerDriver, spec, measure) -> None:
    """Every notification of this connection decoded: no frame broken across fragments."""
    measure(spec.limit("malformed_frames_over_nus"), len(nus.link.errors))
