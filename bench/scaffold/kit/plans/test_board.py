"""The ${name}'s first plan: it says who it is, it answers, and it draws what it should."""

import pytest


def test_firmware(dut, spec, measure) -> None:
    """The firmware is the release the product spec names."""
    measure(spec.limit("firmware"), dut.identify()[1], nominal=spec["product.expect_firmware"])


def test_ping(dut, spec, measure) -> None:
    """A PING is echoed within the round-trip limit."""
    measure(spec.limit("ping_rtt"), dut.ping())


@pytest.mark.requires("psu")
def test_run_current(psu, dut, spec, measure) -> None:
    """The board draws its running current from the supply (marginal within the supply's
    readback resolution of a limit)."""
    measure(spec.limit("run_current"), psu.current,
            resolution=psu.instrument.readback_resolution_a)
