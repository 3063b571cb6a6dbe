"""Run every `benchmarks/bench_*.py` script in turn: one command for all the figures.

    python benchmarks/run_all.py

Each script prints its own table and exits 0 even when a goal is missed (the figures are the
product); a non-zero exit means the script itself broke, and this runner then exits 1 naming it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    broken = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n=== {script.name} ===", flush=True)
        start = time.perf_counter()
        code = subprocess.run([sys.executable, str(script)], cwd=HERE.parent).returncode
        seconds = time.perf_counter() - start
        print(f"=== {script.name}: exit {code}, {seconds:.1f} s ===", flush=True)
        if code:
            broken.append(f"{script.name} (exit {code})")
    if broken:
        print(f"\nbenchmark scripts that broke: {', '.join(broken)}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
