"""Identification: the board says who it is, and it is the board and firmware expected here."""

import re

from drivers.ws100 import Ws100Driver


def test_serial_number_format(dut: Ws100Driver, spec, measure) -> None:
    """The provisioned serial number follows the product's format (CB-XXX-NNNNNN)."""
    serial = dut.get_info().serial
    measure(spec.limit("serial_number"), serial)
    matches = re.fullmatch(spec["product.serial_format"], serial)
    measure(spec.limit("serial_number_format"), int(bool(matches)))


def test_firmware_version(dut: Ws100Driver, spec, measure) -> None:
    """The firmware is the release this station is qualified for."""
    measure(spec.limit("firmware_version"), dut.get_info().firmware,
            nominal=spec["product.expect_firmware"])


def test_part_number(dut: Ws100Driver, spec, measure) -> None:
    """The part number matches the product under test."""
    measure(spec.limit("part_number"), dut.get_info().part_number,
            nominal=spec["product.part_number"])


def test_boot_banner_agrees_with_get_info(dut: Ws100Driver, spec, measure) -> None:
    """After a reset the console banner names the same firmware and part as GET_INFO."""
    banner = dut.reset()
    info = dut.get_info()
    measure(spec.limit("banner_firmware"), banner["firmware"], nominal=info.firmware)
    measure(spec.limit("banner_part_number"), banner["part"], nominal=info.part_number)
