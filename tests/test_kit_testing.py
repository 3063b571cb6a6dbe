"""bench.kit_testing from outside the repository, as a board kit in its own package uses it:
importable from the installed citebench, and running a kit's plan with a defect switched on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.kit_testing import junit_outcomes, write_profile
from tests.plan_runner import ROOT

KIT_TEST = '''
from bench.kit_testing import run_plan
from bench.kits import board_kit


def test_wrong_firmware_fails_the_firmware_step_only(tmp_path):
    kit = board_kit("tracker")
    outcomes = run_plan([str(kit.plans / "test_identify.py")], ["wrong-firmware"], tmp_path,
                        base=kit.emulated_station)
    assert outcomes.pop("test_identify.py::test_firmware_version") == "failed"
    assert set(outcomes.values()) == {"passed"} and len(outcomes) >= 3, outcomes
'''


def _outside(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Python run in `tmp_path`, with nothing of the repository on its path but what the
    installed citebench brings."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env=env)


def test_the_harness_is_importable_where_the_suite_is_not(tmp_path: Path) -> None:
    probe = textwrap.dedent("""
        import bench.kit_testing
        print(sorted(bench.kit_testing.__all__))
        try:
            import tests.plan_runner
        except ModuleNotFoundError:
            print("the suite's runner is out of reach")
    """)
    done = _outside(tmp_path, "-c", probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == [
        "['bench_run', 'junit_outcomes', 'run_plan', 'write_profile']",
        "the suite's runner is out of reach"]


@pytest.mark.plan_run
def test_a_kit_outside_the_repository_proves_a_defect_with_it(tmp_path: Path) -> None:
    (tmp_path / "test_kit_defects.py").write_text(KIT_TEST)
    done = _outside(tmp_path, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "test_kit_defects.py")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout


def test_a_profile_without_an_empty_defects_line_is_refused_by_name(tmp_path: Path) -> None:
    base = tmp_path / "desk.toml"
    base.write_text('[dut]\nboard = "tracker"\n')
    with pytest.raises(ValueError, match=r"desk\.toml: no line 'defects = \[\]'"):
        write_profile(tmp_path, ["wrong-firmware"], base)
    station = write_profile(tmp_path, ["a", "b"], ROOT / "fixtures" / "tracker-emulated.toml",
                            knobs={"gnss.satellites": 3})
    assert 'defects = ["a", "b"]\nknobs = { "gnss.satellites" = 3 }' in station.read_text()


def test_junit_outcomes_reads_each_kind(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuites><testsuite>'
                     '<testcase classname="plans.test_a" name="ok"/>'
                     '<testcase classname="plans.test_a" name="bad"><failure/></testcase>'
                     '<testcase classname="plans.test_a" name="broke"><error/></testcase>'
                     '<testcase classname="plans.test_a" name="off[x]"><skipped/></testcase>'
                     '</testsuite></testsuites>')
    assert junit_outcomes(junit) == {
        "plans/test_a.py::ok": "passed", "plans/test_a.py::bad": "failed",
        "plans/test_a.py::broke": "error", "plans/test_a.py::off[x]": "skipped"}
