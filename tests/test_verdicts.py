"""FAIL or ERROR: a board that answers wrongly FAILs; a bench that cannot test is an ERROR."""

import subprocess
import sys
from pathlib import Path

from bench.record import load_record
from bench.station import DEFAULT_PROFILE
from tests.plan_runner import ROOT

PLAN = '''
from drivers.errors import IdentityError, NackError, ReplyMismatchError
from drivers.serial_link import PortLostError


def test_nack(measure):
    raise NackError("board NACKed GET_INFO with BAD_VALUE", 4)


def test_mismatch(measure):
    raise ReplyMismatchError("reply to PING has type 0x83")


def test_identity(measure):
    raise IdentityError("GET_INFO identity does not parse")


def test_bug(measure):
    raise KeyError("a bug in the plan")


def test_port_gone(measure):  # last: a lost resource stops the run (bench.endings)
    raise PortLostError("serial port /dev/pts/9 vanished")
'''


def test_dut_errors_fail_and_bench_errors_error(tmp_path: Path) -> None:
    (tmp_path / "test_plan.py").write_text(PLAN)
    record = tmp_path / "record.jsonl"
    subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "test_plan.py"), "--station",
                    str(DEFAULT_PROFILE), "--record", str(record), "-q", "-p",
                    "no:cacheprovider", "--rootdir", str(tmp_path)], cwd=ROOT,
                   capture_output=True, text=True, timeout=60)
    outcomes = {step["name"].rsplit("::", 1)[1]: step["outcome"]
                for step in load_record(record).steps}
    assert outcomes == {"test_nack": "fail", "test_mismatch": "fail", "test_identity": "fail",
                        "test_port_gone": "error", "test_bug": "error"}
