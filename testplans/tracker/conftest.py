"""The tracker's own fixture: `nus`, its driver over BLE (the Nordic UART Service).

    def test_identify_over_ble(nus, dut):
        assert nus.identify() == dut.identify()
"""

from collections.abc import Iterator

import pytest

from drivers.tracker import TrackerDriver
from drivers.tracker_nus import NusLink


@pytest.fixture(scope="module")
def nus(request: pytest.FixtureRequest, dut: TrackerDriver) -> Iterator[TrackerDriver]:
    """The tracker's driver on a BLE connection (found by the station's `[radio]` name), once
    `dut` has powered the board and brought it to a known state."""
    radio = request.getfixturevalue("radio")
    if not radio.address:
        radio.address = radio.find().address
    with radio.connect(radio.address) as ble:
        yield TrackerDriver(NusLink(ble).open())
