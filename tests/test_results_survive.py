"""A port that vanishes mid-test is one clear error that stops the run, and what was measured
before stays recorded; record, console and JUnit say the same."""

import subprocess
import sys

from bench.record import load_record
from tests.plan_runner import ROOT, junit_outcomes, write_profile

PLAN = '''
def test_measure_then_unplug(dut, station, measure):
    measure("ping rtt", dut.ping(), units="s", high=1.0)
    station.emulator.serial.unplug()
    dut.get_info()
    dut.get_info()


def test_next_step_reports_the_lost_port(dut, measure):
    dut.ping()


def test_third(dut):
    dut.ping()
'''


def test_unplugged_port_keeps_earlier_measurements(tmp_path) -> None:
    plan = tmp_path / "test_unplug_plan.py"
    plan.write_text(PLAN)
    record_path = tmp_path / "run" / "record.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(plan), "--station", str(write_profile(tmp_path, [])),
         "--record", str(record_path), f"--junitxml={tmp_path / 'junit.xml'}", "-q",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr  # pytest's "interrupted"
    record = load_record(record_path)
    (first,) = record.steps  # the run stopped: the later steps did not fail one by one
    assert first["outcome"] == "error"
    assert [m["name"] for m in first["measurements"]] == ["ping rtt"]
    assert first["measurements"][0]["outcome"] == "pass"
    assert "PortLostError" in first["message"] and "vanished" in first["message"]
    assert "/dev/pts/" in first["message"] and "traffic log: " in first["message"]
    ending = record.end["ending"]
    assert ending["cause"] == "resource_lost"
    assert ending["step"].endswith("::test_measure_then_unplug")
    assert [n.rpartition("::")[2] for n in ending["not_run"]] == [
        "test_next_step_reports_the_lost_port", "test_third"]
    assert "lost a resource" in ending["not_run_reason"] and ending["planned"] == 3
    assert record.verdict.name == "ERROR"
    assert record.unique_id == "CB-WS1-000123"
    outcomes = sorted(junit_outcomes(tmp_path / "junit.xml").values())
    assert outcomes == ["error", "skipped", "skipped"]
    assert "2 skipped, 1 error in" in done.stdout
