"""How `bench run` ends, seen from outside: SIGTERM mid-step, SIGKILL at several instants (the
next run archives the killed one as INCOMPLETE), a damaged archive that later runs shrug off,
and exit codes that tell a bad board from a broken bench."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench import archive, audit, index_db
from bench.exitcodes import ExitCode
from bench.record import load_record
from tests.plan_runner import ROOT

PLAN = '''
import os


def _note(text):
    with open(os.environ["NOTES"], "w") as fifo:  # blocks until the test reads: an event
        fifo.write(text)


def test_identity(run_record, measure):
    run_record.dut({"unique_id": "CB-K-1", "firmware": "1.4.2", "board": "ws100"})
    measure("vbat", 3.3, units="V", low=3.2, high=3.4)


def test_long(measure):
    measure("before", 1.0, low=0, high=2)
    _note("long")
    with open(os.environ["GATE"]) as gate:  # held open until the test is done with us
        gate.read()


def test_after(measure):
    measure("after", 1.0, low=0, high=2)
'''
QUICK = '''
def test_quick(run_record, measure):
    run_record.dut({"unique_id": "CB-Q-1", "firmware": "1.4.2"})
    measure("vbat", 3.3, units="V", low=3.2, high=3.4)
'''


def _start(tmp: Path, reports: Path, plan: str) -> tuple[subprocess.Popen, Path]:
    (tmp / "test_end_plan.py").write_text(plan)
    notes, gate = tmp / "notes", tmp / "gate"
    for fifo in (notes, gate):
        if not fifo.exists():
            os.mkfifo(fifo)
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--reports", str(reports), "--plan",
         str(tmp / "test_end_plan.py")], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NOTES": str(notes), "GATE": str(gate)})
    return process, notes


def _await(notes: Path, expected: str) -> None:
    with notes.open() as fifo:
        assert fifo.read() == expected


def _quick_run(tmp: Path, reports: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp / "test_quick_plan.py").write_text(QUICK)
    return subprocess.run([sys.executable, "-m", "bench", "run", "--reports", str(reports),
                           "--plan", str(tmp / "test_quick_plan.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_sigterm_mid_step_is_aborted_alike_in_record_console_and_junit(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    process, notes = _start(tmp_path, reports, PLAN)
    _await(notes, "long")
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == ExitCode.ABORTED, out + err
    assert "verdict: ABORTED" in out and "run ended by signal: SIGTERM" in out
    assert "1 passed, 1 skipped, 1 error" in out
    (run,) = archive.find_runs(reports)
    assert run.name.endswith("_ABORTED") and run.parent.name == "CB-K-1"
    view = load_record(run / archive.RECORD)
    assert [(s["name"].rpartition("::")[2], s["outcome"]) for s in view.steps] == [
        ("test_identity", "pass"), ("test_long", "aborted")]
    assert view.steps[1]["measurements"][0]["name"] == "before"  # taken before the signal
    assert view.ending["cause"] == "signal" and view.ending["detail"] == "SIGTERM"
    assert view.ending["planned"] == 3 and len(view.ending["not_run"]) == 1
    suite = ET.parse(run / "junit.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("errors"), suite.get("skipped"),
            suite.get("failures")) == ("3", "1", "1", "0")
    page = (run / "report.html").read_text()
    assert "Run ended by signal: SIGTERM" in page and "Not run" in page
    assert audit.audit(reports).intact


HELD_AT = """
import os

import pytest


@pytest.hookimpl(wrapper=True)
def {hook}(session, {args}):
    with open(os.environ["NOTES"], "w") as fifo:
        fifo.write("held")
    with open(os.environ["GATE"]) as gate:
        gate.read()
    return (yield)
"""


def _held(tmp: Path, hook: str, args: str) -> tuple[subprocess.Popen, str, str]:
    """A run held inside `hook` (a conftest beside the plan), SIGTERM sent there, its output."""
    (tmp / "conftest.py").write_text(HELD_AT.format(hook=hook, args=args))
    process, notes = _start(tmp, tmp / "reports", QUICK)
    _await(notes, "held")
    with (tmp / "gate").open("w"):  # the hook has the gate open: closing it lets the hook go on
        process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    return process, out, err


def test_sigterm_after_the_last_step_lets_the_record_finish_with_its_verdict(
        tmp_path: Path) -> None:
    """Before, the KeyboardInterrupt escaped pytest there (exit -2, a traceback) or hit the
    assertion rewriter inside an import (SystemError, exit 1: a FAIL nobody earned)."""
    process, out, err = _held(tmp_path, "pytest_sessionfinish", "exitstatus")
    assert process.returncode == ExitCode.PASS, out + err
    assert "verdict: PASS" in out and "Traceback" not in err, err
    assert "SIGTERM came after the last step: the run was recorded and archived first" in out
    (run,) = archive.find_runs(tmp_path / "reports")
    assert run.name.endswith("_PASS") and audit.audit(tmp_path / "reports").intact


def test_sigterm_during_collection_stops_before_the_first_step(tmp_path: Path) -> None:
    process, out, err = _held(tmp_path, "pytest_collection_modifyitems", "config, items")
    assert process.returncode == ExitCode.ABORTED, out + err
    assert "Traceback" not in err, err
    assert "verdict: ABORTED (no record written: stopped before the first step)" in out, out
    assert archive.find_runs(tmp_path / "reports") == []


def test_a_run_killed_before_its_first_step_leaves_nothing_behind(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    process, _ = _start(tmp_path, reports, PLAN)
    process.send_signal(signal.SIGKILL)  # at once: at most an empty staging folder exists
    process.communicate(timeout=60)
    done = _quick_run(tmp_path, reports)
    assert done.returncode == 0 and "verdict: PASS" in done.stdout, done.stdout + done.stderr
    assert list((reports / archive.INCOMING).iterdir()) == []
    assert [run.parent.name for run in archive.find_runs(reports)] == ["CB-Q-1"]


@pytest.mark.parametrize("instant", ["mid-step", "mid-write"])
def test_a_run_killed_with_sigkill_is_archived_as_incomplete_by_the_next(
        tmp_path: Path, instant: str) -> None:
    reports = tmp_path / "reports"
    process, notes = _start(tmp_path, reports, PLAN)
    _await(notes, "long")
    if instant == "mid-write":  # as if killed inside the write of the next line
        record = next((reports / archive.INCOMING).glob("*/record.jsonl"))
        with record.open("ab") as cut:
            cut.write(b'{"kind": "step", "name": "x", "meas')
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    staged = [p for p in (reports / archive.INCOMING).glob("*") if p.is_dir()]
    assert len(staged) == 1  # left behind, in nothing yet
    done = _quick_run(tmp_path, reports)
    assert done.returncode == 0 and "verdict: PASS" in done.stdout, done.stdout + done.stderr
    assert list((reports / archive.INCOMING).iterdir()) == []
    (killed,) = [r for r in archive.find_runs(reports) if r.name.endswith("_INCOMPLETE")]
    assert f"recovered run {staged[0].name}: archived as INCOMPLETE -> {killed}" in done.stdout
    page = (killed / "report.html").read_text()
    assert "Verdict: INCOMPLETE" in page and "Partial record" in page
    if instant == "mid-write":
        assert "cut short" in page
    assert audit.audit(reports).intact
    rows = {row.folder: row for row in index_db.runs(index_db.connect(reports))}
    assert rows[killed.relative_to(reports).as_posix()].verdict == "INCOMPLETE"
    assert "INCOMPLETE" in (reports / "index.html").read_text()


def test_archive_index_recovers_killed_runs_too(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    process, notes = _start(tmp_path, reports, PLAN)
    _await(notes, "long")
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    done = subprocess.run([sys.executable, "-m", "bench", "archive", "index", str(reports)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "archived as INCOMPLETE" in done.stdout, done.stderr
    (run,) = archive.find_runs(reports)
    assert run.name.endswith("_INCOMPLETE") and audit.audit(reports).intact


def test_a_damaged_record_never_stops_the_index_or_a_later_run(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    first = _quick_run(tmp_path, reports)
    assert first.returncode == 0, first.stdout + first.stderr
    (run,) = archive.find_runs(reports)
    record = run / archive.RECORD
    lines = record.read_text().splitlines(keepends=True)
    lines[1] = "{not json\n"
    record.write_text("".join(lines) + '{"kind": "step", "na')
    done = subprocess.run([sys.executable, "-m", "bench", "archive", "index", str(reports)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    page = (reports / "index.html").read_text()
    assert "damaged record" in page and "line 2: not JSON" in page
    assert f"line {len(lines) + 1}: cut short" in page
    again = _quick_run(tmp_path, reports)
    assert again.returncode == 0 and "verdict: PASS" in again.stdout, again.stdout + again.stderr
    assert "Traceback" not in again.stderr
    verify = subprocess.run([sys.executable, "-m", "bench", "archive", "verify", str(reports)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 1 and "altered: record.jsonl" in verify.stdout


def test_a_broken_index_database_does_not_hide_the_verdict(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / index_db.DATABASE).write_bytes(b"this is not a database" * 100)
    done = _quick_run(tmp_path, reports)
    assert "verdict: PASS" in done.stdout and "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, ExitCode.PASS)


@pytest.mark.parametrize("target", ["/nonexistent/record.jsonl", "."])
def test_report_rebuild_of_a_missing_or_unreadable_file_is_one_line(target: str) -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "report", "rebuild", target],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == ExitCode.USAGE and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and target in done.stderr, done.stderr


UNPLUG = '''
def test_unplug(dut, station, measure):
    measure("ping rtt", dut.ping(), units="s", high=1.0)
    station.emulator.serial.unplug()
    dut.get_info()


def test_never_reached(dut):
    dut.ping()
'''


def test_a_lost_port_is_a_bench_error_whose_message_names_the_archived_traffic_log(
        tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    (tmp_path / "test_unplug_plan.py").write_text(UNPLUG)
    done = subprocess.run([sys.executable, "-m", "bench", "run", "--reports", str(reports),
                           "--plan", str(tmp_path / "test_unplug_plan.py")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == ExitCode.ERROR, done.stdout + done.stderr
    assert "verdict: ERROR" in done.stdout and "run ended by resource_lost" in done.stdout
    (run,) = archive.find_runs(reports)
    view = load_record(run / archive.RECORD)
    (step,) = view.steps
    log = step["message"].rpartition("traffic log: ")[2].split()[0]
    assert Path(log).is_file() and Path(log).is_relative_to(run), log
    assert archive.INCOMING not in (run / archive.RECORD).read_text()
    assert archive.INCOMING not in (run / "junit.xml").read_text()
    assert len(view.ending["not_run"]) == 1 and audit.audit(reports).intact


MANY = '''
import pytest


@pytest.mark.parametrize("n", range(300))
def test_step(n, run_record, measure):
    if n == 0:
        run_record.dut({"unique_id": "CB-K-9", "firmware": "1.4.2"})
    for k in range(20):
        measure(f"m{k}", n + k / 100, units="V", low=0, high=1000)
    measure.attach("log", f"step {n} " * 500)
'''


@pytest.mark.parametrize("trial", range(3))
def test_sigkill_at_a_seeded_instant_is_recovered_as_incomplete(tmp_path: Path,
                                                               trial: int) -> None:
    """However far the record got (cut anywhere, even mid-line), the next run archives it."""
    from tests.test_record_kill import _wait_for_size

    reports = tmp_path / "reports"
    process, _ = _start(tmp_path, reports, MANY)
    cut_at = random.Random(20261128 + trial).randrange(2_000, 300_000)
    try:
        staged = None
        while staged is None and process.poll() is None:  # no file event to await
            staged = next((reports / archive.INCOMING).glob("*/record.jsonl"), None)
            time.sleep(0.001)
        assert staged is not None, "the run ended before it wrote a record"
        _wait_for_size(staged, cut_at, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    done = _quick_run(tmp_path, reports)
    assert done.returncode == 0 and "archived as INCOMPLETE" in done.stdout, done.stdout
    (killed,) = [r for r in archive.find_runs(reports) if r.name.endswith("_INCOMPLETE")]
    view = load_record(killed / archive.RECORD)
    assert view.end is None and view.steps and "Partial record" in (
        killed / "report.html").read_text()
    assert audit.audit(reports).intact
