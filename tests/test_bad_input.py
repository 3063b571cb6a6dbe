"""Bad input from outside (issue 17): a record line of the wrong shape, a reports folder the
bench cannot write, DUT text that would drive a terminal, a refused plan's leftovers. Each ends
in one line that names what is wrong and where, never a traceback, and loses nothing measured."""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import archive
from bench.cli import main
from bench.exitcodes import ExitCode
from bench.pages import render_report
from bench.record import load_record
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
                        "start.time is a string, not a number"),
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


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
FIELDS = {"start": ["time", "station", "software", "operator", "planned"],
          "dut": ["unique_id", "board", "firmware"],
          "instrument": ["role", "calibration_due", "calibration_expired", "model"],
          "step": ["name", "outcome", "measurements", "attachments", "doc", "message", "start",
                   "end"],
          "end": ["time", "verdict", "problems", "ending"]}
EVENTS = st.sampled_from(sorted(FIELDS)).flatmap(lambda kind: st.fixed_dictionaries(
    {"kind": st.just(kind)}, optional={key: JSON for key in FIELDS[kind]}))
MEASURED = st.fixed_dictionaries({}, optional={key: JSON for key in MEASUREMENT})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(event=EVENTS | JSON | MEASURED.map(lambda m: {**STEP, "measurements": [m]}))
def test_any_json_line_is_read_or_listed_never_a_crash(tmp_path: Path, event: object) -> None:
    """Every reader of a record (report, index row) takes whatever the record loader lets
    through: an event of any shape is read or listed as damage, never a traceback."""
    from bench import index_db

    record = tmp_path / "record.jsonl"
    record.write_text(json.dumps({"kind": "start", "time": 1.8e9}) + "\n" + json.dumps(event)
                      + "\n")
    view = load_record(record)
    render_report(view)
    index_db.row_of("CB-1/20270115T080000Z_PASS", view)
    archive.run_folder(view)
