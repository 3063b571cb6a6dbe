"""A run killed with SIGKILL at a random instant leaves a record that parses and holds every step
that had finished: each step is one fsynced line written before the next test starts."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.archive import rebuild_report
from bench.record import load_record
from tests.plan_runner import ROOT

# Each test notes that its body started; the step of test N is in the record before test N+1's
# body can start, so every noted test but the last must be in the record after the kill.
PLAN = '''
import os

import pytest


@pytest.mark.parametrize("n", range(400))
def test_step(n, measure):
    with open(os.environ["PROGRESS"], "a") as progress:
        progress.write(f"test_step[{n}]\\n")
        progress.flush()
        os.fsync(progress.fileno())
    for k in range(60):
        measure(f"m{k}", n + k / 100, units="V", low=0, high=1000)
    measure.attach("log", f"step {n} " * 2000)
'''
KILLS = 4


def _wait_for_size(path: Path, size: int, process: subprocess.Popen) -> None:
    """Wait until the record has grown past `size` bytes (there is no file event to await)."""
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        if path.exists() and path.stat().st_size >= size:
            return
        time.sleep(0.001)
    raise AssertionError(f"{path} did not reach {size} bytes (run exit code {process.poll()})")


@pytest.mark.parametrize("trial", range(KILLS))
def test_record_survives_kill_9(tmp_path: Path, trial: int) -> None:
    plan = tmp_path / "test_kill_plan.py"
    plan.write_text(PLAN)
    record_path, progress = tmp_path / "run" / "record.jsonl", tmp_path / "progress.txt"
    cut_at = random.Random(20261128 + trial).randrange(4_000, 400_000)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", str(plan), "--record", str(record_path), "-q",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PROGRESS": str(progress), "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        _wait_for_size(record_path, cut_at, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    view = load_record(record_path)
    started = progress.read_text().splitlines()
    recorded = [step["name"].rpartition("::")[2] for step in view.steps]
    assert recorded == [f"test_step[{n}]" for n in range(len(recorded))]  # in order, no gap
    assert set(started[:-1]) <= set(recorded) <= set(started)
    assert all(len(step["measurements"]) == 60 for step in view.steps)
    assert all((record_path.parent / "attachments" / ref["sha256"]).exists()
               for step in view.steps for ref in step["attachments"])
    assert view.end is None and view.verdict.name == "ABORTED"
    page = rebuild_report(record_path, tmp_path / "rebuilt.html").read_text()
    assert "Verdict: INCOMPLETE" in page and "Partial record" in page
    assert page.count("<h4>") == len(view.steps)
