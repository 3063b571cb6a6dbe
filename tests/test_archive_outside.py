"""The archive against what an outside tester found (issue 17): identities named like the
archive's own files, look-alike identities, an index edited by hand, pages that listed every run
of a day or a board, an index rebuilt from scratch every time; and the index's counting and
ordering that no test pinned (mutation survivors)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from bench import archive, audit, incoming, index_db, index_pages, ledger
from bench.cli import main
from bench.measure import Measurement, Outcome
from bench.record import RunRecord, load_record
from tests.test_archive import staged_run
from tests.test_stats import archive_board

DAY = 86400.0


def _archived(root: Path, serial: str, verdict: Outcome = Outcome.PASS, at: float = 1.8e9
              ) -> Path:
    run = archive.store(staged_run(root, serial, verdict, at), root)
    archive.publish(root, run)
    return run


def _folders(page: Path, root: Path) -> list[str]:
    """The run folders (relative to the archive root) a page links, in its order."""
    found = []
    for part in page.read_text().split('/record.jsonl">record</a>')[:-1]:
        link = part.rpartition('<a href="')[2]
        found.append((page.parent / link).resolve().relative_to(root.resolve()).as_posix())
    return found


# Item 4: identities named like the archive's own files.

@pytest.mark.parametrize("serial", ["ledger.jsonl", "index.sqlite", "index.sqlite-wal",
                                    "query.html", "statistics.html", "days", ".incoming"])
def test_a_serial_named_like_a_file_of_the_archive_is_archived_beside_it(
        tmp_path: Path, serial: str) -> None:
    _archived(tmp_path, "CB-1")
    assert main(["archive", "query", str(tmp_path)]) == 0  # query.html
    assert main(["archive", "index", str(tmp_path)]) == 0  # statistics.html
    own = {path.name: path.is_file() for path in tmp_path.iterdir()}
    run = _archived(tmp_path, serial, at=1.8e9 + 60)
    assert run.parent.name != serial and run.parent.parent == tmp_path
    assert {path.name: path.is_file() for path in tmp_path.iterdir() if path.name in own} == own
    assert load_record(run / archive.RECORD).unique_id == serial
    assert audit.audit(tmp_path).intact and not list((tmp_path / archive.INCOMING).glob("*/"))


def test_one_killed_run_that_cannot_be_archived_does_not_hold_back_the_others(
        tmp_path: Path, capsys) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "reports"
    root.mkdir()
    (root / "CB-1").symlink_to(elsewhere)  # its board folder leads outside: refused
    stuck = staged_run(root, "CB-1")  # staged without a lock held: their processes are gone
    staged_run(root, "CB-2", at=1.8e9 + 60)
    assert main(["archive", "index", str(root)]) == 0
    assert "not archived" in capsys.readouterr().out
    (run,) = archive.find_runs(root)
    assert run.parent.name == "CB-2" and stuck.is_dir() and list(elsewhere.iterdir()) == []
    result = audit.audit(root)
    assert [(p.kind, p.path) for p in result.archive] == [
        ("unarchived", stuck.relative_to(root).as_posix())]
    assert not result.intact
    assert main(["archive", "verify", str(root)]) == 1
    assert f"ARCHIVE  unarchived: {stuck.relative_to(root).as_posix()}" in capsys.readouterr().out


def test_verify_leaves_a_run_in_progress_alone(tmp_path: Path) -> None:
    _archived(tmp_path, "CB-1")
    live = incoming.claim(tmp_path, "20270115T090000Z-4242")  # this process holds its lock
    (live / archive.RECORD).write_text("")
    try:
        assert audit.audit(tmp_path).intact
    finally:
        incoming.release(live)
    assert [p.kind for p in audit.audit(tmp_path).archive] == ["unarchived"]  # now it is dead


# Item 5: look-alike identities.

def _old_rule(serial: str) -> str:
    """The folder a changed identity got before `~` names: sanitized, `-`, 8 hex digits."""
    return f"{archive.safe_name(serial)}-{hashlib.sha256(serial.encode()).hexdigest()[:8]}"


LOOKALIKES = ["CB-WS1-000123", "CB-WS1-000123 ", "CB-WS1  000123",
              _old_rule("CB-WS1-000123 "),  # safe as it is, and the old folder of the one above
              archive.board_folder("CB-WS1-000123 ")]  # the same trick on today's folder


def test_lookalike_identities_never_share_a_folder_or_a_board_page(tmp_path: Path) -> None:
    runs = [_archived(tmp_path, serial, at=1.8e9 + n * 60) for n, serial in enumerate(LOOKALIKES)]
    assert len({run.parent for run in runs}) == len(LOOKALIKES)
    assert runs[0].parent.name == "CB-WS1-000123"
    for run in runs:
        page = run.parent / "index.html"
        assert _folders(page, tmp_path) == [run.relative_to(tmp_path).as_posix()]


def test_lookalike_identities_show_their_spaces(tmp_path: Path) -> None:
    shown = {"CB-WS1-000123 ": "CB-WS1-000123\\x20", "CB-WS1  000123": "CB-WS1\\x20\\x20000123"}
    for n, serial in enumerate(shown):
        run = _archived(tmp_path, serial, at=1.8e9 + n * 60)
        archive.rebuild_report(run / archive.RECORD, tmp_path / f"{n}.html")
        report = (tmp_path / f"{n}.html").read_text()
        board = (run.parent / "index.html").read_text()
        for page in (report, board):
            assert f"<td>{shown[serial]}</td>" in page and f"<td>{serial}</td>" not in page
        assert f"Board {shown[serial]}" in board
    home = (tmp_path / archive.INDEX).read_text()
    assert all(f"<td>{text}</td>" in home for text in shown.values())
    assert "<td>one step</td>" not in home  # a single space inside text stays a space


def test_an_archive_in_the_old_folder_layout_still_verifies_and_indexes(tmp_path: Path) -> None:
    """Runs archived under `<sanitized>-<8 hex>` before `~` names: left where they are, verified,
    indexed and listed beside the board's new folder."""
    serial = "CB-WS1-000123 "
    staging = staged_run(tmp_path, serial)
    old = tmp_path / _old_rule(serial) / "20270115T080000Z_PASS"
    old.parent.mkdir()
    staging.rename(old)  # what `archive.store` did then: seal, ledger, index
    archive.write_manifest(old)
    folder = old.relative_to(tmp_path).as_posix()
    ledger.append(tmp_path, folder, archive.file_digest(old / archive.MANIFEST), "PASS")
    view = load_record(old / archive.RECORD)
    index_db.add(index_db.connect(tmp_path), index_db.row_of(folder, view), view)
    new = _archived(tmp_path, serial, Outcome.FAIL, at=1.8e9 + DAY)
    assert new.parent != old.parent and audit.audit(tmp_path).intact
    for rebuild in (False, True):
        (tmp_path / index_db.DATABASE).unlink()
        archive.write_index(tmp_path, rebuild)
        assert audit.audit(tmp_path).intact
        db = index_db.connect(tmp_path)
        assert index_db.count(db, index_db.Filters(board=serial)) == 2
        for run in (old, new):
            assert _folders(run.parent / "index.html", tmp_path) == [
                run.relative_to(tmp_path).as_posix()]


# Item 8: the index is derived; verify compares it with the records.

def _measured_run(root: Path, serial: str, vbat: float) -> Path:
    record = RunRecord(root / archive.INCOMING / serial / archive.RECORD)
    record.start({"id": "desk-1"}, {})
    record.dut({"serial": serial})
    taken = [Measurement.judge("vbat", vbat, units="V", low=3.2, high=3.6)]
    record.step("test_power", "", taken[0].outcome, taken, [], 0.0, 1.0)
    record.end(taken[0].outcome)
    record.close()
    run = archive.store(record.path.parent, root)
    archive.publish(root, run)
    return run


EDITS = {
    "verdict FAIL to PASS": ("UPDATE runs SET verdict = 'PASS' WHERE folder = :fail",
                             ":fail", "verdict is 'PASS' in the index, 'FAIL' in the record"),
    "failed steps zeroed": ("UPDATE runs SET failed = 0 WHERE folder = :fail", ":fail",
                            "failed is 0 in the index, 1 in the record"),
    "measurement moved into limits": ("UPDATE measurements SET value = 3.3, passed = 1 "
                                      "WHERE folder = :fail", ":fail",
                                      "measurements in the index differ"),
    "run dropped": ("DELETE FROM runs WHERE folder = :fail", ":fail",
                    "archived but missing from the index"),
    "run invented": ("INSERT INTO runs (folder, verdict) VALUES ('CB-9/x', 'PASS')", "CB-9/x",
                     "in the index but no such run is archived"),
    "tally edited": ("UPDATE tally SET n = n + 5 WHERE verdict = 'PASS'", index_db.DATABASE,
                     "per day and verdict differ"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_index_is_found_by_verify_and_rebuilt(tmp_path: Path, capsys,
                                                        edit: str) -> None:
    _measured_run(tmp_path, "CB-1", 3.3)
    failed = _measured_run(tmp_path, "CB-2", 3.9).relative_to(tmp_path).as_posix()
    assert main(["archive", "verify", str(tmp_path)]) == 0
    assert "index: matches the records" in capsys.readouterr().out
    sql, where, detail = EDITS[edit]
    with sqlite3.connect(tmp_path / index_db.DATABASE) as db:
        db.execute(sql, {"fail": failed})
    result = audit.audit(tmp_path)
    found = [p for problems in (*result.runs.values(), result.archive) for p in problems]
    assert [(p.kind, p.path) for p in found] == [("index", where.replace(":fail", failed))]
    assert detail in found[0].detail and not result.intact
    assert main(["archive", "verify", str(tmp_path)]) == 1
    assert "index: 1 difference(s) from the records" in capsys.readouterr().out
    assert main(["archive", "index", "--rebuild", str(tmp_path)]) == 0
    assert audit.audit(tmp_path).intact
    assert main(["archive", "query", str(tmp_path), "--verdict", "FAIL"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("1 run(s): ")


def test_runs_of_one_board_in_one_second_verify_against_a_rebuilt_index(tmp_path: Path) -> None:
    """The latest of same-second runs is the same in the incremental index and in a rebuild."""
    for k in range(3):
        archive_board(tmp_path, "CB-1", 3.3 + k / 100, at=1.8e9 + k / 10)
    result = audit.audit(tmp_path)
    assert result.index_checked and result.intact, result


def test_verify_without_an_index_creates_none(tmp_path: Path, capsys) -> None:
    archive.store(staged_run(tmp_path, "CB-1"), tmp_path)
    for name in (index_db.DATABASE, f"{index_db.DATABASE}-wal", f"{index_db.DATABASE}-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    assert main(["archive", "verify", str(tmp_path)]) == 0
    assert f"index: none in {tmp_path}" in capsys.readouterr().out
    assert not (tmp_path / index_db.DATABASE).exists()


# Item 9: pages of at most LATEST runs; an index that follows what changed.

def test_day_and_board_pages_list_the_latest_and_page_every_run(
        tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(index_pages, "LATEST", 4)
    starts = [1.8e9 + n * 60 for n in range(11)]
    starts[7] = 1.8e9 - 60  # archived late (a recovered run): it belongs on page 1
    runs = [_archived(tmp_path, "CB-1", at=at) for at in starts]
    ordered = [run.relative_to(tmp_path).as_posix()
               for _, run in sorted(zip(starts, runs, strict=True))]
    day, board = tmp_path / "days" / "2027-01-15.html", tmp_path / "CB-1" / "index.html"
    pages = {day: tmp_path / "days" / "2027-01-15", board: tmp_path / "CB-1" / "pages"}
    incremental = {}
    for main_page, folder in pages.items():
        assert _folders(main_page, tmp_path) == ordered[::-1][:4]
        assert "11 run(s); the latest 4 are listed" in main_page.read_text()
        numbered = [folder / f"{n}.html" for n in (1, 2, 3)]
        assert sorted(folder.iterdir()) == numbered
        assert [_folders(page, tmp_path) for page in numbered] == [
            ordered[0:4][::-1], ordered[4:8][::-1], ordered[8:][::-1]]
        assert f'href="{folder.name}/2.html">2</a>' in main_page.read_text()
        incremental.update({page: page.read_text() for page in (main_page, *numbered)})
    index_pages.write_all(tmp_path, index_db.connect(tmp_path))
    assert {page: page.read_text() for page in incremental} == incremental


def test_a_new_run_rewrites_only_the_last_numbered_pages(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(index_pages, "LATEST", 2)
    for n in range(8):
        _archived(tmp_path, "CB-1", at=1.8e9 + n * 60)
    folder = tmp_path / "CB-1" / "pages"
    before = {page.name: page.stat().st_ino for page in folder.iterdir()}
    _archived(tmp_path, "CB-1", at=1.8e9 + 600)  # opens page 5: page 4 gets its `next` link
    after = {page.name: page.stat().st_ino for page in folder.iterdir()}
    assert sorted(after) == [f"{n}.html" for n in range(1, 6)]
    assert [after[f"{n}.html"] == before[f"{n}.html"] for n in range(1, 5)] == [
        True, True, True, False]
    assert 'href="5.html">next' in (folder / "4.html").read_text()


def test_archive_index_follows_what_changed(tmp_path: Path) -> None:
    _archived(tmp_path, "CB-1", at=1.8e9)
    gone = _archived(tmp_path, "CB-2", at=1.8e9 + DAY)
    assert main(["archive", "index", str(tmp_path)]) == 0
    untouched = (tmp_path / "CB-1" / "index.html").stat().st_ino
    first_day = (tmp_path / "days" / "2027-01-15.html").stat().st_ino
    late = archive.store(staged_run(tmp_path, "CB-3", at=1.8e9 + DAY + 60), tmp_path)
    assert not (late.parent / "index.html").exists()  # archived without its pages (--no-index)
    shutil.rmtree(gone.parent)
    assert main(["archive", "index", str(tmp_path)]) == 0
    db = index_db.connect(tmp_path)
    assert [row.folder for row in index_db.runs(db)] == [
        late.relative_to(tmp_path).as_posix(), "CB-1/20270115T080000Z_PASS"]
    assert _folders(late.parent / "index.html", tmp_path) == [
        late.relative_to(tmp_path).as_posix()]
    assert _folders(tmp_path / "days" / "2027-01-16.html", tmp_path) == [
        late.relative_to(tmp_path).as_posix()]
    assert (tmp_path / "CB-1" / "index.html").stat().st_ino == untouched
    assert (tmp_path / "days" / "2027-01-15.html").stat().st_ino == first_day
    assert "2 runs: 2 PASS." in (tmp_path / archive.INDEX).read_text()
    assert index_db.unpublished(db) == []


# Survivors of the mutation audit (bench/index_db.py).

def test_error_and_aborted_steps_count_as_failed_in_the_index(tmp_path: Path) -> None:
    record = RunRecord(tmp_path / "staged" / archive.RECORD)
    record.start({"id": "desk-1"}, {})
    record.dut({"serial": "CB-1"})
    for n, outcome in enumerate(Outcome):
        record.step(f"test_{n}", "", outcome, [], [], 0.0, 1.0)
    record.end(Outcome.ABORTED)
    record.close()
    row = index_db.row_of("CB-1/x", load_record(record.path))
    assert (row.steps, row.failed) == (5, 3)  # fail, error, aborted; not pass, not skip


def test_home_page_lists_the_newest_run_first_and_same_second_runs_by_folder(
        tmp_path: Path) -> None:
    starts = [1.8e9 + 120, 1.8e9, 1.8e9 + 60, 1.8e9 + 60.5, 1.8e9 + DAY, 1.8e9 + 60.2]
    for n, at in enumerate(starts):
        _archived(tmp_path, "CB-1" if n % 2 else "CB-2", at=at)
    assert _folders(tmp_path / archive.INDEX, tmp_path) == [
        "CB-2/20270116T080000Z_PASS", "CB-2/20270115T080200Z_PASS",
        "CB-2/20270115T080100Z_PASS", "CB-1/20270115T080100Z_PASS-2",  # one second: by folder
        "CB-1/20270115T080100Z_PASS", "CB-1/20270115T080000Z_PASS"]
