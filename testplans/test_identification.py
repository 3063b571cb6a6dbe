"""Identification: the board says who it is, and it is the board and firmware expected here."""

import re

from drivers.board import BoardDriver

SERIAL_FORMAT = re.compile(r"CB-[A-Z0-9]{3}-\d{6}")


def test_serial_number_format(dut: BoardDriver, measure) -> None:
    """The provisioned serial number follows CB-XXX-NNNNNN (product code, sequence)."""
    serial = dut.get_info().serial
    measure("serial number", serial)
    measure("serial number matches CB-XXX-NNNNNN", int(bool(SERIAL_FORMAT.fullmatch(serial))),
            nominal=1)


def test_firmware_version(dut: BoardDriver, station, measure) -> None:
    """The firmware is the release this station is qualified for."""
    measure("firmware version", dut.get_info().firmware,
            nominal=station.profile.dut.expect_firmware)


def test_part_number(dut: BoardDriver, station, measure) -> None:
    """The part number matches the product under test."""
    measure("part number", dut.get_info().part_number, nominal=station.profile.dut.part_number)


def test_boot_banner_agrees_with_get_info(dut: BoardDriver, measure) -> None:
    """After a reset the console banner names the same firmware and part as GET_INFO."""
    banner = dut.reset()
    info = dut.get_info()
    measure("banner firmware", banner["firmware"], nominal=info.firmware)
    measure("banner part number", banner["part"], nominal=info.part_number)
