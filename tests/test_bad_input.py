"""Bad input from outside (issue 17): a record line of the wrong shape, a reports folder the
bench cannot write, DUT text that would drive a terminal, a refused plan's leftovers. Each ends
in one line that names what is wrong and where, never a traceback, and loses nothing measured."""

import html
import json
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import archive, folders
from bench.cli import main
from bench.exitcodes import ExitCode
from bench.pages import render_report
from bench.record import load_record
from bench.visible import visible
from tests.plan_runner import ROOT
from tests.test_archive import staged_run

STEP = {"kind": "step", "name": "t2", "outcome": "pass", "measurements": [],
        "attachments": []}
MEASUREMENT = {"name": "vbat", "value": 3.3, "units": "V", "low": 3.2, "high": 3.4,
               "nominal": None, "comparison": "GELE", "outcome": "pass", "margin": 0.1}

# valid JSON of the wrong type, line 3 of a record; what the damage says about it
WRONG_TYPES = {
    "list": ([1], "not a JSON object but a list"),
    "number": (42, "not a JSON object but an integer"),
    "string": ("step", "not a JSON object but a string"),
    "null": (None, "not a JSON object but null"),
    "start time text": ({"kind": "start", "time": "yesterday"},
                        "start.time is 'yesterday', not a time from 1970 to 9999 in seconds"),
    "start time infinite": ({"kind": "start", "time": float("inf")},
                            "start.time is inf, not a time from 1970 to 9999 in seconds"),
    "start time NaN": ({"kind": "start", "time": float("nan")},
                       "start.time is nan, not a time from 1970 to 9999 in seconds"),
    "end time far": ({"kind": "end", "verdict": "pass", "time": 1e20},
                     "end.time is 1e+20, not a time from 1970 to 9999 in seconds"),
    "step start negative": ({**STEP, "start": -1e12},
                            "step.start is -1000000000000.0, not a time from 1970 to 9999 in "
                            "seconds"),
    "start station list": ({"kind": "start", "station": [1]},
                           "start.station is a list, not an object"),
    "start planned number": ({"kind": "start", "planned": 3},
                             "start.planned is an integer, not a list"),
    "start planned item": ({"kind": "start", "planned": ["t", None]},
                           "start.planned[1] is null, not a string"),
    "software list": ({"kind": "start", "software": [1]},
                      "start.software is a list, not an object"),
    "software packages text": ({"kind": "start", "software": {"packages": "pytest"}},
                               "start.software.packages is a string, not an object"),
    "measurements text": ({**STEP, "measurements": "3.3 V"},
                          "step.measurements is a string, not a list"),
    "measurement number": ({**STEP, "measurements": [1]},
                           "step.measurements[0] is an integer, not an object"),
    "limit text": ({**STEP, "measurements": [{**MEASUREMENT, "low": "3.2"}]},
                   "step.measurements[0].low is a string, not a number or null"),
    "limit boolean": ({**STEP, "measurements": [{**MEASUREMENT, "high": True}]},
                      "step.measurements[0].high is true or false, not a number or null"),
    "attachment text": ({**STEP, "attachments": ["log"]},
                        "step.attachments[0] is a string, not an object"),
    "attachments object": ({**STEP, "attachments": {"log": 1}},
                           "step.attachments is an object, not a list"),
    "attachment size text": ({**STEP, "attachments": [{"sha256": "0" * 64, "size": "big",
                                                       "media_type": "application/x"}]},
                             "step.attachments[0].size is a string, not an integer"),
    "attachment path": ({**STEP, "attachments": [{"sha256": "../../secret",
                                                  "media_type": "text/plain"}]},
                        "step.attachments[0].sha256 is not [0-9a-f]{64}: '../../secret'"),
    "step name number": ({**STEP, "name": 5}, "step.name is an integer, not a string"),
    "step without name": ({k: v for k, v in STEP.items() if k != "name"},
                          "step without name"),
    "step without measurements": ({k: v for k, v in STEP.items() if k != "measurements"},
                                  "step without measurements"),
    "instrument flag text": ({"kind": "instrument", "role": "psu",
                              "calibration_expired": "yes"},
                             "instrument.calibration_expired is a string, not true or false"),
    "end ending text": ({"kind": "end", "verdict": "pass", "ending": "signal"},
                        "end.ending is a string, not an object"),
    "end not run text": ({"kind": "end", "verdict": "pass", "ending": {"not_run": "t3"}},
                         "end.ending.not_run is a string, not a list"),
    "end problems text": ({"kind": "end", "verdict": "pass", "problems": "psu"},
                          "end.problems is a string, not a list"),
    "end verdict number": ({"kind": "end", "verdict": 1}, "end verdict 1 unknown"),
}


def _archived_with(root: Path, event: object) -> Path:
    """An archived run whose record gets `event` as its line 3, after its start and DUT; the
    step (with its measurement) and end lines follow, so the damage sits mid-record."""
    run = archive.store(staged_run(root, "CB-1"), root)
    record = run / archive.RECORD
    lines = record.read_text().splitlines()
    step = {**STEP, "name": "t", "measurements": [MEASUREMENT]}
    lines[2:3] = [json.dumps(event), json.dumps(step)]
    record.write_text("\n".join(lines) + "\n")
    return record


@pytest.mark.parametrize(("event", "reason"), WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_a_line_of_the_wrong_shape_is_damage_named_by_its_field(tmp_path: Path, event: object,
                                                                reason: str) -> None:
    view = load_record(_archived_with(tmp_path, event))
    assert [(d.line, d.reason) for d in view.damaged] == [(3, reason)]
    assert view.start["time"] == 1.8e9 and view.unique_id == "CB-1"  # the rest is still read
    assert [m["value"] for s in view.steps for m in s["measurements"]] == [3.3]
    assert view.label == "PASS"


@pytest.mark.parametrize(("event", "reason"), WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_report_rebuild_of_a_wrong_shape_is_one_line_and_exit_2(tmp_path: Path, capsys,
                                                               event: object,
                                                               reason: str) -> None:
    record = _archived_with(tmp_path, event)
    out = tmp_path / "again.html"
    assert main(["report", "rebuild", str(record), "-o", str(out)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err == f"bench: record {record} line 3: {reason}\n"
    page = out.read_text()  # written all the same: nothing measured is lost
    assert "vbat" in page and "line 3: " in page


@pytest.mark.parametrize(("event", "reason"), WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_archive_index_lists_a_wrong_shape_and_goes_on(tmp_path: Path, capsys, event: object,
                                                      reason: str) -> None:
    record = _archived_with(tmp_path, event)
    assert main(["archive", "index", str(tmp_path)]) == ExitCode.PASS
    assert capsys.readouterr().err == f"bench: warning: record {record} line 3: {reason}\n"
    assert f"line 3: {reason}" in (tmp_path / archive.INDEX).read_text().replace("&#39;", "'")


def test_what_a_plan_hands_over_is_kept_whatever_its_type(tmp_path: Path) -> None:
    """A plan may measure a tuple or name a measurement with a number: shown as text, never a
    reason to drop the step and its other measurements."""
    odd = {"name": 5, "value": [0.1, 0.2], "nominal": {"x": 1}, "units": None}
    step = {**STEP, "measurements": [odd, MEASUREMENT],
            "attachments": [{"name": 7, "media_type": None, "sha256": "0" * 64, "size": 3}]}
    view = load_record(_archived_with(tmp_path, step))
    assert view.damaged == [] and view.steps[0]["measurements"] == [odd, MEASUREMENT]
    assert "[0.1, 0.2]" in render_report(view)


def test_a_killed_runs_cut_line_is_no_bad_input(tmp_path: Path, capsys) -> None:
    record = _archived_with(tmp_path, STEP)
    with record.open("a") as file:
        file.write('{"kind": "step", "na')
    assert main(["report", "rebuild", str(record), "-o", str(tmp_path / "r.html")]) == 0
    assert main(["archive", "index", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""


def test_an_attachment_name_never_reads_a_file_outside_the_run(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("root password")
    record = _archived_with(tmp_path / "archive", {**STEP, "attachments": [
        {"name": "log", "sha256": "../../../../secret", "media_type": "text/plain"}]})
    assert "root password" not in render_report(load_record(record))


EDGES = st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e20, -1e20, -1, 0])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | EDGES
                    | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
FIELDS = {"start": ["time", "station", "software", "operator", "planned"],
          "dut": ["unique_id", "board", "firmware"],
          "instrument": ["role", "calibration_due", "calibration_expired", "model"],
          "step": ["name", "outcome", "measurements", "attachments", "doc", "message", "start",
                   "end"],
          "end": ["time", "verdict", "problems", "ending"]}
EVENTS = [st.fixed_dictionaries({"kind": st.just(kind)}, optional=dict.fromkeys(keys, JSON))
          for kind, keys in FIELDS.items()]
MEASURED = st.fixed_dictionaries({}, optional=dict.fromkeys(MEASUREMENT, JSON)).map(
    lambda m: {**STEP, "measurements": [m]})


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(events=st.tuples(*EVENTS, MEASURED, JSON))
def test_any_json_line_is_read_or_listed_never_a_crash(tmp_path: Path, events: tuple) -> None:
    """Every reader of a record (report, index row, archive folder) takes whatever the record
    loader lets through: a line of any shape is read or listed as damage, never a traceback."""
    from bench import index_db

    record = tmp_path / "record.jsonl"
    record.write_text("".join(json.dumps(event) + "\n" for event in events))
    view = load_record(record)
    render_report(view)
    index_db.row_of("CB-1/20270115T080000Z_PASS", view)
    archive.run_folder(view)


def _bench(*args: str, limit_file_size: int | None = None) -> subprocess.CompletedProcess:
    """`bench ARGS` as a user runs it; `limit_file_size` caps every file it writes (RLIMIT_FSIZE:
    a write past it fails with EFBIG, as one on a full disk fails with ENOSPC)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, preexec_fn=limit if limit_file_size else None)


@pytest.fixture
def read_only(tmp_path: Path):
    """A reports folder not even root can write into: immutable (chattr +i)."""
    folder = tmp_path / "reports"
    archive.store(staged_run(folder, "CB-1"), folder)  # an archive already there
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here (needs CAP_LINUX_IMMUTABLE and ext4/xfs)")
    yield folder
    subprocess.run(["chattr", "-i", str(folder)], check=True)


IDENTIFICATION = str(ROOT / "testplans" / "ws100" / "test_identification.py")
COMMANDS = {"run": ["run", "--plan", IDENTIFICATION, "--reports"],
            "archive index": ["archive", "index"], "archive query": ["archive", "query"]}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_read_only_reports_folder_is_one_line_and_exit_3(read_only: Path,
                                                            command: list[str]) -> None:
    done = _bench(*command, str(read_only))
    assert done.returncode == ExitCode.ERROR and done.stdout == "", done.stdout + done.stderr
    assert done.stderr == (f"bench: reports folder {read_only} is not writable: "
                           "Operation not permitted\n")


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_file_in_place_of_the_reports_folder_is_one_line_and_exit_3(
        tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "reports").write_text("not a folder")
    done = _bench(*command, str(tmp_path / "reports"))
    assert done.returncode == ExitCode.ERROR and done.stdout == "", done.stdout + done.stderr
    assert done.stderr == f"bench: reports folder {tmp_path / 'reports'} is a file, not a folder\n"


def test_a_file_in_place_of_the_staging_folder_is_one_line_and_exit_3(tmp_path: Path) -> None:
    (tmp_path / archive.INCOMING).write_text("not a folder")
    done = _bench("run", "--plan", IDENTIFICATION, "--reports", str(tmp_path))
    assert done.returncode == ExitCode.ERROR and done.stdout == "", done.stdout + done.stderr
    assert done.stderr.startswith(f"bench: reports folder {tmp_path}: [Errno 17] File exists")
    assert len(done.stderr.splitlines()) == 1


def test_a_full_reports_folder_stops_a_run_before_anything_is_powered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    reports = tmp_path / "reports"
    free = shutil.disk_usage(tmp_path).free
    monkeypatch.setattr(folders, "MIN_FREE", free + 2**30)  # more than this disk has
    assert main(["run", "--plan", IDENTIFICATION, "--reports", str(reports)]) == ExitCode.ERROR
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"bench: reports folder {reports} has ")
    assert err.endswith(f" MiB free; the bench needs {(free + 2**30) / 2**20:.0f} MiB to write "
                        "into it\n") and len(err.splitlines()) == 1
    assert list(reports.iterdir()) == []  # no staging folder, no record


def test_an_index_that_fills_its_disk_half_way_is_one_line_and_exit_3(tmp_path: Path) -> None:
    for n in range(3):
        archive.store(staged_run(tmp_path, f"CB-{n}", at=1.8e9 + n), tmp_path)
    for page in tmp_path.glob("index.*"):
        page.unlink()  # the database and pages are rebuilt, past the size a file may grow to
    done = _bench("archive", "index", str(tmp_path), limit_file_size=8192)
    assert done.returncode == ExitCode.ERROR and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"bench: reports folder {tmp_path}: ")
    assert len(done.stderr.splitlines()) == 1


def test_an_empty_record_is_never_archived(tmp_path: Path) -> None:
    """A run whose disk was full before its first line leaves an empty record: nothing was
    measured, so nothing is archived (it used to become a run of 1970 with no DUT)."""
    staging = staged_run(tmp_path, "CB-1")
    (staging / archive.RECORD).write_bytes(b"")
    shutil.rmtree(staging / "attachments")  # written with the first step, never reached
    done = _bench("archive", "index", str(tmp_path))
    assert done.returncode == 0 and "recovered run" not in done.stdout, done.stdout + done.stderr
    assert archive.find_runs(tmp_path) == [] and archive.run_dirs(tmp_path) == []
    assert list((tmp_path / archive.INCOMING).iterdir()) == []


def test_a_refused_plan_leaves_nothing_behind(tmp_path: Path) -> None:
    """Another board's plan is refused before anything is powered; pytest has still written its
    report and JUnit file, views of no run: they go with the staging folder."""
    reports = tmp_path / "reports"
    tracker = str(ROOT / "testplans" / "tracker" / "test_identify.py")
    for _ in range(2):
        done = _bench("run", "--plan", tracker, "--reports", str(reports))
        assert done.returncode == ExitCode.USAGE and "is a plan of board 'tracker'" in done.stderr
        assert "recovered run" not in done.stdout, done.stdout
        assert list((reports / archive.INCOMING).iterdir()) == []


def test_recovery_clears_the_leftovers_of_refused_runs_but_keeps_unknown_files(
        tmp_path: Path) -> None:
    """Folders earlier versions left behind (a report and JUnit file, no record) go; a folder
    holding anything else is left in place and said so."""
    incoming = tmp_path / archive.INCOMING
    for name, files in (("20261206T100000Z-1", ["report.html", "junit.xml"]),
                        ("20261206T100001Z-2", ["report.html", "notes.txt"])):
        (incoming / name).mkdir(parents=True)
        (incoming / f"{name}.lock").touch()
        for file in files:
            (incoming / name / file).write_text("x")
    done = _bench("archive", "index", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("recovered run") == 1
    assert "recovered run 20261206T100001Z-2: files but no record: left in place" in done.stdout
    assert sorted(p.name for p in incoming.rglob("*")) == [
        "20261206T100001Z-2", "20261206T100001Z-2.lock", "notes.txt"]


HOSTILE_PLAN = '''
SERIAL = "CB-\\x1b[31mRED\\x00-1\\u202eLIAF"  # as a board may send it: ESC, NUL, RLO


def test_label(measure):
    print("board says", SERIAL)
    measure("serial number", SERIAL, nominal="CB-WS1-000123")


def test_assert(run_record):
    assert SERIAL == "CB-WS1-000123", f"label says CB-WS1-000123, board says {SERIAL}"
'''
SERIAL = "CB-\x1b[31mRED\x00-1\u202eLIAF"
RAW = ("\x1b", "\x00", "\u202e")


def test_dut_text_reads_on_the_console_as_on_the_pages(tmp_path: Path) -> None:
    """An ESC from a board would drive the operator's terminal; pytest-html's log drops a NUL
    and shows an RLO raw. The console, the log and JUnit show what the pages show
    (bench.visible), and the record keeps the text as it came."""
    (tmp_path / "test_plan.py").write_text(HOSTILE_PLAN)
    done = _bench("run", "--plan", str(tmp_path / "test_plan.py"),
                  "--reports", str(tmp_path / "reports"))
    assert done.returncode == ExitCode.FAIL, done.stdout + done.stderr
    shown = visible(SERIAL)  # CB-\x1b[31mRED\x00-1\u202eLIAF, as text
    assert not any(char in done.stdout + done.stderr for char in RAW)
    assert f"board says {shown}\n" in done.stdout
    assert f"serial number = {shown}  (limits" in done.stdout
    assert f"AssertionError: label says CB-WS1-000123, board says {shown}" in done.stdout
    (run,) = archive.find_runs(tmp_path / "reports")
    page = (run / "report.html").read_text()
    blob = json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', page).group(1)))
    logs = {test_id.rpartition("::")[2]: runs[0]["log"] for test_id, runs in blob["tests"].items()}
    assert f"board says {shown}" in logs["test_label"] and shown in logs["test_assert"]
    assert not any(char in log for log in logs.values() for char in RAW)
    junit = (run / "junit.xml").read_text()
    assert f"serial number = {shown}" in junit and f"board says {shown}" in junit
    messages = {s["name"].rpartition("::")[2]: s["message"] for s in load_record(
        run / archive.RECORD).steps}
    assert f"serial number = {SERIAL} " in messages["test_label"]  # as it came, escaped once
    assert f"board says {SERIAL}" in messages["test_assert"]      # by each page
    assert f"serial number = {shown} " in page.split("data-jsonblob")[0]
