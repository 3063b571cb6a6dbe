"""Factory reset: settings back to their defaults, the board reboots and is identified again."""

from drivers.tracker import TrackerDriver
from protocols.tracker_messages import DEFAULT_INTERVAL_MS

CHANGED_INTERVAL_MS = 1234


def test_factory_reset_restores_defaults(dut: TrackerDriver, measure) -> None:
    dut.set_interval(CHANGED_INTERVAL_MS)
    measure("interval before reset", dut.status().interval_ms, units="ms",
            nominal=CHANGED_INTERVAL_MS)
    boots = dut.status().boot_count
    banner = dut.factory_reset()
    status = dut.status()
    measure("interval after reset", status.interval_ms, units="ms", nominal=DEFAULT_INTERVAL_MS)
    measure("reboots during factory reset", status.boot_count - boots, nominal=1)
    measure("unique id kept", banner["unique_id"], nominal=dut.identify().unique_id)


def test_settings_survive_a_reboot(dut: TrackerDriver, measure) -> None:
    """The interval is kept in flash: a plain reboot does not lose it."""
    dut.set_interval(CHANGED_INTERVAL_MS)
    try:
        dut.reboot()
        measure("interval after reboot", dut.status().interval_ms, units="ms",
                nominal=CHANGED_INTERVAL_MS)
    finally:
        dut.set_interval(DEFAULT_INTERVAL_MS)
