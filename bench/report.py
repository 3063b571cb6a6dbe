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

__all__ = ["HtmlHooks", "measurement_extras", "render_certification"]


def measurement_extras(recorder: StepRecorder) -> list:
    """pytest-html extras for one test: its measurement table (shown in the JS results table)."""
    if not recorder.measurements:
        return []
    from pytest_html import extras

    rows = [measurement_view(m.to_dict()) for m in recorder.measurements]
    return [extras.html(render("measurements.html", measurements=rows))]


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
