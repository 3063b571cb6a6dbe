"""Report views of the run record: a certification section that reads without JavaScript.

pytest-html draws its results table with JavaScript; what a certifier must read (verdict, DUT,
station, software, every measurement with its limits, what ended the run) is rendered from the
run record by bench/templates/certification.html and placed in the report's summary, so it
survives mail clients, strict content-security policies and PDF printers.
"""

from __future__ import annotations

import pytest

from bench.measure import StepRecorder
from bench.pages import measurement_view, render, render_certification
from bench.record import load_record
from bench.session import BenchSession
from bench.visible import visible_lines

__all__ = ["HtmlHooks", "measurement_extras", "render_certification", "visible_report"]


def measurement_extras(recorder: StepRecorder) -> list:
    """pytest-html extras for one test: its measurement table (shown in the JS results table)."""
    if not recorder.measurements:
        return []
    from pytest_html import extras

    rows = [measurement_view(m.to_dict()) for m in recorder.measurements]
    return [extras.html(render("measurements.html", measurements=rows))]


def visible_report(report: pytest.TestReport) -> None:
    """A step's failure text and captured output as the pages show them (bench.visible), for the
    console, pytest-html's log and JUnit, which all read this report: an ESC a board sent cannot
    drive the terminal, a NUL is not dropped, an RLO does not reorder the line. The record keeps
    the text as it was (the plugin takes it before this)."""
    longrepr = report.longrepr
    if isinstance(longrepr, str):  # the plugin's own (measurements out of limits)
        report.longrepr = visible_lines(longrepr)
    elif isinstance(longrepr, tuple):  # a skip: path, line, reason
        report.longrepr = (*longrepr[:2], visible_lines(longrepr[2]))
    for traceback, crash, _ in getattr(longrepr, "chain", []):
        for entry in traceback.reprentries:
            entry.lines = [visible_lines(line) for line in entry.lines]
            if getattr(entry, "reprfileloc", None) is not None:
                entry.reprfileloc.message = visible_lines(entry.reprfileloc.message)
        if crash is not None:
            crash.message = visible_lines(crash.message)
    report.sections = [(title, visible_lines(text)) for title, text in report.sections]


class HtmlHooks:
    """pytest-html hooks, registered only when pytest-html is active."""

    def __init__(self, session: BenchSession) -> None:
        self.session = session

    def pytest_html_report_title(self, report) -> None:
        report.title = f"citebench run: station {self.session.profile.station.id}"

    @pytest.hookimpl(trylast=True)
    def pytest_html_results_summary(self, prefix: list, summary: list, postfix: list,
                                    session: pytest.Session) -> None:
        if self.session.record is not None:
            prefix.append(render_certification(load_record(self.session.record.path)))
