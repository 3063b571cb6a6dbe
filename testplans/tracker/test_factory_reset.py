"""Factory reset: settings back to their defaults, the board reboots and is identified again."""

from drivers.tracker import TrackerDriver
from protocols.tracker_messages import DEFAULT_INTERVAL_MS

CHANGED_INTERVAL_MS = 1234


def test_factory_reset_restores_defaults(dut: TrackerDriver, spec, measure) -> None:
    dut.set_interval(CHANGED_INTERVAL_MS)
    measure(spec.limit("interval_before_reset"), dut.status().interval_ms,
            nominal=CHANGED_INTERVAL_MS)
    boots = dut.status().boot_count
    banner = dut.factory_reset()
    status = dut.status()
    measure(spec.limit("interval_after_reset"), status.interval_ms, nominal=DEFAULT_INTERVAL_MS)
    measure(spec.limit("reboots_during_reset"), status.boot_count - boots)
    measure(spec.limit("unique_id_kept"), banner["unique_id"], nominal=dut.identify().unique_id)


def test_settings_survive_a_reboot(dut: TrackerDriver, spec, measure) -> None:
    """The interval is kept in flash: a plain reboot does not lose it."""
    dut.set_interval(CHANGED_INTERVAL_MS)
    try:
        dut.reboot()
        measure(spec.limit("interval_after_reboot"), dut.status().interval_ms,
                nominal=CHANGED_INTERVAL_MS)
    finally:
        dut.set_interval(DEFAULT_INTERVAL_MS)
