"""Archive benchmarks: the cost of archiving one run as the archive grows, and the pages and
statistics rendered over a large archive, each figure beside its reference.

    python benchmarks/bench_archive.py                  # about 5 min on 2 cores
    python benchmarks/bench_archive.py --large 3000     # quicker
    python benchmarks/bench_archive.py --only 3 4       # the busy listing and `archive index`

1. Archiving one run (a record of 30 steps and 30 numeric measurements, a report, a JUnit file,
   30 attachments): `archive.store` (rename, manifest, ledger entry, index row) then
   `archive.publish` (home page, day page, board page), each with a fresh database connection as
   each `bench run` process has, median of 20 runs, into archives that already hold 100 runs (the
   reference), 3,000 and 30,000 (a lab's year at 100 boards a day, about 300 days). Goal: flat,
   at most 50 ms at 30,000 (what still grows is the depth of SQLite's B-trees: logarithmic). The
   older runs are synthesized straight into the database and the ledger (archiving one run never
   reads the older run folders), with 30 numeric measurements per run.
2. Over the 30,000-run archive: the home page, one day page and the statistics page (three SQL
   passes over the latest run of each board), goal at most 2 s together; and a full rebuild of
   every page (`bench archive index` without re-reading the records), for information.
3. A busy listing: 30,000 runs of one board on one day (a reference board retested all day, or
   a batch), then the pages of one more run (home, day, board: what each `bench run` writes),
   beside the home page (the reference: LATEST runs, any archive size). Goal: no page over
   100 KiB; the time is shown as a multiple of the home page's (five pages of at most LATEST
   runs are written: home, day, board, and the last numbered page of each). At 1efa20e the day
   and board pages listed every run: 14 MB each, 5.7 s for the pages of one run on this
   machine under load (1.5-1.7 s per page for an outside tester).
4. `bench archive index` (index, pages, statistics) over 30,000 real run folders (a record of
   30 steps, JUnit, manifest): a rebuild (`--rebuild`: what every `archive index` did at
   1efa20e, 42-51 s for an outside tester), then incremental with nothing new and with one new
   run. Goal: incremental at most 5 % of the rebuild.

Always exits 0 when the measurements ran: the figures are the product; missed goals are shouted.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import archive, index_db, index_pages, ledger, stats
from bench.measure import Measurement, Outcome
from bench.record import RunRecord

STEPS = 30
DAY = 86400.0
START = 1.8e9  # 2027-01-15T08:00:00Z
BUSY_END = START + 15 * 3600  # 23:00 the same day
SCRATCH = tempfile.TemporaryDirectory(prefix="bench-archive-")  # every archive, removed at exit


def staged_run(root: Path, serial: str, at: float, rng: random.Random) -> Path:
    """A finished run of a 30-step plan, staged for archiving."""
    staging = root / archive.INCOMING / f"{serial}-{at}"
    record = RunRecord(staging / "record.jsonl")
    record.start({"id": "desk-1", "host": "bench"}, {"citebench": "0.1.0"}, "ci")
    record.dut({"unique_id": serial, "board": "ws100", "firmware": "1.4.2"})
    for step in range(STEPS):
        taken = [Measurement.judge(f"value {step}", 3.3 + rng.gauss(0, 0.03), units="V",
                                   low=3.2, high=3.4)]
        record.step(f"testplans/test_plan.py::test_{step}", "A step.", taken[0].outcome, taken,
                    [("serial traffic", "text/plain", f"{serial} step {step}\n" * 20)], 0.0, 0.1)
    record.end(Outcome.PASS)
    record.close()
    lines = record.path.read_text().splitlines()
    lines[0] = lines[0].replace('"time": ', f'"time": {at}, "was": ', 1)
    record.path.write_text("\n".join(lines) + "\n")
    (staging / "report.html").write_text("<html>" + "x" * 200_000 + "</html>")
    (staging / "junit.xml").write_text("<testsuites/>")
    return staging


def synthesize_history(root: Path, runs: int, rng: random.Random, busy: str = "") -> None:
    """`runs` older runs straight into the index database and the ledger: 100 a day, each board
    tested once and one in ten retested, 30 measurements each; or, with `busy`, every run of
    that one board, a second apart, ending at BUSY_END (at most a day of them)."""
    db = index_db.connect(root)
    rows, measurements = [], []
    for n in range(runs):
        at = BUSY_END - (runs - n) if busy else START - (runs - n) * DAY / 100 * 1.2
        serial = busy or f"CB-WS1-{n - (n % 10 == 1):06d}"
        day = time.strftime("%Y-%m-%d", time.gmtime(at))
        started = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(at))
        folder = f"{serial}/{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(at))}_PASS"
        rows.append((folder, serial, "ws100", started, day, "PASS", "testplans/test_plan.py",
                     "1.4.2", "desk-1", "ci", STEPS, 0, STEPS, "", ""))
        offset = rng.gauss(0, 0.02)
        measurements += [(folder, serial, s + 1, 3.3 + offset + rng.gauss(0, 0.03), 1, 0)
                         for s in range(STEPS)]
    db.execute("BEGIN")
    db.executemany("INSERT INTO series VALUES (?, ?, ?, ?, ?, ?)",
                   [(s + 1, f"testplans/test_plan.py::test_{s}", f"value {s}", "V", 3.2, 3.4)
                    for s in range(STEPS)])
    db.executemany(f"INSERT INTO runs VALUES ({', '.join('?' * 15)})", rows)
    db.executemany("INSERT INTO measurements VALUES (?, ?, ?, ?, ?, ?)", measurements)
    index_db.after_bulk(db)
    db.execute("COMMIT")
    previous = ledger.GENESIS
    with (root / ledger.LEDGER).open("w", encoding="ascii") as out:
        for seq, row in enumerate(rows, 1):
            entry = {"seq": seq, "time": START, "run": row[0], "verdict": "PASS",
                     "manifest_sha256": f"{seq:064x}", "prev": previous}
            entry["hash"] = previous = ledger.entry_hash(entry)
            out.write(json.dumps(entry) + "\n")


def archiving_cost(existing: int, samples: int) -> tuple[float, float, float]:
    """Median seconds of store, of publish, and of both, per run, into an archive of `existing`."""
    rng = random.Random(20261128)
    root = Path(tempfile.mkdtemp(prefix=f"bench-archive-{existing}-", dir=SCRATCH.name))
    synthesize_history(root, existing, rng)
    staged = [staged_run(root / "work", f"CB-NEW-{k:04d}", START + k * 60, rng)
              for k in range(samples + 1)]
    store_s, publish_s = [], []
    archive.publish(root, archive.store(staged.pop(), root))  # warm-up: templates, page cache
    for staging in staged:
        begin = time.perf_counter()
        db = index_db.connect(root)
        run = archive.store(staging, root, db)
        middle = time.perf_counter()
        archive.publish(root, run, db)
        db.close()
        store_s.append(middle - begin)
        publish_s.append(time.perf_counter() - middle)
    total = [a + b for a, b in zip(store_s, publish_s, strict=True)]
    return statistics.median(store_s), statistics.median(publish_s), statistics.median(total)


def clock(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def rendering(runs: int) -> None:
    rng = random.Random(7)
    root = Path(tempfile.mkdtemp(prefix="bench-pages-", dir=SCRATCH.name))
    synthesize_history(root, runs, rng)
    db = index_db.connect(root)
    day = db.execute("SELECT day FROM runs ORDER BY started DESC LIMIT 1").fetchone()[0]
    home = clock(lambda: index_pages.write_home(root, db))
    one_day = clock(lambda: index_pages.write_day(root, db, day))
    statistics_s = clock(lambda: stats.write_statistics(root, db))
    together = home + one_day + statistics_s
    rebuild = clock(lambda: index_pages.write_all(root, db))
    verdict = "met" if together <= 2.0 else "MISSED"
    print(f"\n2. pages over {runs:,} runs ({runs * STEPS:,} measurements)")
    print(f"   home page            {home * 1e3:8.1f} ms   "
          f"{(root / 'index.html').stat().st_size / 2**10:6.0f} KiB")
    print(f"   one day page         {one_day * 1e3:8.1f} ms   "
          f"{(root / 'days' / f'{day}.html').stat().st_size / 2**10:6.0f} KiB")
    print(f"   statistics page      {statistics_s * 1e3:8.1f} ms   "
          f"{(root / stats.STATISTICS).stat().st_size / 2**10:6.0f} KiB")
    print(f"   together             {together:8.2f} s    (goal <= 2 s: {verdict})")
    print(f"   every page rebuilt   {rebuild:8.2f} s    (every day and board page; information)")


def _kib(path: Path) -> str:
    return f"{path.stat().st_size / 2**10:8.0f} KiB"


def busy_listing(runs: int) -> None:
    """The pages of one more run on a day and a board that already hold `runs` runs."""
    root = Path(tempfile.mkdtemp(prefix="bench-busy-", dir=SCRATCH.name))
    synthesize_history(root, min(runs, 80_000), random.Random(11), busy="CB-GOLDEN")
    db = index_db.connect(root)
    index_pages.write_all(root, db)  # the pages as the runs before left them
    staged = staged_run(root / "work", "CB-GOLDEN", BUSY_END + 60, random.Random(12))
    run = archive.store(staged, root, db)
    row = index_db.get(db, run.relative_to(root).as_posix())
    home = clock(lambda: index_pages.write_home(root, db))
    one_run = clock(lambda: index_pages.write_for_run(root, db, row))
    day = root / index_pages.DAYS / f"{row.day}.html"
    board = run.parent / "index.html"
    numbered = sorted(run.parent.glob("pages/*.html"), key=lambda p: p.stat().st_size)
    print(f"\n3. one board, one day, {runs + 1:,} runs: the pages of one more run")
    print(f"   home page (reference) {home * 1e3:7.1f} ms {_kib(root / archive.INDEX)}")
    largest = max(path.stat().st_size for path in (day, board, *numbered[-1:]))
    goal = "met" if largest <= 100 * 2**10 else "MISSED"
    print(f"   its pages (home, day, board) {one_run * 1e3:7.1f} ms "
          f"({one_run / home:.1f}x the home page; 1efa20e: 5.7 s)")
    print(f"   day page              {'':10} {_kib(day)}")
    print(f"   board page            {'':10} {_kib(board)}")
    if numbered:
        print(f"   numbered pages        {len(numbered):7,d}    largest {_kib(numbered[-1])}")
    print(f"   goal: no page over 100 KiB (1efa20e: 14 MB each): {goal}")


def real_archive(root: Path, runs: int) -> None:
    """`runs` sealed run folders (a record of 30 steps, JUnit, manifest), 100 a day, one record
    written for real and copied with each run's serial and start time."""
    template = staged_run(root / "work", "CB-WS1-TEMPLATE", START, random.Random(5))
    text = (template / archive.RECORD).read_text()
    for n in range(runs):
        at = START - (runs - n) * DAY / 100 * 1.2
        serial = f"CB-WS1-{n:06d}"
        run = root / serial / time.strftime("%Y%m%dT%H%M%SZ_PASS", time.gmtime(at))
        (run / "attachments").mkdir(parents=True)
        (run / archive.RECORD).write_text(
            text.replace("CB-WS1-TEMPLATE", serial).replace(f'"time": {START}', f'"time": {at}'))
        (run / "junit.xml").write_text("<testsuites/>")
        archive.write_manifest(run)


def index_command(root: Path, rebuild: bool = False) -> None:
    """What `bench archive index` does once it has recovered killed runs."""
    archive.write_index(root, rebuild)
    stats.write_statistics(root)


def archive_index(runs: int) -> None:
    """`bench archive index` at `runs` run folders: rebuilt, then incremental."""
    with tempfile.TemporaryDirectory(prefix="bench-index-", dir=SCRATCH.name) as folder:
        root = Path(folder)
        made = clock(lambda: real_archive(root, runs))
        rebuild = clock(lambda: index_command(root, rebuild=True))
        nothing = clock(lambda: index_command(root))
        staged = staged_run(root / "work2", "CB-NEW-0001", START + 60, random.Random(6))
        archive.store(staged, root)  # as `bench run --no-index` leaves it
        one_new = clock(lambda: index_command(root))
        goal = "met" if one_new <= 0.05 * rebuild else "MISSED"
        print(f"\n4. bench archive index over {runs:,} run folders (made in {made:.0f} s)")
        print(f"   --rebuild (reference)   {rebuild:8.2f} s    (every record and page, statistics)")
        print(f"   incremental, nothing new {nothing:7.2f} s")
        print(f"   incremental, one new run {one_new:7.2f} s    "
              f"({one_new / rebuild:.1%} of the rebuild; goal <= 5 %: {goal})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--large", type=int, default=30_000, help="runs in the large archive")
    parser.add_argument("--samples", type=int, default=20, help="runs archived per size")
    parser.add_argument("--only", type=int, nargs="+", default=[1, 2, 3, 4],
                        help="the parts to run (1-4, see above)")
    args = parser.parse_args()
    if 1 in args.only:
        archiving(args.large, args.samples)
    if 2 in args.only:
        rendering(args.large)
    if 3 in args.only:
        busy_listing(args.large)
    if 4 in args.only:
        archive_index(args.large)
    return 0


def archiving(large: int, samples: int) -> None:
    sizes = [100, large // 10, large]
    costs = {size: archiving_cost(size, samples) for size in sizes}
    print(f"1. archiving one run ({STEPS} steps), median of {samples}")
    print(f"   {'archive holds':>16} {'store':>9} {'publish':>9} {'total':>9} {'vs 100':>7}")
    for size, (store_s, publish_s, total) in costs.items():
        label = f"{size:,}" + (" (reference)" if size == 100 else "")
        print(f"   {label:>16} {store_s * 1e3:7.1f}ms {publish_s * 1e3:7.1f}ms "
              f"{total * 1e3:7.1f}ms {total / costs[100][2]:6.2f}x")
    cost = costs[large][2]
    cheap = "met" if cost <= 0.050 else "MISSED"
    print(f"   {cost * 1e3:.1f} ms per run at {large:,} runs (goal <= 50 ms: {cheap}); "
          f"{large // 100}x the runs cost {cost / costs[100][2]:.2f}x the time")


if __name__ == "__main__":
    sys.exit(main())
