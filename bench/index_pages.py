"""The archive's pages, rendered from its index database: `index.html` (the latest runs, the
verdict counts, a link per day), `days/<YYYY-MM-DD>.html` and `<dut-id>/index.html` per board.

    write_for_run(root, db, row)   # after each archived run: three small pages, at any size
    write_all(root, db)            # `bench archive index`: every page and the statistics

No page lists the whole archive, so each stays small and archiving one run rewrites only the
pages that list it. The filter form filters the rows of the page it is on (JavaScript, optional:
the table reads without it); `bench archive query` writes a page of the runs matching any filter
over the whole archive.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from bench import index_db
from bench.index_db import Filters, RunRow
from bench.measure import Outcome
from bench.pages import render, write_atomic
from bench.record import INCOMPLETE

LATEST = 100  # runs on the home page
RECENT_DAYS = 60  # day links on the home page; every day is on days/index.html
DAYS = "days"
VERDICTS = [o.name for o in Outcome] + [INCOMPLETE]

FILTER_SCRIPT = """
const form = document.getElementById("filters");
form.hidden = false;
form.addEventListener("input", () => {
  const board = form.board.value.toLowerCase(), verdict = form.verdict.value;
  const plan = form.plan.value.toLowerCase(), firmware = form.firmware.value.toLowerCase();
  const from = form.from.value, to = form.to.value;
  for (const row of document.querySelectorAll("#runs tbody tr")) {
    const day = row.dataset.started.slice(0, 10);
    row.hidden = !(row.dataset.board.toLowerCase().includes(board)
      && (!verdict || row.dataset.verdict === verdict)
      && row.dataset.plan.toLowerCase().includes(plan)
      && row.dataset.firmware.toLowerCase().includes(firmware)
      && (!from || day >= from) && (!to || day <= to));
  }
});
"""


def _summary(db: sqlite3.Connection) -> str:
    counts = index_db.verdict_counts(db)
    total = sum(counts.values())
    return f"{total} runs: " + (", ".join(f"{n} {v}" for v, n in counts.items()) or "none") + "."


def _page(target: Path, heading: str, summary: str, runs: list[RunRow], home: str,
          days: list | None = None, damaged: list | None = None) -> Path:
    return write_atomic(target, render(
        "runs.html", script=FILTER_SCRIPT, title=heading, heading=heading, summary=summary,
        runs=runs, home=home, days=days or [], damaged=damaged or [], verdicts=VERDICTS))


def write_home(root: Path, db: sqlite3.Connection) -> Path:
    runs = index_db.runs(db, limit=LATEST)
    summary = (_summary(db) + f" The latest {len(runs)} are listed; the last {RECENT_DAYS} days "
               "below, every day in days/index.html.")
    return _page(root / "index.html", "citebench archive", summary, runs, "",
                 index_db.days(db, RECENT_DAYS), index_db.damaged(db))


def write_day_list(root: Path, db: sqlite3.Connection) -> Path:
    """Every day with runs: one line each, rewritten when a day gets its first run."""
    return _page(root / DAYS / "index.html", "Runs by day", _summary(db), [], "../",
                 index_db.days(db))


def write_day(root: Path, db: sqlite3.Connection, day: str) -> Path:
    runs = index_db.runs(db, Filters(since=day, until=day), limit=1_000_000)
    return _page(root / DAYS / f"{day}.html", f"Runs of {day}", f"{len(runs)} run(s).", runs,
                 "../")


def write_board(root: Path, db: sqlite3.Connection, unique_id: str, folder: str) -> Path:
    runs = index_db.runs(db, Filters(board=unique_id), limit=1_000_000)
    return _page(root / folder / "index.html", f"Board {unique_id}", f"{len(runs)} run(s).",
                 runs, "../")


def write_for_run(root: Path, db: sqlite3.Connection, row: RunRow) -> None:
    """The pages that list `row`: home, its day, its board."""
    write_home(root, db)
    write_day(root, db, row.day)
    write_board(root, db, row.unique_id, row.folder.partition("/")[0])
    if index_db.runs_on(db, row.day) == 1 or not (root / DAYS / "index.html").exists():
        write_day_list(root, db)


def write_all(root: Path, db: sqlite3.Connection) -> Path:
    """Every page: home, each day, each board (and bench.stats writes the statistics)."""
    for (day,) in db.execute("SELECT DISTINCT day FROM runs"):
        write_day(root, db, day)
    boards = db.execute("SELECT DISTINCT unique_id, substr(folder, 1, instr(folder, '/') - 1) "
                        "FROM runs")
    for unique_id, folder in boards.fetchall():
        write_board(root, db, unique_id, folder)
    write_day_list(root, db)
    return write_home(root, db)


def write_query(root: Path, db: sqlite3.Connection, filters: Filters, target: Path) -> Path:
    """A page of every run matching `filters`, over the whole archive (links relative to root)."""
    runs = index_db.runs(db, filters, limit=1_000_000)
    home = Path(os.path.relpath(root.resolve(), target.resolve().parent)).as_posix()
    prefix = "" if home == "." else f"{home}/"
    return _page(target, f"Runs: {filters or 'all'}", f"{len(runs)} run(s).", runs, prefix)
