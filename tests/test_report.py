"""The certification section: everything a certifier reads, static, escaped, failures first."""

from pathlib import Path

from bench.archive import rebuild_report
from bench.measure import Measurement, Outcome
from bench.record import RunRecord, load_record
from bench.report import render_certification

HOSTILE = "<script>alert(1)</script>"
SVG = ("<svg xmlns='http://www.w3.org/2000/svg' width='40' height='20'><script>alert(2)</script>"
       "<text y='15'>peak</text></svg>")


def hostile_record(folder: Path, finish: bool = True) -> Path:
    """A record whose DUT strings are markup, with one failed and one passed measurement."""
    record = RunRecord(folder / "record.jsonl")
    record.start({"id": "desk-<b>1</b>"}, {"citebench": "0.1.0"}, operator="<i>eve</i>")
    record.dut({"serial": HOSTILE, "part_number": "WS-100\"><img src=x onerror=alert(3)>",
                "hw_revision": "B", "firmware": "1.4.2"})
    record.instrument("psu", {"vendor": "Keysight", "model": "<u>E3</u>", "serial": "MY1",
                              "firmware": "2.1"})
    record.step("test_serial", "The serial number <em>is</em> valid.", Outcome.FAIL,
                [Measurement.judge("part number", "WS-100", nominal="WS-100"),
                 Measurement.judge("serial format", HOSTILE, nominal="CB-WS1-000001"),
                 Measurement.judge("vbat", 3.3, units="V", low=3.2, high=3.4)],
                [("serial traffic", "text/plain", f"<< GET_INFO_RSP serial={HOSTILE}"),
                 ("current capture", "image/svg+xml", SVG)],
                1.0, 2.0, message=f"AssertionError: {HOSTILE}")
    record.step("test_ping", "", Outcome.PASS, [Measurement.judge("rtt", 0.004, units="s",
                                                                  high=0.05)], [], 2.0, 3.0)
    if finish:
        record.end(Outcome.FAIL)
    record.close()
    return record.path


def test_dut_strings_render_as_text(tmp_path: Path) -> None:
    html = render_certification(load_record(hostile_record(tmp_path)))
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(3)&gt;" in html
    for markup in ("<b>1</b>", "<i>eve</i>", "<u>E3</u>", "<em>is</em>"):
        assert markup not in html


def test_svg_attachment_is_an_image_that_cannot_script(tmp_path: Path) -> None:
    html = render_certification(load_record(hostile_record(tmp_path)))
    assert 'src="data:image/svg+xml;base64,' in html
    assert "alert(2)" not in html  # only inside the base64 image, which runs no script


def test_verdict_tables_and_failed_measurements_first(tmp_path: Path) -> None:
    html = render_certification(load_record(hostile_record(tmp_path)))
    assert "Verdict: FAIL" in html
    for caption in ("Run", "Device under test", "Station", "Instruments", "Software",
                    "Failed measurements", "Steps"):
        assert f"<h3>{caption}</h3>" in html
    failed = html.index("<h3>Failed measurements</h3>")
    assert failed < html.index("test_serial :: serial format") < html.index("<h3>Steps</h3>")
    step = html[html.index("<h3>Steps</h3>"):]
    assert step.index("serial format") < step.index("part number")  # failed rows first
    assert step.index("test_serial") < step.index("test_ping")  # failed steps first
    assert "3.2 ≤ x ≤ 3.4 V" in html and "<td>0.1</td>" in html  # limits and margin


def test_expired_instrument_and_missing_attachment_are_shown(tmp_path: Path) -> None:
    view = load_record(hostile_record(tmp_path))
    view.instruments[0]["calibration_expired"] = True
    for blob in (tmp_path / "attachments").iterdir():
        blob.unlink()
    html = render_certification(view)
    assert "CALIBRATION EXPIRED" in html
    assert html.count("attachment missing from the archive") == 2


def test_rebuild_from_a_partial_record_is_a_standalone_page(tmp_path: Path) -> None:
    path = hostile_record(tmp_path, finish=False)
    with path.open("a") as file:
        file.write('{"kind": "step", "na')  # the run was killed mid-write
    page = rebuild_report(path, tmp_path / "rebuilt.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Verdict: INCOMPLETE" in page
    assert "Partial record" in page and "script-src 'none'" in page
    assert "<script" not in page.lower()


LYING = {
    "CB-WS1-00\x000123": "CB-WS1-00\\x000123",
    "CB-WS1-000123\x00\x00": "CB-WS1-000123\\x00\\x00",
    "CB-WS1-000123 FAKE: PASS\nx": "CB-WS1-000123 FAKE: PASS\\nx",
    "CB-\x1b[2JWS1": "CB-\\x1b[2JWS1",
    "CB-WS1-\u202e321000": "CB-WS1-\\u202e321000",
    "CB-\\x00-literal": "CB-\\\\x00-literal",
}


def _lying_record(folder: Path, serial: str) -> Path:
    record = RunRecord(folder / "record.jsonl")
    record.start({"id": "desk-1"}, {})
    record.dut({"unique_id": serial, "firmware": "1.4.2\x00", "board": "ws100"})
    record.step("test_serial", "", Outcome.PASS, [], [], 0.0, 1.0)
    record.end(Outcome.PASS)
    record.close()
    return record.path


def test_control_characters_are_shown_escaped_never_dropped(tmp_path: Path) -> None:
    for n, (serial, shown) in enumerate(LYING.items()):
        html = render_certification(load_record(_lying_record(tmp_path / str(n), serial)))
        assert f"<td>{shown}</td>" in html, shown
        assert "<td>1.4.2\\x00</td>" in html
        assert not any(c in html for c in "\x00\x1b\u202e")


def test_index_and_board_pages_show_identities_escaped(tmp_path: Path) -> None:
    from bench import archive

    root = tmp_path / "archive"
    for n, serial in enumerate(LYING):
        staging = root / archive.INCOMING / str(n)
        _lying_record(staging, serial)
        run = archive.store(staging, root)
        archive.publish(root, run)
    pages = {root / "index.html", *root.glob("*/index.html"), *root.glob("days/*.html")}
    assert len(pages) == 1 + len(LYING) + 2  # home, boards, the day and the list of days
    text = "".join(page.read_text() for page in pages)
    assert not any(c in text for c in "\x00\x1b\u202e")
    for shown in LYING.values():
        assert shown in text
    assert "overflow-wrap:anywhere" in text  # long identities wrap instead of widening tables
