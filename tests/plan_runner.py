"""bench.kit_testing with this repository's defaults: plans run from its root (node ids read
`testplans/ws100/test_link.py::...`), on the WS-100's emulated station unless told otherwise.

    outcomes = run_plan(["testplans/ws100/test_link.py"], defects=["slow-response"], tmp=tmp_path)
    assert outcomes["testplans/ws100/test_link.py::test_ping_round_trip_time"] == "failed"
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench import kit_testing
from bench.kit_testing import junit_outcomes

__all__ = ["DEFAULT_PROFILE", "ROOT", "bench_run", "junit_outcomes", "run_plan", "write_profile"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROFILE = ROOT / "fixtures" / "ws100-emulated.toml"


def write_profile(tmp: Path, defects: Sequence[str], base: Path = DEFAULT_PROFILE,
                  name: str = "station.toml", knobs: Mapping[str, float] | None = None) -> Path:
    return kit_testing.write_profile(tmp, defects, base, name, knobs)


def run_plan(plans: Sequence[str], defects: Sequence[str], tmp: Path, *extra: str,
             timeout: float = 120, base: Path = DEFAULT_PROFILE,
             knobs: Mapping[str, float] | None = None) -> dict[str, str]:
    return kit_testing.run_plan(plans, defects, tmp, *extra, base=base, timeout=timeout,
                                knobs=knobs, rootdir=ROOT)


def bench_run(reports: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    return kit_testing.bench_run(reports, *args, cwd=ROOT)
