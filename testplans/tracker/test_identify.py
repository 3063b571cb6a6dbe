"""Identify: the tracker says who it is (64-bit unique id, semantic-version firmware), and its
boot banner agrees with IDENTIFY."""

import re

from drivers.tracker import SEMVER, TrackerDriver


def test_unique_id_format(dut: TrackerDriver, spec, measure) -> None:
    """The unique id is 64 bits in lower-case hex, as the archive folder names it."""
    unique_id = dut.identify().unique_id
    measure(spec.limit("unique_id"), unique_id)
    matches = re.fullmatch(spec["product.unique_id_format"], unique_id)
    measure(spec.limit("unique_id_format"), int(bool(matches)))


def test_firmware_version(dut: TrackerDriver, spec, measure) -> None:
    """The firmware is a semantic version, and the release this product is qualified for."""
    firmware = dut.identify().firmware
    measure(spec.limit("firmware_semver"), int(bool(SEMVER.fullmatch(firmware))))
    measure(spec.limit("firmware_version"), firmware, nominal=spec["product.expect_firmware"])


def test_hardware_revision(dut: TrackerDriver, spec, measure) -> None:
    measure(spec.limit("hardware_revision"), str(dut.identify().hw_revision),
            nominal=spec["product.hw_revision"])


def test_banner_agrees_with_identify(dut: TrackerDriver, spec, measure) -> None:
    """After a reboot the console banner names the same firmware, id and revision."""
    banner = dut.reboot()
    info = dut.identify()
    measure(spec.limit("banner_firmware"), banner["firmware"], nominal=info.firmware)
    measure(spec.limit("banner_unique_id"), banner["unique_id"], nominal=info.unique_id)
    measure(spec.limit("banner_hardware_revision"), banner["hw_revision"],
            nominal=str(info.hw_revision))
