"""The one rendering layer: Jinja2 templates (bench/templates) with autoescape for every page.

    >>> view = RecordView(Path("record.jsonl"), dut={"unique_id": "<b>CB-1</b>\\x00"})
    >>> "&lt;b&gt;CB-1&lt;/b&gt;\\\\x00" in render_report(view)
    True

Every value a template prints goes through `visible` before it is escaped (the environment's
`finalize`), so a NUL, a newline or a bidirectional override in a board's identity shows as
`\\x00`, `\\n`, `\\u202e` on every page instead of being dropped or reordering the text. Multi-line
text (tracebacks, traffic logs) keeps its line breaks through the `pre` filter. One base
template holds the content-security policy and the style sheet.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import tempfile
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from bench.measure import Measurement
from bench.record import RecordView
from bench.visible import visible

INSTRUMENT_COLUMNS = ("role", "vendor", "model", "serial", "firmware", "resource",
                      "calibration_due")


def _shown(value: object) -> object:
    return value if isinstance(value, Markup) else visible(value)


def _pre(text: object) -> Markup:
    """Multi-line text for a <pre>: each line visibly escaped, the line breaks kept."""
    lines = ("" if text is None else str(text)).split("\n")
    return Markup("\n".join(str(escape(visible(line, keep_spaces=True))) for line in lines))


def fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _g4(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("bench", "templates"), autoescape=True, finalize=_shown,
    trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
ENV.filters.update(pre=_pre, fmt=fmt, g4=_g4)


def render(template: str, script: str = "", **context: object) -> str:
    """A page (or fragment) from `template`; `script` is the only script the policy lets run."""
    script_src = "'none'"
    if script:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        script_src = f"'sha256-{digest}'"
    return ENV.get_template(template).render(script=Markup(script), script_src=Markup(script_src),
                                             **context)


def write_atomic(target: Path, text: str) -> Path:
    """Write through a temporary file and a rename, so a reader never sees half a page."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, target)
    return target


def _utc(stamp: object) -> str:
    if not isinstance(stamp, (int, float)):
        return ""
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat(timespec="seconds")


def measurement_view(m: dict, name: str | None = None) -> dict:
    """A record's measurement as the tables show it: limits as text derived from the numbers."""
    try:
        limits = Measurement(**{**m, "outcome": 0}).limits_text() if m.get("comparison") else ""
    except (TypeError, ValueError, KeyError):
        limits = f"low {m.get('low')}, high {m.get('high')}, nominal {m.get('nominal')}"
    return {"name": name or m.get("name", ""), "value": m.get("value"),
            "units": m.get("units", ""), "limits": limits, "margin": m.get("margin"),
            "outcome": str(m.get("outcome", "")), "passed": m.get("outcome") == "pass"}


def _attachment(view: RecordView, ref: dict) -> dict:
    media_type = str(ref.get("media_type", ""))
    if not media_type.startswith(("text/", "image/svg+xml")):
        # data (raw capture samples): named by size, type and SHA-256, kept beside the record
        present = (view.path.parent / "attachments" / str(ref.get("sha256", ""))).is_file()
        return {"name": ref.get("name", ""), "content": None, "svg": None, "present": present,
                "data": f"{ref.get('size', 0):,} bytes, {media_type}, "
                        f"attachments/{ref.get('sha256', '')}"}
    try:
        content = view.attachment(ref)
    except (OSError, KeyError, UnicodeDecodeError):
        content = None
    svg = None
    if content is not None and ref.get("media_type") == "image/svg+xml":
        # As an <img>, an SVG cannot run script or restyle the page, whatever text it carries.
        svg = base64.b64encode(content.encode("utf-8")).decode("ascii")
    return {"name": ref.get("name", ""), "content": content, "svg": svg, "data": None}


def certification_context(view: RecordView, embedded: bool = False) -> dict:
    """Everything the certification section shows, from a (partial, damaged) record."""
    counts: dict[str, int] = {}
    for step in view.steps:
        counts[step["outcome"]] = counts.get(step["outcome"], 0) + 1
    ending = dict(view.ending)
    planned = view.start.get("planned") or []
    run = {"started (UTC)": _utc(view.start.get("time")),
           "ended (UTC)": _utc((view.end or {}).get("time")) or "did not end",
           "steps": ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
           or "none"}
    if planned:
        run["planned steps"] = len(planned)
    start = view.start
    software = dict(start.get("software", {}))
    packages = software.pop("packages", {}) or {}
    steps = sorted(view.steps, key=lambda s: s["outcome"] == "pass")
    return {
        "title": f"citebench run {view.unique_id} {view.label}",
        "embedded": embedded, "label": view.label, "ending": ending,
        "partial": view.truncated or view.end is None, "damaged": view.damaged,
        "problems": (view.end or {}).get("problems", []), "run": run,
        "dut": {k: v for k, v in view.dut.items() if k not in ("kind", "time")}
        or {"identity": "not read"},
        "station": {**start.get("station", {}), "operator": start.get("operator", "")},
        "instruments": view.instruments, "instrument_columns": INSTRUMENT_COLUMNS,
        "software": {**software, **packages},
        "failed": [measurement_view(m, f"{s['name']} :: {m.get('name', '')}")
                   for s in view.steps for m in s["measurements"] if m.get("outcome") != "pass"],
        "steps": [{"name": s["name"], "doc": s.get("doc", ""), "outcome": s["outcome"],
                   "message": s.get("message", "") if s["outcome"] != "pass" else "",
                   "measurements": [measurement_view(m) for m in s["measurements"]],
                   "attachments": [_attachment(view, ref) for ref in s["attachments"]]}
                  for s in steps],
        "not_run": ending.get("not_run", []), "not_run_reason": ending.get("not_run_reason", ""),
    }


def render_certification(view: RecordView, embedded: bool = True) -> str:
    """The static certification section (with its style sheet, for pytest-html's summary)."""
    return render("certification.html", **certification_context(view, embedded))


def render_report(view: RecordView) -> str:
    """A standalone report page from a record: the certification section under the base page."""
    return render("report.html", **certification_context(view))
