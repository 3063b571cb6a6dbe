"""The archive's SQLite index and the pages rendered from it: small pages at any size, per day
and per board, filters over the whole archive, a rebuild that equals the incremental result, and
several benches archiving into one folder at once without losing a run."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from bench import archive, audit, index_db, index_pages, ledger
from bench.cli import main
from bench.measure import Outcome
from tests.plan_runner import ROOT
from tests.test_archive import staged_run

DAY = 86400.0


def _archive(root: Path, runs: list[tuple[str, Outcome, float]]) -> list[Path]:
    done = []
    for serial, verdict, at in runs:
        run = archive.store(staged_run(root, serial, verdict, at), root)
        archive.publish(root, run)
        done.append(run)
    return done


def test_benches_opening_a_new_archive_at_once_all_get_its_index(tmp_path: Path) -> None:
    # the slots of a batch start together; each brought the index's columns up to date, and all
    # but one failed ("duplicate column name: marginal"): their runs were not archived
    errors: list[Exception] = []

    def open_it(root: Path, start: threading.Barrier) -> None:
        start.wait()
        try:
            index_db.connect(root).close()
        except Exception as error:
            errors.append(error)

    for round_ in range(10):
        root, start = tmp_path / str(round_), threading.Barrier(6)
        threads = [threading.Thread(target=open_it, args=(root, start)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        columns = {row[1] for row in index_db.connect(root).execute(
            "PRAGMA table_info(measurements)")}
        assert "marginal" in columns


def test_home_page_lists_the_latest_runs_and_links_every_day(tmp_path: Path) -> None:
    runs = [(f"CB-{n % 7}", Outcome.FAIL if n % 5 == 0 else Outcome.PASS, 1.8e9 + n * DAY / 40)
            for n in range(index_pages.LATEST + 30)]
    _archive(tmp_path, runs)
    home = (tmp_path / "index.html").read_text()
    assert home.count("<tr data-board") == index_pages.LATEST
    assert f"{len(runs)} runs: 26 FAIL, 104 PASS." in home
    days = sorted(p.stem for p in (tmp_path / "days").glob("2*.html"))
    assert days == ["2027-01-15", "2027-01-16", "2027-01-17", "2027-01-18"]
    assert all(f'href="days/{day}.html"' in home for day in days)
    every_day = (tmp_path / "days" / "index.html").read_text()
    assert all(f'href="../days/{day}.html"' in every_day for day in days)
    day_rows = sum((tmp_path / "days" / f"{d}.html").read_text().count("<tr data-board")
                   for d in days)
    assert day_rows == len(runs)  # every run is on exactly one day page
    board = (tmp_path / "CB-3" / "index.html").read_text()
    assert board.count("<tr data-board") == sum(s == "CB-3" for s, _, _ in runs)
    assert 'href="../CB-3/' in board and 'href="../index.html"' in board


def test_rebuild_from_the_records_equals_the_incremental_index(tmp_path: Path) -> None:
    _archive(tmp_path, [("CB-1", Outcome.PASS, 1.8e9), ("CB-2", Outcome.FAIL, 1.8e9 + 60)])
    db = index_db.connect(tmp_path)
    before = index_db.runs(db)
    (tmp_path / index_db.DATABASE).unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp_path / index_db.DATABASE}{suffix}").unlink(missing_ok=True)
    archive.write_index(tmp_path)
    assert index_db.runs(index_db.connect(tmp_path)) == before


def test_query_filters_the_whole_archive(tmp_path: Path, capsys) -> None:
    _archive(tmp_path, [("CB-1", Outcome.PASS, 1.8e9), ("CB-2", Outcome.FAIL, 1.8e9 + DAY),
                        ("CB-2", Outcome.PASS, 1.8e9 + 2 * DAY),
                        ("CB-3", Outcome.FAIL, 1.8e9 + 3 * DAY)])
    out = tmp_path / "reports-fail.html"
    assert main(["archive", "query", str(tmp_path), "--verdict", "FAIL", "--since",
                 "2027-01-16", "--until", "2027-01-17", "-o", str(out)]) == 0
    assert capsys.readouterr().out.startswith("1 run(s): ")
    page = out.read_text()
    assert page.count("<tr data-board") == 1 and 'href="CB-2/20270116T080000Z_FAIL' in page
    db = index_db.connect(tmp_path)
    assert index_db.count(db, index_db.Filters(board="CB-2")) == 2
    assert index_db.count(db, index_db.Filters(firmware="1.4.2")) == 4
    assert index_db.count(db, index_db.Filters(plan="no-such-plan")) == 0


WRITER = """
import sys
from pathlib import Path
from bench import archive
from bench.measure import Outcome
from tests.test_archive import staged_run

root, writer = Path(sys.argv[1]), int(sys.argv[2])
work = root.parent / f"work-{writer}"
for n in range(12):
    staged = staged_run(work, f"CB-{n % 3}", Outcome.PASS, 1.8e9 + n // 4)  # same folders
    target = root / archive.INCOMING / f"w{writer}-{n}"
    target.parent.mkdir(parents=True, exist_ok=True)
    staged.rename(target)
    archive.publish(root, archive.store(target, root))
"""


def test_benches_archiving_into_one_folder_at_once_lose_nothing(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(w)], cwd=ROOT)
               for w in range(4)]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    entries, problems = ledger.chain(root)
    assert problems == [] and len(entries) == 48
    assert len({e["run"] for e in entries}) == 48 and len(archive.find_runs(root)) == 48
    assert index_db.count(index_db.connect(root)) == 48
    assert audit.audit(root).intact
    assert "48 runs: 48 PASS." in (root / "index.html").read_text()
