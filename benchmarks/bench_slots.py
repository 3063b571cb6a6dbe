"""Slots benchmark: the wall time of 1, 4 and 8 emulated boards tested at once, side by side.

    python benchmarks/bench_slots.py                 # about 1 min on 2 cores
    python benchmarks/bench_slots.py --repeat 5 --plan testplans/ws100/test_identification.py

Each figure is `bench run --slots` on fixtures/ws100-slots.toml (four WS-100 boards on one
emulated N6705C and one meter, one process per slot), start to batch exit code: 1 board is
`--slots 1`, 4 boards `--slots all`, 8 boards two such stations' batches started together (the
N6705C has four channels: eight boards need two supplies). Each figure is the median of
`--repeat` rounds (1, 4 and 8 boards in turn, so a slow spell of the machine weighs on all
three), printed with its spread: one round on a shared two-core machine varies by 20 %. Goals:
4 boards in at most 1.5x the time of one, 8 in at most 2x. Every batch must PASS, or the figure
is not a measurement.

Always exits 0 when the measurements ran: the figures are the product; missed goals are shouted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATION = ROOT / "fixtures" / "ws100-slots.toml"
PLANS = ("testplans/ws100/test_identification.py", "testplans/ws100/test_sensors.py",
         "testplans/ws100/test_power_on.py")
GOALS = {1: None, 4: 1.5, 8: 2.0}


def batches(slots: str, count: int, plans: list[str], reports: Path) -> float:
    """Seconds from starting `count` batches of `--slots slots` at once to the last one's end."""
    command = [sys.executable, "-m", "bench", "run", "--station", str(STATION), "--slots",
               slots, "--reports", str(reports), "--no-index",
               *(arg for plan in plans for arg in ("--plan", plan))]
    start = time.perf_counter()
    running = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
               for _ in range(count)]
    outputs = [process.communicate()[0] for process in running]
    seconds = time.perf_counter() - start
    for process, output in zip(running, outputs, strict=True):
        if process.returncode != 0:
            sys.exit(f"bench_slots: a batch of --slots {slots} ended with exit code "
                     f"{process.returncode}, so its time is no measurement:\n{output}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", action="append", help="plan(s) each slot runs")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3): medians")
    args = parser.parse_args()
    plans = args.plan or list(PLANS)
    rounds: dict[int, list[float]] = {boards: [] for boards in GOALS}
    with tempfile.TemporaryDirectory() as reports:
        for _ in range(args.repeat):
            rounds[1].append(batches("1", 1, plans, Path(reports)))
            rounds[4].append(batches("all", 1, plans, Path(reports)))
            rounds[8].append(batches("all", 2, plans, Path(reports)))
    figures = {boards: statistics.median(seconds) for boards, seconds in rounds.items()}
    print(f"plans: {' '.join(plans)}; medians of {args.repeat} rounds")
    print(f"{'boards':>6} {'wall s':>8} {'spread':>11} {'x one':>7} {'goal':>6}  met")
    for boards, seconds in figures.items():
        ratio = seconds / figures[1]
        goal = GOALS[boards]
        met = "" if goal is None else ("yes" if ratio <= goal else "NO  <-- goal missed")
        spread = f"{min(rounds[boards]):.1f}-{max(rounds[boards]):.1f}"
        print(f"{boards:>6} {seconds:>8.1f} {spread:>11} {ratio:>7.2f} "
              f"{'' if goal is None else goal:>6}  {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
