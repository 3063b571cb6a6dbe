"""Soak: run the full emulated plan of every installed board N times and count false verdicts.

    scripts/soak 3                               # 3 runs per board, machine otherwise idle
    scripts/soak 100 --load                      # both cores kept busy meanwhile
    scripts/soak 100 --markdown docs/reliability.md

A healthy emulated board must PASS every time: any FAIL or ERROR is a flaky plan, a limit too
close to what the emulator produces, or a bench bug. Each run is `python -m bench run --station
<the kit's emulated station> --no-index --reports <temp>`, exactly as an operator would type it;
its verdict, and the step, message and failed measurements of each failure, are read back from
the archived record.jsonl (never from pytest's output). `--load` starts one busy process per core
for the duration and stops them at the end, so the timing under a loaded machine is measured too.

Beside the verdicts, every timing measurement with a limit (units s, ms, us, Hz) is gathered
across runs, and its distribution (median, p99, max, min) printed beside the limit as a markdown
table; "margin/spread" is the distance from the median to the nearest limit divided by the
distance from the median to the p99 (or p1) on that side: below 2 the limit is too tight for the
emulator's spread. `--markdown FILE` writes the table into FILE, replacing only its own section
(idle or loaded), so one file holds both.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMING_UNITS = {"s", "ms", "us", "µs", "Hz"}


@dataclass(frozen=True)
class Failure:
    """One step that did not pass, as the record holds it."""

    step: str
    outcome: str
    message: str
    failed: tuple[str, ...]  # names of the measurements that failed in it

    def describe(self) -> str:
        first_line = self.message.strip().splitlines()[0] if self.message.strip() else ""
        names = f" [failed: {', '.join(self.failed)}]" if self.failed else ""
        return f"{self.outcome.upper()} {self.step}{names}: {first_line[:300]}"


@dataclass
class RunResult:
    """What one run's record says: verdict, DUT, failures, and its timing measurements."""

    verdict: str
    dut: str = ""
    failures: list[Failure] = field(default_factory=list)
    # (measurement name, units, low, high) -> values taken in this run
    timings: dict[tuple[str, str, float | None, float | None], list[float]] = field(
        default_factory=dict)


def parse_record(lines: Iterable[str]) -> RunResult:
    """Read a record.jsonl: a crashed run (no `end` event) is an ERROR, never a pass.

    The DUT identity is `unique_id` (records before board kits held `serial`).
    """
    result = RunResult(verdict="error")
    ended = False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as error:
            result.failures.append(Failure(f"record line {number}", "error",
                                           f"unreadable record line: {error}", ()))
            continue
        kind = event.get("kind")
        if kind == "dut":
            result.dut = str(event.get("unique_id") or event.get("serial") or "")
        elif kind == "step":
            _read_step(event, result)
        elif kind == "end":
            ended = True
            result.verdict = str(event.get("verdict", "error"))
            for problem in event.get("problems") or []:
                result.failures.append(Failure("(run)", result.verdict, str(problem), ()))
    if not ended:
        result.verdict = "error"
        result.failures.append(Failure("(run)", "error", "record has no end event: the run "
                                       "stopped before its verdict", ()))
    return result


def _read_step(event: dict, result: RunResult) -> None:
    measurements = event.get("measurements") or []
    outcome = str(event.get("outcome", ""))
    if outcome not in ("pass", "skip"):
        failed = tuple(m.get("name", "?") for m in measurements if m.get("outcome") == "fail")
        result.failures.append(Failure(str(event.get("name", "?")), outcome,
                                       str(event.get("message") or ""), failed))
    for m in measurements:
        value = m.get("value")
        if (m.get("units") in TIMING_UNITS and (m.get("low") is not None
                                                or m.get("high") is not None)
                and isinstance(value, int | float) and not isinstance(value, bool)):
            key = (m["name"], m["units"], m.get("low"), m.get("high"))
            result.timings.setdefault(key, []).append(float(value))


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: a value that was really measured, never an interpolation."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def margin_ratio(values: list[float], low: float | None, high: float | None) -> float:
    """Distance median -> nearest limit over distance median -> p99 (or p1) on that side."""
    median = statistics.median(values)
    ratios = []
    if high is not None:
        spread = percentile(values, 0.99) - median
        ratios.append((high - median) / spread if spread > 0 else math.inf)
    if low is not None:
        spread = median - percentile(values, 0.01)
        ratios.append((median - low) / spread if spread > 0 else math.inf)
    return min(ratios)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def timing_table(runs: dict[str, list[RunResult]]) -> str:
    """One markdown row per (board, timing measurement, limit), its spread across runs."""
    rows = ["| board | measurement | limit | n | median | p99 | max | min | margin/spread |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for board, results in sorted(runs.items()):
        gathered: dict[tuple, list[float]] = {}
        for result in results:
            for key, values in result.timings.items():
                gathered.setdefault(key, []).extend(values)
        for (name, units, low, high), values in sorted(gathered.items(), key=lambda kv: kv[0][0]):
            limit = " ".join(filter(None, [f"≥ {_fmt(low)}" if low is not None else "",
                                           f"≤ {_fmt(high)}" if high is not None else ""]))
            ratio = margin_ratio(values, low, high)
            shown = "∞" if math.isinf(ratio) else f"{ratio:.1f}" + (" **tight**" if ratio < 2
                                                                       else "")
            rows.append(f"| {board} | {name} | {limit} {units} | {len(values)} | "
                        f"{_fmt(statistics.median(values))} | {_fmt(percentile(values, 0.99))} | "
                        f"{_fmt(max(values))} | {_fmt(min(values))} | {shown} |")
    return "\n".join(rows)


def installed_boards() -> list[tuple[str, Path]]:
    """(kit name, emulated station profile) of every installed board, from `bench boards`."""
    done = subprocess.run([sys.executable, "-m", "bench", "boards", "--json"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return [(kit["name"], Path(kit["emulated_station"])) for kit in json.loads(done.stdout)]


def run_once(station: Path, reports: Path) -> tuple[RunResult, str]:
    """One `bench run`; returns what its record says and the record's path (or a reason)."""
    done = subprocess.run([sys.executable, "-m", "bench", "run", "--station", str(station),
                           "--no-index", "--reports", str(reports)], cwd=ROOT,
                          capture_output=True, text=True)
    found = re.search(r"^record: (.+)$", done.stdout, re.MULTILINE)
    if not found or not Path(found.group(1)).is_file():
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        return RunResult("error", failures=[Failure("(run)", "error", f"exit {done.returncode}, "
                                                    f"no record: {' / '.join(tail)}", ())]), ""
    record = Path(found.group(1))
    with record.open(encoding="utf-8") as lines:
        return parse_record(lines), str(record)


@contextmanager
def cpu_load(enabled: bool) -> Iterator[int]:
    """One busy-looping process per core while the block runs; yields how many were started."""
    if not enabled:
        yield 0
        return
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(os.cpu_count() or 1)]
    try:
        yield len(busy)
    finally:
        for process in busy:
            process.terminate()
        for process in busy:
            process.wait(timeout=10)


def write_section(path: Path, mode: str, text: str) -> None:
    """Replace this mode's section of `path` (between its markers), or append it."""
    begin, end = f"<!-- soak:{mode} -->", f"<!-- /soak:{mode} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    current = path.read_text(encoding="utf-8") if path.exists() else "# Reliability\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    updated = pattern.sub(lambda _: block, current) if pattern.search(current) else \
        current.rstrip() + "\n\n" + block + "\n"
    path.write_text(updated, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=int, help="runs per board")
    parser.add_argument("--load", action="store_true", help="keep every core busy meanwhile")
    parser.add_argument("--markdown", type=Path, help="write the results into this file's "
                        "idle/loaded section")
    parser.add_argument("--reports", type=Path, help="where runs are archived (default: a "
                        "temporary folder, removed unless a run failed)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("runs must be at least 1")
    mode = "loaded" if args.load else "idle"
    reports = args.reports or Path(tempfile.mkdtemp(prefix="citebench-soak-"))
    boards = installed_boards()
    results: dict[str, list[RunResult]] = {name: [] for name, _ in boards}
    failures: list[str] = []
    started = time.monotonic()
    load_before = os.getloadavg()[0]  # other users of the machine count too: say how busy it was
    with cpu_load(args.load) as busy:
        for i in range(1, args.runs + 1):
            for name, station in boards:
                result, record = run_once(station, reports)
                results[name].append(result)
                status = "PASS" if result.verdict == "pass" else result.verdict.upper()
                print(f"run {i}/{args.runs} {name}: {status} {record}", flush=True)
                for failure in result.failures:
                    failures.append(f"run {i} {name}: {failure.describe()}")
                    print(f"    {failure.describe()}", flush=True)
    elapsed = time.monotonic() - started
    total = sum(len(r) for r in results.values())
    passes = sum(r.verdict == "pass" for rs in results.values() for r in rs)
    summary = (f"{mode}, N = {args.runs} per board ({', '.join(results)}), {busy} load "
               f"process(es): {total} runs, {passes} passed, {total - passes} failed or errored, "
               f"{elapsed / 60:.1f} min; machine load average {load_before:.1f} before, "
               f"{os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} cores")
    table = timing_table(results)
    print(f"\n{summary}\n" + "".join(f"  {f}\n" for f in failures) + f"\n{table}")
    if args.markdown:
        failed = "".join(f"- {f}\n" for f in failures) or "- none\n"
        write_section(args.markdown, mode, f"## Soak, {mode}\n\n`scripts/soak {args.runs}"
                      f"{' --load' if args.load else ''}` on {time.strftime('%Y-%m-%d')}: "
                      f"{summary}.\n\nFailures:\n{failed}\n{table}\n")
    if passes == total and not args.reports:
        shutil.rmtree(reports, ignore_errors=True)
    elif passes != total:
        print(f"records kept under {reports}")
    return 0 if passes == total else 1


if __name__ == "__main__":
    sys.exit(main())
