"""The plugin's whole-process cost: a one-step plan with report and record against plain pytest.

    python benchmarks/bench_plugin.py            # about 30 s on 2 cores
    python benchmarks/bench_plugin.py --runs 5

Both sides run the same one-test file in a fresh process with pytest-html writing a
self-contained report. The reference is plain pytest with pytest-html (citebench installed but not
asked for: the plugin is inert). The figure is the same command with `--station` (the plugin
active: station profile and board kits loaded, run record written and fsynced, JUnit beside the
report, certification section). Median of alternating runs; goal at most 1.5x. Children run
with byte-code caching on, as on a user's machine, whatever PYTHONDONTWRITEBYTECODE says here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAN = '''
def test_one_step(measure):
    measure("vbat", 3.71, units="V", low=3.2, high=4.4)
'''
PLAIN_PLAN = '''
def test_one_step():
    assert 3.2 <= 3.71 <= 4.4
'''
GOAL = 1.5


def _once(folder: Path, plan: str, station: bool) -> float:
    (folder / "test_plan.py").write_text(plan)
    out = folder / "out"
    # As on a user's machine: bytecode cached (pytest caches its rewritten plugin modules too)
    env = {k: v for k, v in os.environ.items()
           if k not in ("CITEBENCH_STATION", "PYTHONDONTWRITEBYTECODE")}
    command = [sys.executable, "-m", "pytest", "test_plan.py", "-q", "-p", "no:cacheprovider",
               f"--html={out / 'report.html'}", "--self-contained-html", "--rootdir", str(folder)]
    if station:
        command += ["--station", str(ROOT / "fixtures" / "ws100-emulated.toml")]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark run failed:\n{done.stdout}\n{done.stderr}")
    if station and not (out / "record.jsonl").exists():
        raise SystemExit("the plugin wrote no record: the figure would measure nothing")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    plain, bench = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for side in ("plain", "bench"):  # warm the file cache and the byte-code caches
            folder = Path(tmp) / f"warm-{side}"
            folder.mkdir()
            _once(folder, PLAIN_PLAN if side == "plain" else PLAN, side == "bench")
        for run in range(args.runs):
            for side, into in (("plain", plain), ("bench", bench)):
                folder = Path(tmp) / f"{side}-{run}"
                folder.mkdir()
                into.append(_once(folder, PLAIN_PLAN if side == "plain" else PLAN,
                                  side == "bench"))
    reference, figure = statistics.median(plain), statistics.median(bench)
    ratio = figure / reference
    print(f"{'one-step plan, whole process':40} {'median s':>9} {'ratio':>6}")
    print(f"{'plain pytest + pytest-html (reference)':40} {reference:9.3f} {1.0:6.2f}")
    print(f"{'citebench active: record + report':40} {figure:9.3f} {ratio:6.2f}"
          f"   goal <= {GOAL}x: {'met' if ratio <= GOAL else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
