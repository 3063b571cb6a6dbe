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
    return f"{name}-{hashlib.sha256(serial.encode()).hexdigest()[:8]}"


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
