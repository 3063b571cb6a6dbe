"""The static certification section shows each limit's strictness and flags marginal passes, and
names the record's format and the kit that made it."""

from __future__ import annotations

import html
from pathlib import Path

from bench.measure import Limit, Measurement, Outcome
from bench.pages import render_report
from bench.record import RunRecord, load_record

VCC = Limit("vcc", "supply rail", "V", low=3.2, high=3.4, high_strict=True, resolution=0.01)


def report_of(tmp_path: Path, measurements: list[Measurement], kit: dict | None) -> str:
    record = RunRecord(tmp_path / "record.jsonl")
    record.start({"id": "desk-1"}, {"citebench": "0.1.0"}, kit=kit)
    record.step("test_rail", "", Outcome.PASS, measurements, [], 0.0, 1.0)
    record.end(Outcome.PASS)
    record.close()
    return html.unescape(render_report(load_record(record.path)))


def test_strict_sides_and_marginal_passes_are_shown(tmp_path: Path) -> None:
    page = report_of(tmp_path, [Measurement.of(VCC, 3.395), Measurement.of(VCC, 3.3)],
                     {"name": "ws100", "version": "0.1.0", "commit": "1efa20e"})
    assert page.count("3.2 ≤ x < 3.4 V") == 3  # both steps' rows and the marginal section
    assert "<h3>Marginal measurements</h3>" in page
    assert page.count("PASS MARGINAL (resolution 0.01)") == 2  # in its step and the section
    assert "test_rail :: supply rail" in page
    assert "ws100 0.1.0, commit 1efa20e" in page
    assert "<th>record format</th><td>2</td>" in page


def test_no_marginal_section_without_a_marginal_pass(tmp_path: Path) -> None:
    page = report_of(tmp_path, [Measurement.of(VCC, 3.3)], None)
    assert "MARGINAL" not in page and "Marginal measurements" not in page
