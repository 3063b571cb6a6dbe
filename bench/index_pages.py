"""The archive's pages, rendered from its index database: `index.html` (the latest runs, the
verdict counts, a link per day), `days/<YYYY-MM-DD>.html` and `<dut-id>/index.html` per board.

    write_for_run(root, db, row)   # after each archived run: three small pages, at any size
    write_for_runs(root, db, added, removed)   # `bench archive index`: what changed
    write_all(root, db)            # `bench archive index --rebuild`: every page

No page lists more than LATEST runs: a day or a board with more has its latest on its main page
and every run on numbered pages of LATEST beside it, so each page stays small and archiving one
run rewrites only the pages that list it. The filter form filters the rows of the page it is
on (JavaScript, optional: the table reads without it); `bench archive query` writes a page of
the runs matching any filter over the whole archive.
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
          days: list | None = None, damaged: list | None = None,
          pages: list[tuple[str, object]] | None = None) -> Path:
    """`pages`: (link, label) of the listing's other pages."""
    return write_atomic(target, render(
        "runs.html", script=FILTER_SCRIPT, title=heading, heading=heading, summary=summary,
        runs=runs, home=home, days=days or [], damaged=damaged or [], pages=pages or [],
        verdicts=VERDICTS))


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


def _listing(root: Path, db: sqlite3.Connection, main: Path, heading: str, filters: Filters,
             since: RunRow | None = None) -> Path:
    """A listing's main page (its latest LATEST runs, like the home page) and, past LATEST runs,
    its numbered pages beside it in `<main's stem>/` (`index.html`: in `pages/`): page 1 the
    oldest LATEST runs, and so on, so a new run changes only the last page (and the one before
    when it opens a page: its `next` link is new). `since`: the oldest run just added, so only
    the pages from its own on are rewritten (all if there were none). A listing left without
    runs loses its pages."""
    total = index_db.count(db, filters)
    folder = main.parent / ("pages" if main.stem == "index" else main.stem)
    home = "../" * len(main.relative_to(root).parts[:-1])
    numbers = range(1, (total + LATEST - 1) // LATEST + 1) if total > LATEST else range(0)
    first = 1
    if since is not None and (folder / "1.html").exists():
        first = index_db.count(db, filters, before=since) // LATEST + 1
        first -= first > 1 and not (folder / f"{first}.html").exists()
    elif since is None and folder.is_dir():  # runs removed: drop the pages past the last
        for stale in folder.glob("*.html"):
            if not stale.stem.isdigit() or int(stale.stem) not in numbers:
                stale.unlink()
    for n in numbers[first - 1:]:
        block = index_db.runs(db, filters, LATEST, (n - 1) * LATEST, oldest_first=True)
        links = [(f"../{main.name}", "latest runs and every page")]
        links += [(f"{n - 1}.html", "previous")] if n > 1 else []
        links += [(f"{n + 1}.html", "next")] if n < len(numbers) else []
        _page(folder / f"{n}.html", f"{heading}, page {n}",
              f"Runs {(n - 1) * LATEST + 1} to {(n - 1) * LATEST + len(block)}, counted from "
              "the oldest; newest first on the page.", block[::-1], f"../{home}", pages=links)
    if not total:
        main.unlink(missing_ok=True)
        return main
    latest = index_db.runs(db, filters, limit=LATEST)
    listed = (f"{total} run(s)." if total <= LATEST else
              f"{total} run(s); the latest {LATEST} are listed, every run on the pages below.")
    return _page(main, heading, listed, latest, home,
                 pages=[(f"{folder.name}/{n}.html", n) for n in numbers])


def write_day(root: Path, db: sqlite3.Connection, day: str, since: RunRow | None = None
              ) -> Path:
    return _listing(root, db, root / DAYS / f"{day}.html", f"Runs of {day}",
                    Filters(since=day, until=day), since)


def write_board(root: Path, db: sqlite3.Connection, folder: str, since: RunRow | None = None
                ) -> Path:
    """The page of a board folder: the runs stored in it (those of one identity; two only in
    a folder named before identities got `~` names, and then both are listed and named)."""
    ids = [i for (i,) in db.execute(f"SELECT DISTINCT unique_id FROM runs "
                                    f"WHERE {index_db.BOARD_FOLDER} = ? ORDER BY 1", (folder,))]
    return _listing(root, db, root / folder / "index.html", "Board " + " and ".join(ids),
                    Filters(folder=folder), since)


def write_for_run(root: Path, db: sqlite3.Connection, row: RunRow) -> None:
    """The pages that list `row`: home, its day, its board."""
    write_for_runs(root, db, [row], [])


def write_for_runs(root: Path, db: sqlite3.Connection, added: list[RunRow],
                   removed: list[RunRow]) -> None:
    """The pages that list runs just added or removed: home, their days and boards (and the
    list of days when a day got its first run or lost its last), and nothing else; then the
    added runs are `published`."""
    days: dict[str, RunRow | None] = {}
    boards: dict[str, RunRow | None] = {}
    for row in added:  # a listing rewrites from the page of its oldest new run on
        for listing, key in ((days, row.day), (boards, row.folder.partition("/")[0])):
            other = listing.get(key, row)
            listing[key] = None if other is None else min(
                row, other, key=lambda r: (r.started, r.folder))
    for row in removed:  # every page of the listing
        days[row.day] = boards[row.folder.partition("/")[0]] = None
    for day, since in days.items():
        write_day(root, db, day, since)
    for folder, since in boards.items():
        write_board(root, db, folder, since)
    if (any(index_db.runs_on(db, day) in (0, 1) for day in days)
            or not (root / DAYS / "index.html").exists()):
        write_day_list(root, db)
    write_home(root, db)
    index_db.published(db, [row.folder for row in added])


def write_all(root: Path, db: sqlite3.Connection) -> Path:
    """Every page: home, each day, each board (and bench.stats writes the statistics)."""
    for (day,) in db.execute("SELECT DISTINCT day FROM runs"):
        write_day(root, db, day)
    boards = db.execute(f"SELECT DISTINCT {index_db.BOARD_FOLDER} FROM runs")
    for (folder,) in boards.fetchall():
        write_board(root, db, folder)
    write_day_list(root, db)
    index_db.published(db, [folder for (folder,) in db.execute("SELECT folder FROM unpublished")])
    return write_home(root, db)


def write_query(root: Path, db: sqlite3.Connection, filters: Filters, target: Path) -> Path:
    """A page of every run matching `filters`, over the whole archive (links relative to root)."""
    runs = index_db.runs(db, filters, limit=1_000_000)
    home = Path(os.path.relpath(root.resolve(), target.resolve().parent)).as_posix()
    prefix = "" if home == "." else f"{home}/"
    return _page(target, f"Runs: {filters or 'all'}", f"{len(runs)} run(s).", runs, prefix)
