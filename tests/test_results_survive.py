"""A port that vanishes mid-test is one clear error, and what was measured before stays recorded."""

import subprocess
import sys

from bench.record import load_record
from tests.plan_runner import ROOT, write_profile

PLAN = '''
def test_measure_then_unplug(dut, station, measure):
    measure("ping rtt", dut.ping(), units="s", high=1.0)
    station.emulator.serial.unplug()
    dut.get_info()
    dut.get_info()


def test_next_step_reports_the_lost_port(dut, measure):
    dut.ping()
'''


def test_unplugged_port_keeps_earlier_measurements(tmp_path) -> None:
    plan = tmp_path / "test_unplug_plan.py"
    plan.write_text(PLAN)
    record_path = tmp_path / "run" / "record.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(plan), "--station", str(write_profile(tmp_path, [])),
         "--record", str(record_path), "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    record = load_record(record_path)
    first, second = record.steps
    assert first["outcome"] == "error"
    assert [m["name"] for m in first["measurements"]] == ["ping rtt"]
    assert first["measurements"][0]["outcome"] == "pass"
    assert "PortLostError" in first["message"] and "vanished" in first["message"]
    assert "/dev/pts/" in first["message"]
    assert second["outcome"] == "error" and "vanished" in second["message"]
    assert record.verdict.name == "ERROR"
    assert record.dut["unique_id"] == "CB-WS1-000123"
