"""Self-test: the firmware's built-in test finds no failed subsystem."""

from drivers.ws100 import Ws100Driver


def test_self_test_passes(dut: Ws100Driver, measure) -> None:
    """SELF_TEST bitmap is 0 (a set bit names a failed subsystem)."""
    failed = dut.self_test()
    measure("self-test failed bitmap", int(failed), nominal=0)
    measure("self-test failed subsystems", str(failed) if failed else "none")
