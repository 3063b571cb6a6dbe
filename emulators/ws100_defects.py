"""Defects an emulated WS-100 can carry, switched on by name from a station profile or the CLI.

Each defect lives on the board model, so it shows on every face a real fault would touch. The
kit (fixtures/ws100.py) publishes this catalogue with the face each defect shows on.
"""

from __future__ import annotations

DEFECTS: dict[str, str] = {
    # serial foundation
    "wrong-firmware": "GET_INFO reports firmware 1.3.9 instead of the released 1.4.2",
    "banner-firmware-mismatch": "the boot banner names firmware 1.4.1 while GET_INFO says 1.4.2",
    "bad-serial": "the provisioned serial number does not follow the CB-XXX-NNNNNN format",
    "stuck-sensor": "every sensor returns the same reading forever",
    "sensor-out-of-range": "the humidity sensor reads 180 %RH",
    "selftest-fail": "SELF_TEST reports the flash subsystem as failed",
    "crc-ignored": "frames with a bad CRC are executed instead of NACKed",
    "telemetry-gaps": "about one telemetry frame in ten is never sent",
    "slow-response": "every response is sent 120 ms late",
    "telemetry-rate-slow": "telemetry streams at 85 % of the requested rate",
    "telemetry-temperature-offset": "telemetry frames carry the temperature 30 degC high "
                                    "(READ_SENSORS is right)",
    # power (instruments)
    "sleep-current-high": "sleep mode draws 180 uA instead of 8 uA",
    "boot-slow": "the banner comes 450 ms after power-on instead of 60 ms",
    "brownout-threshold-wrong": "brown-out reset trips at 2.2 V instead of 2.7 V",
    "battery-reading-offset": "the reported battery voltage reads 150 mV high",
    "active-current-high": "active mode draws 22 mA instead of 12 mA",
    # firmware update (SMP / MCUboot, emulators/mcuboot.py and emulators/smp_server.py)
    "dfu-crash-on-boot": "a new image crashes before confirming: MCUboot reverts at once",
    "dfu-no-confirm": "the firmware denies confirming an image (IMAGE_CONFIRMATION_DENIED)",
    "dfu-match-false": "the last upload chunk reports match: false for a good image",
    "dfu-slow-flash": "flash writes take ten times a healthy part's time",
    "dfu-no-revert": "MCUboot never reverts: an unconfirmed image stays",
    # radio (BLE): the last section (tests/test_ble_defects.py takes them from here on)
    "ble-serial-mismatch": "the Device Information serial number differs from GET_INFO",
    "notify-rate-drift": "environmental notifications run 25 % slower than configured",
    "adv-missing-manufacturer-data": "advertising carries no manufacturer data",
    "battery-level-wrong": "the Battery Level characteristic reports 100 % whatever the voltage",
    "ble-notify-loss": "every tenth counted telemetry notification is never sent",
    "ble-link-survives-reset": "the radio is not reset with the MCU: links outlive a reset",
}


# The face a defect shows on first: serial, power, radio or identity.
FACES: dict[str, str] = {
    "wrong-firmware": "identity", "bad-serial": "identity", "ble-serial-mismatch": "identity",
    "stuck-sensor": "serial", "sensor-out-of-range": "serial", "selftest-fail": "serial",
    "crc-ignored": "serial", "telemetry-gaps": "serial", "slow-response": "serial",
    "sleep-current-high": "power", "boot-slow": "power", "brownout-threshold-wrong": "power",
    "battery-reading-offset": "power", "active-current-high": "power",
    "banner-firmware-mismatch": "identity", "telemetry-rate-slow": "serial",
    "telemetry-temperature-offset": "serial",
    "notify-rate-drift": "radio", "adv-missing-manufacturer-data": "radio",
    "ble-notify-loss": "radio", "ble-link-survives-reset": "radio",
    "battery-level-wrong": "radio",
    "dfu-crash-on-boot": "serial", "dfu-no-confirm": "serial", "dfu-match-false": "serial",
    "dfu-slow-flash": "serial", "dfu-no-revert": "serial",
}


class UnknownDefectError(ValueError):
    """A defect name that no emulator knows."""


def check_defects(names: tuple[str, ...] | list[str], where: str) -> frozenset[str]:
    """Validate defect names, naming where they came from (a profile key or a CLI flag)."""
    unknown = sorted(set(names) - set(DEFECTS))
    if unknown:
        raise UnknownDefectError(
            f"{where}: unknown defect(s) {', '.join(unknown)}; known: {', '.join(sorted(DEFECTS))}"
        )
    return frozenset(names)
