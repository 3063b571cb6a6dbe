"""Reporting and archive benchmarks, each figure beside a reference measured in the same run.

    python benchmarks/bench_report.py                 # about 1 min on 2 cores
    python benchmarks/bench_report.py --runs 200      # quicker archive part

1. A run of 10,000 measurements (a generated plan: 100 tests x 100 `measure` calls) with full
   reporting (pytest-html self-contained report, JUnit XML, run record) against the same run with
   reporting off (the run record only: it is the evidence, never off), goal at most 1.3x; and
   against bare pytest (citebench's plugin disabled, `measure` a list append) to show the whole
   cost. Peak RSS of each run and the size of each file written.
2. Over an archive of 1,000 synthetic runs (36 steps, 108 measurements each, written with
   RunRecord and sealed by `archive.store`): `write_index`, `write_statistics` and `verify` of every
   manifest, beside the floor of reading and parsing every record (for index and statistics) and
   of hashing every byte with hashlib in one loop (for verify).

Always exits 0 when the measurements ran: the figures are the product; missed goals are shouted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import archive, stats
from bench.measure import Measurement, Outcome
from bench.record import RunRecord
from bench.station import DEFAULT_PROFILE

ROOT = Path(__file__).resolve().parent.parent
PLAN = '''
import pytest


@pytest.mark.parametrize("n", range({tests}))
def test_step(n, measure):
    for k in range({per_test}):
        measure(f"m{{k}}", n + k / 1000, units="V", low=0.0, high=1e6)
'''
BARE_CONFTEST = '''
import pytest


@pytest.fixture
def measure():
    taken = []
    return lambda name, value, **limits: taken.append((name, value, limits))
'''


def timed_child(command: list[str], cwd: Path) -> tuple[float, int]:
    """Wall time (s) and peak RSS (bytes) of one child process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}")
    return seconds, usage.ru_maxrss * 1024


def bench_run(rounds: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
    plans = tmp / "plans"
    bare = tmp / "bare"
    for folder in (plans, bare):
        folder.mkdir()
        (folder / "test_many.py").write_text(PLAN.format(tests=100, per_test=100))
    (bare / "conftest.py").write_text(BARE_CONFTEST)
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    station = ["--station", str(DEFAULT_PROFILE)]  # citebench is inert without a station
    variants = {
        "full reporting": lambda n: [*base, str(plans), "--rootdir", str(plans), *station,
                                     f"--html={tmp / f'full{n}' / 'report.html'}",
                                     "--self-contained-html"],
        "record only": lambda n: [*base, str(plans), "--rootdir", str(plans), *station,
                                  "--record", str(tmp / f"rec{n}" / "record.jsonl")],
        "bare pytest": lambda n: [*base, str(bare), "--rootdir", str(bare), "-p", "no:citebench"],
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    peaks: dict[str, int] = {}
    for n in range(rounds):  # alternate, so drift in machine load hits every variant alike
        for name, command in variants.items():
            seconds, peak = timed_child(command(n), ROOT)
            times[name].append(seconds)
            peaks[name] = max(peaks.get(name, 0), peak)
    median = {name: statistics.median(values) for name, values in times.items()}
    ratio = median["full reporting"] / median["record only"]
    print(f"1. run of 10,000 measurements (100 tests x 100), median of {rounds} runs each")
    print(f"   full reporting   {median['full reporting']:6.2f} s   "
          f"peak RSS {peaks['full reporting'] / 2**20:6.1f} MiB")
    print(f"   record only      {median['record only']:6.2f} s   "
          f"peak RSS {peaks['record only'] / 2**20:6.1f} MiB   (reference)")
    print(f"   bare pytest      {median['bare pytest']:6.2f} s   "
          f"peak RSS {peaks['bare pytest'] / 2**20:6.1f} MiB   (no citebench at all)")
    verdict = "met" if ratio <= 1.3 else "MISSED"
    print(f"   full / record only = {ratio:.2f}x (goal <= 1.3x: {verdict}); "
          f"full / bare = {median['full reporting'] / median['bare pytest']:.2f}x")
    out = tmp / "full0"
    sizes = {name: (out / name).stat().st_size for name in ("report.html", "record.jsonl",
                                                            "junit.xml")}
    print("   files: " + ", ".join(f"{name} {size / 2**20:.2f} MiB" for name, size in
                                    sizes.items()))


def synthetic_archive(root: Path, runs: int) -> None:
    """`runs` archived runs of a 36-step plan, boards with spread, a few failing."""
    rng = random.Random(20261128)
    for n in range(runs):
        serial = f"CB-WS1-{n:06d}"
        record = RunRecord(root / archive.INCOMING / serial / "record.jsonl")
        record.start({"id": "desk-1", "host": "bench"}, {"citebench": "0.1.0"}, "ci")
        record.dut({"serial": serial, "part_number": "WS-100", "firmware": "1.4.2"})
        offset = rng.gauss(0, 0.02)
        worst = Outcome.PASS
        for step in range(36):
            taken = [Measurement.judge(f"value {k}", 3.3 + offset + rng.gauss(0, 0.03),
                                       units="V", low=3.2, high=3.4) for k in range(3)]
            outcome = max(m.outcome for m in taken)
            worst = max(worst, outcome)
            record.step(f"testplans/ws100/test_plan.py::test_{step}", "A step.", outcome, taken,
                        [("serial traffic", "text/plain", f"{serial} step {step}\n" * 20)],
                        0.0, 0.1)
        record.end(worst)
        record.close()
        archive.store(record.path.parent, root)


def clock(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_archive(runs: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-archive-"))
    build = clock(lambda: synthetic_archive(root, runs))
    folders = archive.find_runs(root)
    files = [path for run in folders for path in run.rglob("*") if path.is_file()]
    total = sum(path.stat().st_size for path in files)

    def parse_all() -> None:
        for run in folders:
            with (run / archive.RECORD).open(encoding="utf-8") as lines:
                for line in lines:
                    json.loads(line)

    def hash_all() -> None:
        for path in files:
            hashlib.sha256(path.read_bytes()).hexdigest()

    figures = {
        "parse every record (floor)": clock(parse_all),
        "write_index": clock(lambda: archive.write_index(root)),
        "write_statistics": clock(lambda: stats.write_statistics(root)),
        "hash every byte (floor)": clock(hash_all),
        "verify every manifest": clock(lambda: [archive.verify(run) for run in folders]),
    }
    print(f"\n2. archive of {runs} runs ({len(files)} files, {total / 2**20:.1f} MiB; "
          f"built and sealed in {build:.1f} s)")
    for name, seconds in figures.items():
        print(f"   {name:30} {seconds:6.2f} s")
    print(f"   index / parse floor = "
          f"{figures['write_index'] / figures['parse every record (floor)']:.2f}x, "
          f"statistics / parse floor = "
          f"{figures['write_statistics'] / figures['parse every record (floor)']:.2f}x, "
          f"verify / hash floor = "
          f"{figures['verify every manifest'] / figures['hash every byte (floor)']:.2f}x")
    print(f"   index.html {(root / archive.INDEX).stat().st_size / 2**10:.0f} KiB, "
          f"statistics.html {(root / stats.STATISTICS).stat().st_size / 2**10:.0f} KiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant (part 1)")
    parser.add_argument("--runs", type=int, default=1000, help="archived runs (part 2)")
    args = parser.parse_args()
    bench_run(args.rounds)
    bench_archive(args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
