"""Run test plans in a subprocess against an emulated station, and read back each test's outcome.

    outcomes = run_plan(["testplans/ws100/test_link.py"], defects=["slow-response"], tmp=tmp_path)
    assert outcomes["testplans/ws100/test_link.py::test_ping_round_trip_time"] == "failed"

A subprocess keeps each station (its pty, its threads) apart from the test suite's own process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROFILE = ROOT / "fixtures" / "ws100-emulated.toml"


def write_profile(tmp: Path, defects: list[str], base: Path = DEFAULT_PROFILE,
                  name: str = "station.toml", knobs: dict[str, float] | None = None) -> Path:
    """A copy of `base` with `[emulator] defects` (and `knobs`, when given) set; returns its
    path."""
    text = base.read_text()
    assert "defects = []" in text, f"{base} must carry an empty defects list to derive from"
    target = tmp / name
    setting = f"defects = {defects!r}".replace("'", '"')
    if knobs:
        setting += "\nknobs = { " + ", ".join(f'"{k}" = {v!r}' for k, v in knobs.items()) + " }"
    target.write_text(text.replace("defects = []", setting))
    tomllib.loads(target.read_text())  # a broken derivation fails here, not in the plan
    return target


def run_plan(plans: list[str], defects: list[str], tmp: Path, *extra: str,
             timeout: float = 120, base: Path = DEFAULT_PROFILE,
             knobs: dict[str, float] | None = None) -> dict[str, str]:
    """Outcome ("passed", "failed", "error", "skipped") of every test, keyed by node id;
    the station is `base` (another board's emulated profile) with `defects` (and `knobs`)
    switched on. The run's record is `tmp / "record.jsonl"`."""
    station = write_profile(tmp, defects, base, knobs=knobs)
    junit = tmp / "junit.xml"
    command = [sys.executable, "-m", "pytest", *plans, "--station", str(station),
               "--record", str(tmp / "record.jsonl"), f"--junitxml={junit}", "-q",
               "-p", "no:cacheprovider", "--rootdir", str(ROOT), *extra]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    if not junit.exists():
        raise AssertionError(f"plan run wrote no JUnit file:\n{done.stdout}\n{done.stderr}")
    return junit_outcomes(junit)


def junit_outcomes(junit: Path) -> dict[str, str]:
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        path = case.get("classname", "").replace(".", "/")
        node = f"{path}.py::{case.get('name')}"
        kinds = {child.tag for child in case}
        outcome = ("failed" if "failure" in kinds else "error" if "error" in kinds
                   else "skipped" if "skipped" in kinds else "passed")
        outcomes[node] = outcome
    return outcomes


def bench_run(reports: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`bench run --reports REPORTS --no-index ARGS`, as an operator types it; returns the
    finished process and the path of the run's record (which may not exist)."""
    done = subprocess.run([sys.executable, "-m", "bench", "run", "--reports", str(reports),
                           "--no-index", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    records = sorted(reports.glob("*/*/record.jsonl"))
    return done, records[-1] if records else reports / "none"
