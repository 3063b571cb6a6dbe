"""The ${name}'s first plan: it says who it is, it answers, and it draws what it should."""

import pytest


def test_firmware(dut, spec, measure) -> None:
    """The firmware is the release the product spec names."""
    measure("firmware", dut.identify()[1], nominal=spec["product.expect_firmware"])


def test_ping(dut, spec, measure) -> None:
    """A PING is echoed within the round-trip limit."""
    measure("ping rtt", dut.ping(), **spec.limit("ping_rtt"))


@pytest.mark.requires("psu")
def test_run_current(psu, dut, spec, measure) -> None:
    """The board draws its running current from the supply."""
    measure("run current", psu.current, **spec.limit("run_current"))
