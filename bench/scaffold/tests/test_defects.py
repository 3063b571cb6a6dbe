"""Each defect fails exactly the plan step that should catch it, and the healthy board passes
every step: bench.kit_testing runs the plan against the emulated station in a subprocess."""

from bench.kit_testing import run_plan

from ${name}_kit.kit import KIT

PLAN = str(KIT.plans / "test_board.py")


def test_the_healthy_board_passes_every_step(tmp_path) -> None:
    outcomes = run_plan([PLAN], [], tmp_path, base=KIT.emulated_station)
    assert outcomes and set(outcomes.values()) == {"passed"}, outcomes


def test_wrong_firmware_fails_the_firmware_step_only(tmp_path) -> None:
    outcomes = run_plan([PLAN], ["wrong-firmware"], tmp_path, base=KIT.emulated_station)
    assert outcomes.pop("test_board.py::test_firmware") == "failed"
    assert set(outcomes.values()) == {"passed"}, outcomes
