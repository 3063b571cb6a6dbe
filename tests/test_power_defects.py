"""Each power defect of the emulated board fails its power plan; the healthy board passes them all.

The plans run in subprocesses against emulated stations (real pyvisa-py sessions to the SCPI
emulators, a real pty to the board), two at a time.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.plan_runner import run_plan

ON, CURRENT, METER = ("testplans/ws100/test_power_on.py", "testplans/ws100/test_power_current.py",
                      "testplans/ws100/test_power_meter.py")
# defect -> (plans run, the tests that must fail); every other test of those plans must pass
CASES: dict[str, tuple[tuple[str, ...], set[str]]] = {
    "": ((ON, CURRENT, METER), set()),
    "sleep-current-high": ((CURRENT,), {f"{CURRENT}::test_sleep_current",
                                        f"{CURRENT}::test_battery_life"}),
    "boot-slow": ((ON,), {f"{ON}::test_power_on", f"{ON}::test_brownout_reset_and_recovery"}),
    "brownout-threshold-wrong": ((ON,), {f"{ON}::test_brownout_reset_and_recovery"}),
    "battery-reading-offset": ((METER,), {f"{METER}::test_battery_voltage_accuracy"}),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    def run(defect: str) -> dict[str, str]:
        tmp: Path = tmp_path_factory.mktemp(defect or "healthy")
        return run_plan(list(CASES[defect][0]), [defect] if defect else [], tmp)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(CASES, pool.map(run, CASES), strict=True))


@pytest.mark.parametrize("defect", list(CASES), ids=lambda d: d or "healthy")
def test_defect_fails_exactly_its_power_tests(outcomes, defect: str) -> None:
    plans, must_fail = CASES[defect]
    results = outcomes[defect]
    assert {node.split("::")[0] for node in results} == set(plans), results
    failed = {node for node, outcome in results.items() if outcome != "passed"}
    assert failed == must_fail, results
