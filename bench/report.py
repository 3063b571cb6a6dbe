"""Report views of the run record: a certification section that reads without JavaScript.

pytest-html draws its results table with JavaScript; what a certifier must read (verdict, DUT,
station, software, every measurement with its limits) is rendered here as static HTML from the run
record and placed in the report's summary, so it survives mail clients, strict content-security
policies and PDF printers. Everything that came from the DUT goes through `html.escape`.
"""

from __future__ import annotations

import base64
import datetime as dt
from html import escape

import pytest

from bench.measure import Measurement, StepRecorder
from bench.record import RecordView, load_record
from bench.session import BenchSession

STYLE = """
<style>
.cb-cert{font-family:system-ui,sans-serif;margin:1em 0}
.cb-cert table{border-collapse:collapse;margin:.5em 0 1em}
.cb-cert th,.cb-cert td{border:1px solid #bbb;padding:2px 8px;text-align:left;vertical-align:top}
.cb-verdict{font-size:1.6em;font-weight:bold;padding:.4em .8em;color:#fff;display:inline-block}
.cb-pass{background:#2e7d32}.cb-fail,.cb-error,.cb-aborted{background:#c62828}
.cb-skip{background:#757575}
td.cb-pass,td.cb-fail,td.cb-error,td.cb-aborted,td.cb-skip{color:#fff}
.cb-cert pre{max-height:24em;overflow:auto;background:#f6f6f6;padding:.5em;font-size:.85em}
</style>
"""


def _kv_table(caption: str, rows: dict) -> str:
    body = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>"
                   for k, v in rows.items())
    return f"<h3>{escape(caption)}</h3><table>{body}</table>"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def measurement_rows(measurements: list[dict]) -> str:
    """Rows of a measurement table from record dicts (failed measurements first)."""
    ordered = sorted(measurements, key=lambda m: m["outcome"] == "pass")
    rows = []
    for m in ordered:
        limits = Measurement(**{**m, "outcome": 0}).limits_text() if m["comparison"] else ""
        rows.append(
            f"<tr><td>{escape(m['name'])}</td><td>{escape(_fmt(m['value']))}</td>"
            f"<td>{escape(m['units'])}</td><td>{escape(limits)}</td>"
            f"<td>{escape(_fmt(m['margin']))}</td>"
            f"<td class='cb-{escape(m['outcome'])}'>{escape(m['outcome'].upper())}</td></tr>"
        )
    head = ("<tr><th>measurement</th><th>value</th><th>units</th><th>limits</th><th>margin</th>"
            "<th>outcome</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>" if rows else ""


def _attachment_html(name: str, media_type: str, content: str | None) -> str:
    if content is None:
        body = "<p><strong>attachment missing from the archive</strong></p>"
    elif media_type == "image/svg+xml":
        # As an <img>, an SVG cannot run script or restyle the page, whatever text it carries.
        data = base64.b64encode(content.encode("utf-8")).decode("ascii")
        body = f"<img alt='{escape(name)}' src='data:image/svg+xml;base64,{data}'>"
    else:
        body = f"<pre>{escape(content)}</pre>"
    return f"<details open><summary>{escape(name)}</summary>{body}</details>"


def _binary_attachment_html(ref: dict) -> str:
    """Data (raw capture samples): named with its size, media type and SHA-256, not shown."""
    return (f"<p>{escape(ref['name'])}: {ref['size']:,} bytes, <code>{escape(ref['media_type'])}"
            f"</code>, attachments/{escape(ref['sha256'])}</p>")


INSTRUMENT_COLUMNS = ("role", "vendor", "model", "serial", "firmware", "resource",
                      "calibration_due")


def _instrument_table(instruments: list[dict]) -> str:
    """One row per instrument; one past its calibration date is flagged in red."""
    rows = []
    for instrument in instruments:
        cells = "".join(f"<td>{escape(_fmt(instrument.get(k)))}</td>" for k in INSTRUMENT_COLUMNS)
        expired = instrument.get("calibration_expired")
        status = ("<td class='cb-fail'>CALIBRATION EXPIRED</td>" if expired else
                  "<td>no due date in profile</td>" if expired is None else "<td>in date</td>")
        rows.append(f"<tr>{cells}{status}</tr>")
    head = "".join(f"<th>{k.replace('_', ' ')}</th>" for k in (*INSTRUMENT_COLUMNS, "status"))
    return f"<h3>Instruments</h3><table><tr>{head}</tr>{''.join(rows)}</table>"


def _utc(stamp: float | None) -> str:
    return "" if stamp is None else dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat(
        timespec="seconds")


def render_certification(view: RecordView) -> str:
    """The static certification section of a report, from a (possibly partial) run record."""
    verdict = view.verdict.name.lower()
    parts = [STYLE, "<div class='cb-cert'>",
             f"<div class='cb-verdict cb-{verdict}'>Verdict: {verdict.upper()}</div>"]
    if view.truncated or view.end is None:
        parts.append("<p><strong>Partial record:</strong> the run ended before it finished.</p>")
    for problem in (view.end or {}).get("problems", []):
        parts.append(f"<p class='cb-problem'><strong>{escape(problem)}</strong></p>")
    counts = {}
    for step in view.steps:
        counts[step["outcome"]] = counts.get(step["outcome"], 0) + 1
    parts.append(_kv_table("Run", {
        "started (UTC)": _utc(view.start.get("time")),
        "ended (UTC)": _utc((view.end or {}).get("time")) or "did not end",
        "steps": ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "none",
    }))
    dut = {k: v for k, v in view.dut.items() if k not in ("kind", "time")}
    parts.append(_kv_table("Device under test", dut or {"identity": "not read"}))
    start = view.start
    parts.append(_kv_table("Station", {**start.get("station", {}),
                                       "operator": start.get("operator", "")}))
    if view.instruments:
        parts.append(_instrument_table(view.instruments))
    software = dict(start.get("software", {}))
    packages = software.pop("packages", {}) or {}
    parts.append(_kv_table("Software", {**software, **packages}))
    failed = [dict(m, name=f"{s['name']} :: {m['name']}") for s in view.steps
              for m in s["measurements"] if m["outcome"] != "pass"]
    if failed:
        parts.append("<h3>Failed measurements</h3>" + measurement_rows(failed))
    parts.append("<h3>Steps</h3>")
    for step in sorted(view.steps, key=lambda s: s["outcome"] == "pass"):
        outcome = escape(step["outcome"])
        parts.append(f"<h4><span class='cb-verdict cb-{outcome}' style='font-size:.8em'>"
                     f"{outcome.upper()}</span> {escape(step['name'])}</h4>")
        if step["doc"]:
            parts.append(f"<p>{escape(step['doc'])}</p>")
        if step["outcome"] != "pass" and step["message"]:
            parts.append(f"<pre>{escape(step['message'])}</pre>")
        parts.append(measurement_rows(step["measurements"]))
        for ref in step["attachments"]:
            if not ref["media_type"].startswith(("text/", "image/svg+xml")):
                parts.append(_binary_attachment_html(ref))
                continue
            try:
                content = view.attachment(ref)
            except OSError:
                content = None
            parts.append(_attachment_html(ref["name"], ref["media_type"], content))
    parts.append("</div>")
    return "".join(parts)


def measurement_extras(recorder: StepRecorder) -> list:
    """pytest-html extras for one test: its measurement table (shown in the JS results table)."""
    if not recorder.measurements:
        return []
    from pytest_html import extras

    table = measurement_rows([m.to_dict() for m in recorder.measurements])
    return [extras.html(STYLE + f"<div class='cb-cert'>{table}</div>")]


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
