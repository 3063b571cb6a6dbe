"""The lab archive: sanitized folders, a manifest that catches every change, index, CLI."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from bench import archive
from bench.cli import main
from bench.measure import Outcome
from bench.record import RunRecord, load_record
from bench.station import DEFAULT_PROFILE
from tests.plan_runner import ROOT
from tests.test_report import HOSTILE, hostile_record


def staged_run(root: Path, serial: str, verdict: Outcome = Outcome.PASS, at: float = 1.8e9
               ) -> Path:
    """A finished run folder (record, report, junit, an attachment) waiting to be archived."""
    staging = root / archive.INCOMING / f"{serial.encode().hex()[:16]}-{at}"
    record = RunRecord(staging / "record.jsonl")
    record.start({"id": "desk-1"}, {})
    record.dut({"serial": serial, "firmware": "1.4.2"})
    record.step("t", "", verdict, [], [("log", "text/plain", "traffic")], 0.0, 1.0)
    record.end(verdict)
    record.close()
    lines = record.path.read_text().splitlines()  # pin the start time: folder names follow it
    lines[0] = lines[0].replace('"time": ', f'"time": {at}, "was": ', 1)
    record.path.write_text("\n".join(lines) + "\n")
    (staging / "report.html").write_text("<html>report</html>")
    (staging / "junit.xml").write_text("<testsuites/>")
    return staging


def _hashed(name: str, serial: str) -> str:
    return f"{name}~{hashlib.sha256(serial.encode()).hexdigest()[:16]}"


@pytest.mark.parametrize(("serial", "folder"), [
    ("CB-WS1-000123", "CB-WS1-000123"),
    ("../../etc", _hashed("_.._etc", "../../etc")),
    ("..", _hashed("id", "..")),
    ("/abs/path", _hashed("_abs_path", "/abs/path")),
    (HOSTILE, _hashed("_script_alert_1_script_", HOSTILE)),
    ("a\x00b\nc", _hashed("a_b_c", "a\x00b\nc")),
    ("é" * 100, _hashed("_", "é" * 100)),
    ("", "no-serial"),
    ("no-serial", _hashed("no-serial", "no-serial")),
    ("days", _hashed("days", "days")),
    ("ledger.jsonl", _hashed("ledger.jsonl", "ledger.jsonl")),
    ("1.2", _hashed("1.2", "1.2")),  # a dot: never a file name of the archive's own
])
def test_dut_serial_becomes_a_safe_folder(tmp_path: Path, serial: str, folder: str) -> None:
    run = archive.store(staged_run(tmp_path, serial), tmp_path)
    assert run.parent.name == folder and run.parent.parent == tmp_path
    assert run.name == "20270115T080000Z_PASS"
    assert run.resolve().is_relative_to(tmp_path.resolve())


def test_identities_that_sanitize_alike_never_share_a_folder(tmp_path: Path) -> None:
    """`CB-WS1-00\\0` + `0123`, `CB-WS1-000123\\0\\0` and the genuine board: three folders."""
    serials = ["CB-WS1-000123", "CB-WS1-00\x000123", "CB-WS1-000123\x00\x00",
               "CB-WS1-000123\n", "CB-WS1-000123_"]
    runs = [archive.store(staged_run(tmp_path, s), tmp_path) for s in serials]
    assert len({run.parent for run in runs}) == len(serials)
    assert runs[0].parent.name == "CB-WS1-000123"


def test_same_board_same_second_gets_a_second_folder(tmp_path: Path) -> None:
    first = archive.store(staged_run(tmp_path, "CB-1"), tmp_path)
    second = archive.store(staged_run(tmp_path, "CB-1", at=1.8e9 + 0.5), tmp_path)
    assert second == first.with_name(first.name + "-2")


def test_intact_run_verifies(tmp_path: Path) -> None:
    run = archive.store(staged_run(tmp_path, "CB-1", Outcome.FAIL), tmp_path)
    assert run.name.endswith("_FAIL")
    listed = (run / archive.MANIFEST).read_text().splitlines()
    assert [line.split("  ")[1] for line in listed] == sorted(
        ["record.jsonl", "report.html", "junit.xml",
         f"attachments/{next((run / 'attachments').iterdir()).name}"])
    assert archive.verify(run) == []


@pytest.mark.parametrize(("tamper", "kind", "path"), [
    (lambda run: (run / "report.html").write_text("<html>rep0rt</html>"), "altered",
     "report.html"),
    (lambda run: (run / "junit.xml").open("a").write(" "), "altered", "junit.xml"),
    (lambda run: (run / "record.jsonl").unlink(), "missing", "record.jsonl"),
    (lambda run: (run / "notes.txt").write_text(""), "added", "notes.txt"),
    (lambda run: (run / "attachments" / "x").write_bytes(b"\0"), "added", "attachments/x"),
])
def test_tampering_is_found(tmp_path: Path, tamper, kind: str, path: str) -> None:
    run = archive.store(staged_run(tmp_path, "CB-1"), tmp_path)
    tamper(run)
    assert [(p.kind, p.path) for p in archive.verify(run)] == [(kind, path)]


def test_one_flipped_bit_in_an_attachment_is_found(tmp_path: Path) -> None:
    run = archive.store(staged_run(tmp_path, "CB-1"), tmp_path)
    blob = next((run / "attachments").iterdir())
    data = bytearray(blob.read_bytes())
    data[3] ^= 0x01
    blob.write_bytes(bytes(data))
    (problem,) = archive.verify(run)
    assert problem.kind == "altered" and problem.path == f"attachments/{blob.name}"


def test_a_broken_manifest_is_a_problem_not_a_pass(tmp_path: Path) -> None:
    run = archive.store(staged_run(tmp_path, "CB-1"), tmp_path)
    (run / archive.MANIFEST).write_text("not a manifest\n")
    assert [p.kind for p in archive.verify(run)] == ["manifest"]
    (run / archive.MANIFEST).unlink()
    assert [p.kind for p in archive.verify(run)] == ["manifest"]


def test_verify_command_exits_non_zero_and_names_the_file(tmp_path: Path, capsys) -> None:
    good = archive.store(staged_run(tmp_path, "CB-1"), tmp_path)
    bad = archive.store(staged_run(tmp_path, "CB-2"), tmp_path)
    assert main(["archive", "verify", str(tmp_path)]) == 0
    (bad / "report.html").write_text("forged")
    assert main(["archive", "verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"ALTERED  {bad}" in out and "altered: report.html" in out
    assert main(["archive", "verify", str(good)]) == 0
    assert main(["archive", "verify", str(tmp_path / "nothing")]) == 1


def test_index_lists_every_run_escaped_and_reads_without_script(tmp_path: Path) -> None:
    for n, (serial, verdict) in enumerate([("CB-1", Outcome.PASS), ("CB-2", Outcome.FAIL),
                                           (HOSTILE, Outcome.ERROR)]):
        archive.store(staged_run(tmp_path, serial, verdict, at=1.8e9 + n * 86400), tmp_path)
    page = archive.write_index(tmp_path).read_text()
    table = page[page.index("<table"):page.index("</table>")]
    assert table.count("<tr data-board") == 3 and "<script" not in table
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table
    assert 'href="CB-2/20270116T080000Z_FAIL/report.html"' in table
    assert 'data-verdict="ERROR"' in table and 'data-started="2027-01-17T08:00:00+00:00"' in table
    assert page.count("<script>") == 1 and "script-src 'sha256-" in page  # only the filter


def test_report_rebuild_command_writes_a_page(tmp_path: Path, capsys) -> None:
    record = hostile_record(tmp_path)
    out = tmp_path / "again.html"
    assert main(["report", "rebuild", str(record), "-o", str(out)]) == 0
    assert "Verdict: FAIL" in out.read_text() and str(out) in capsys.readouterr().out


PLAN = '''
def test_measures(measure):
    measure("vbat", 3.3, units="V", low=3.2, high=3.4)
'''


def test_plain_pytest_html_writes_record_and_junit_beside_the_report(tmp_path: Path) -> None:
    (tmp_path / "test_plan.py").write_text(PLAN)
    report = tmp_path / "out" / "report.html"
    done = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "test_plan.py"),
                           f"--html={report}", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), "--station", str(DEFAULT_PROFILE)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert report.exists() and (report.parent / "junit.xml").exists()
    view = load_record(report.parent / "record.jsonl")
    assert view.verdict is Outcome.PASS and view.steps[0]["measurements"][0]["name"] == "vbat"


def test_archive_index_drops_a_run_folder_reserved_by_a_killed_store(tmp_path: Path) -> None:
    from bench import audit

    archive.store(staged_run(tmp_path, "CB-1"), tmp_path)
    reserved = tmp_path / "CB-2" / "20270115T080000Z_PASS"
    reserved.mkdir(parents=True)  # killed between reserving its folder and renaming into it
    assert [p.kind for p in audit.audit(tmp_path).runs["CB-2/20270115T080000Z_PASS"]] == [
        "unledgered"]
    archive.write_index(tmp_path)
    assert not reserved.exists() and audit.audit(tmp_path).intact


@pytest.mark.parametrize(("text", "name"), [
    ("CB-1", "CB-1"), ("...hidden", "hidden"), ("..", "unknown"), ("", "unknown"),
    ("a b/c", "a_b_c"), ("x" * 70, "x" * 64), ("é.tar", "_.tar"),
])
def test_safe_name_is_short_plain_and_never_hidden(text: str, name: str) -> None:
    assert archive.safe_name(text) == name


def test_a_long_serial_is_cut_and_keeps_its_hash() -> None:
    serial = "x" * 70
    assert archive.board_folder(serial) == _hashed("x" * 47, serial)
    assert archive.board_folder("y" * 64) == "y" * 64  # safe and within the length: as it is


def test_file_digest_is_the_sha256_of_the_whole_file(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4200  # past one read chunk
    (tmp_path / "big").write_bytes(data)
    assert archive.file_digest(tmp_path / "big") == hashlib.sha256(data).hexdigest()


def test_the_manifest_lists_every_file_but_itself_and_its_signature(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.bin").write_bytes(b"\0")
    (tmp_path / "a.txt").write_text("a")
    assert archive.write_manifest(tmp_path) == tmp_path / archive.MANIFEST
    (tmp_path / "MANIFEST.sha256.sig").write_text("a signature")  # not listed either
    a, x = (hashlib.sha256(data).hexdigest() for data in (b"a", b"\0"))
    assert archive.write_manifest(tmp_path).read_text() == f"{a}  a.txt\n{x}  b/x.bin\n"
    assert archive.verify(tmp_path) == []


@pytest.mark.parametrize("name", ["line\nbreak", "carriage\rreturn"])
def test_a_file_name_that_would_break_the_manifest_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("x")
    with pytest.raises(ValueError, match="cannot go in a manifest"):
        archive.write_manifest(tmp_path)


@pytest.mark.parametrize(("line", "number"), [
    ("0" * 64 + " one-space-only", 2), ("0" * 63 + "  short-digest", 2),
    ("0" * 64 + "  ok\n" + "A" * 64 + "  upper-case", 3),
])
def test_a_malformed_manifest_line_is_named_by_number(tmp_path: Path, line: str,
                                                       number: int) -> None:
    (tmp_path / archive.MANIFEST).write_text("0" * 64 + "  first\n" + line + "\n")
    (problem,) = archive.verify(tmp_path)
    assert problem.kind == "manifest" and f"line {number} is malformed" in problem.detail
    assert str(problem).startswith(f"manifest: {tmp_path / archive.MANIFEST} (line {number}")


def test_problems_read_as_kind_path_and_detail() -> None:
    assert str(archive.Problem("added", "x.txt")) == "added: x.txt"
    assert str(archive.Problem("altered", "r", "sha256 1")) == "altered: r (sha256 1)"


def test_a_run_is_sealed_ledgered_and_indexed_as_it_is_archived(tmp_path: Path) -> None:
    from bench import audit, index_db

    run = archive.store(staged_run(tmp_path, "CB-1", Outcome.FAIL), tmp_path)
    assert archive.find_runs(tmp_path) == [run] and archive.run_dirs(tmp_path) == [run]
    assert audit.audit(tmp_path).intact and audit.audit(tmp_path).runs == {
        "CB-1/20270115T080000Z_FAIL": []}
    row = index_db.get(index_db.connect(tmp_path), "CB-1/20270115T080000Z_FAIL")
    assert row is not None and row.verdict == "FAIL" and row.unique_id == "CB-1"
    assert archive.publish(tmp_path, run) == tmp_path / archive.INDEX
    assert 'href="CB-1/20270115T080000Z_FAIL/report.html"' in (
        tmp_path / archive.INDEX).read_text()


def test_publishing_a_run_the_index_lacks_is_refused(tmp_path: Path) -> None:
    stray = tmp_path / "CB-9" / "20270115T080000Z_PASS"
    stray.mkdir(parents=True)
    with pytest.raises(ValueError, match="not in the index"):
        archive.publish(tmp_path, stray)


def test_three_runs_in_one_second_get_three_folders(tmp_path: Path) -> None:
    runs = [archive.store(staged_run(tmp_path, "CB-1", at=1.8e9 + k / 4), tmp_path)
            for k in range(3)]
    assert [r.name for r in runs] == ["20270115T080000Z_PASS", "20270115T080000Z_PASS-2",
                                      "20270115T080000Z_PASS-3"]
    assert {r.parent for r in runs} == {tmp_path / "CB-1"}  # never inside another run's folder


def test_messages_naming_the_staging_folder_are_pointed_at_the_archived_run(
        tmp_path: Path) -> None:
    staging = staged_run(tmp_path, "CB-1")
    (staging / "junit.xml").unlink()  # a view that is missing is skipped
    with (staging / archive.RECORD).open("a") as record:
        record.write(f'{{"kind": "note", "log": "{staging}/attachments/x"}}\n')
    report = (staging / "report.html").read_text()
    run = archive.store(staging, tmp_path)
    text = (run / archive.RECORD).read_text()
    assert str(staging) not in text and f"{run}/attachments/x" in text
    assert (run / "report.html").read_text() == report  # nothing to point: left as it was
    assert archive.verify(run) == []


def test_a_board_folder_that_leads_outside_the_archive_is_refused(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "reports", tmp_path / "elsewhere"
    elsewhere.mkdir()
    root.mkdir()
    (root / "CB-1").symlink_to(elsewhere)
    with pytest.raises(ValueError, match="outside the archive"):
        archive.store(staged_run(root, "CB-1"), root)
    assert list(elsewhere.iterdir()) == []


def test_the_archive_lock_excludes_another_holder_and_is_released(tmp_path: Path) -> None:
    import fcntl

    root = tmp_path / "new-archive"  # created by the lock itself
    with archive.locked(root), (root / archive.LOCK).open("a") as other, \
            pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with (root / archive.LOCK).open("a") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_run_dirs_are_run_shaped_folders_outside_hidden_ones(tmp_path: Path) -> None:
    for folder in ("CB-1/20270115T080000Z_PASS", "CB-1/20270115T080000Z_FAIL-2",
                   ".incoming/20270115T080000Z_PASS", "CB-1/notes", "CB-2/20270115T0800Z_PASS"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "CB-1" / "20270116T080000Z_PASS").write_text("a file, not a run")
    assert [p.relative_to(tmp_path).as_posix() for p in archive.run_dirs(tmp_path)] == [
        "CB-1/20270115T080000Z_FAIL-2", "CB-1/20270115T080000Z_PASS"]
    assert archive.find_runs(tmp_path) == []


def test_an_archived_run_without_its_record_is_indexed_as_damaged(tmp_path: Path) -> None:
    from bench import index_db

    run = archive.store(staged_run(tmp_path, "CB-1"), tmp_path)
    (run / archive.RECORD).unlink()
    archive.write_index(tmp_path)
    (row,) = index_db.runs(index_db.connect(tmp_path))
    assert row.folder == "CB-1/20270115T080000Z_PASS"
    assert row.damaged.startswith("line 0: unreadable: ") and "record.jsonl" in row.damaged


def test_rebuilding_the_report_of_a_missing_record_says_so(tmp_path: Path) -> None:
    with pytest.raises(archive.RecordUnreadable, match=r"cannot read record .*nothing\.jsonl"):
        archive.rebuild_report(tmp_path / "nothing.jsonl", tmp_path / "out.html")
    assert not (tmp_path / "out.html").exists()
