"""Self-test: the firmware's built-in test finds no failed subsystem."""

from bench.kits import ProductSpec
from drivers.ws100 import Ws100Driver


def test_self_test_passes(dut: Ws100Driver, spec: ProductSpec, measure) -> None:
    """SELF_TEST bitmap is 0 (a set bit names a failed subsystem)."""
    failed = dut.self_test()
    measure(spec.limit("selftest_bitmap"), int(failed))
    measure(spec.limit("selftest_subsystems"), str(failed) if failed else "none")
