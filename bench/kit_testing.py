"""Test a board kit from its own package: run its plans in a subprocess against its emulated
station with defects or knobs switched on, and read back each test's outcome.

    >>> from bench.kit_testing import run_plan
    >>> from bench.kits import board_kit
    >>> kit = board_kit("tracker")
    >>> outcomes = run_plan([str(kit.plans / "test_identify.py")], ["wrong-firmware"], tmp_path,
    ...                     base=kit.emulated_station)                         # doctest: +SKIP
    >>> outcomes["test_identify.py::test_firmware_version"]                   # doctest: +SKIP
    'failed'

Why a public module: a kit lives in its team's own package, outside citebench's repository, and
must prove that each of its defects fails the plan that should catch it (docs/adding-a-board.md,
step 11). This is the harness citebench's own suite uses (tests/plan_runner.py only adds the
repository's defaults), shipped with citebench as pymeasure ships `expected_protocol` for
instrument drivers. Why a subprocess: each station (its pty, its emulator threads, its supply)
stays apart from the test process, as under `bench run`.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["bench_run", "junit_outcomes", "run_plan", "write_profile"]

EMPTY_DEFECTS = "defects = []"
# The pytest plugins every plan run does without, however pytest finds (or misses) an ini file:
# the cache (a bench writes its run's folder, nothing else); labgrid's (the labgrid extra:
# citebench is a labgrid client, and the import is 0.4 s of CPU); Hypothesis's (a plan has no
# Hypothesis test, and where the test extra is installed it imports all of Hypothesis at every
# run's end, 1.5 s). A batch of slots on two cores pays each once per board.
PLAN_PLUGINS_OFF = ("-p", "no:cacheprovider", "-p", "no:labgrid", "-p", "no:hypothesispytest")


def write_profile(tmp: Path, defects: Sequence[str], base: Path, name: str = "station.toml",
                  knobs: Mapping[str, float] | None = None) -> Path:
    """A copy of the station profile `base` in `tmp` with `[emulator] defects` (and `knobs`,
    when given) set; returns its path. `base` must hold the line `defects = []`, as a kit's
    emulated station does."""
    text = Path(base).read_text()
    if EMPTY_DEFECTS not in text:
        raise ValueError(f"{base}: no line {EMPTY_DEFECTS!r} in [emulator] to derive a "
                         f"station with defects from")
    setting = f"defects = {list(defects)!r}".replace("'", '"')
    if knobs:
        setting += "\nknobs = { " + ", ".join(f'"{k}" = {v!r}' for k, v in knobs.items()) + " }"
    target = tmp / name
    target.write_text(text.replace(EMPTY_DEFECTS, setting, 1))
    tomllib.loads(target.read_text())  # a broken derivation fails here, not in the plan
    return target


def run_plan(plans: Sequence[str], defects: Sequence[str], tmp: Path, *extra: str, base: Path,
             timeout: float = 120, knobs: Mapping[str, float] | None = None,
             rootdir: Path | None = None) -> dict[str, str]:
    """Outcome ("passed", "failed", "error", "skipped") of every test of `plans`, keyed by its
    pytest node id relative to `rootdir` (by default the folder of the first plan, so a kit's
    keys read `test_identify.py::test_firmware_version`); a plan is a file or a node id, relative
    to `rootdir` when given, else to the current directory. The station is `base` with `defects`
    (and `knobs`) switched on; `extra` goes to pytest. The run's record is
    `tmp / "record.jsonl"`, its JUnit file `tmp / "junit.xml"`.

    Plans are imported from the files given (pytest's importlib mode), never by package name:
    a kit's plans folder is a package, and an installed copy of the kit beside its source
    would otherwise answer for it ("import file mismatch")."""
    station = write_profile(tmp, defects, base, knobs=knobs)
    junit = tmp / "junit.xml"
    folder = Path.cwd() if rootdir is None else Path(rootdir)
    paths = [_under(folder, plan) for plan in plans]
    root = folder if rootdir is not None else Path(paths[0].partition("::")[0]).parent
    command = [sys.executable, "-m", "pytest", *paths, f"--station={station}",
               f"--record={tmp / 'record.jsonl'}", f"--junitxml={junit}", "-q",
               *PLAN_PLUGINS_OFF, f"--rootdir={root}", "--import-mode=importlib", *extra]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=timeout)
    if not junit.exists():
        raise AssertionError(f"plan run wrote no JUnit file ({' '.join(command)}):\n"
                             f"{done.stdout}\n{done.stderr}")
    return junit_outcomes(junit)


def _under(folder: Path, plan: str) -> str:
    """`plan` (a file, or a node id `file::test`) with its file made absolute from `folder`."""
    path, separator, test = plan.partition("::")
    return f"{(folder / path).resolve()}{separator}{test}"


def junit_outcomes(junit: Path) -> dict[str, str]:
    """Each test case of a JUnit file by node id: "passed", "failed", "error" or "skipped"."""
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        path = case.get("classname", "").replace(".", "/")
        kinds = {child.tag for child in case}
        outcomes[f"{path}.py::{case.get('name')}"] = (
            "failed" if "failure" in kinds else "error" if "error" in kinds
            else "skipped" if "skipped" in kinds else "passed")
    return outcomes


def bench_run(reports: Path, *args: str, cwd: Path | None = None,
              timeout: float = 300) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`bench run --reports REPORTS --no-index ARGS`, as an operator types it; returns the
    finished process and the path of the run's record (which may not exist)."""
    done = subprocess.run([sys.executable, "-m", "bench", "run", "--reports", str(reports),
                           "--no-index", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    records = sorted(Path(reports).glob("*/*/record.jsonl"))
    return done, records[-1] if records else Path(reports) / "none"
