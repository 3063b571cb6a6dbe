"""The lab archive: one folder per run, `reports/<dut-serial>/<timestamp>_<verdict>/`, sealed by a
SHA-256 manifest, and an index page of every run.

    >>> import tempfile
    >>> from bench.record import RunRecord
    >>> root = Path(tempfile.mkdtemp())
    >>> record = RunRecord(root / "incoming" / "record.jsonl")
    >>> record.start({"id": "desk-1"}, {}); record.dut({"serial": "../CB-1"})
    >>> record.end(Outcome.PASS); record.close()
    >>> run = store(record.path.parent, root)
    >>> run.relative_to(root).parts[0], verify(run)
    ('_CB-1', [])

Names that come from the DUT are sanitized so a serial number cannot climb out of the archive.
The manifest lists every file of the run with its SHA-256; `verify` finds any file altered,
missing or added since. The manifest alone does not stop someone who rewrites it as well: keep the
archive on write-once storage, or copy the manifests' own hashes somewhere else.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from html import escape
from pathlib import Path

from bench.measure import Outcome
from bench.record import RecordView, load_record

MANIFEST = "MANIFEST.sha256"
INCOMING = ".incoming"  # runs in progress (or crashed) before they are archived
RECORD = "record.jsonl"
INDEX = "index.html"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, fallback: str = "unknown") -> str:
    """A file name made of [A-Za-z0-9._-] only, never `.`/`..` or hidden, at most 64 characters."""
    name = _UNSAFE.sub("_", text).lstrip(".")[:64]
    return name or fallback


def dut_id(view: RecordView) -> str:
    """The board's unique id (records before board kits named it `serial`)."""
    return str(view.dut.get("unique_id", view.dut.get("serial", "")))


def run_folder(view: RecordView) -> Path:
    """`<dut-serial>/<timestamp>_<verdict>` of a run, relative to the archive root."""
    started = dt.datetime.fromtimestamp(view.start.get("time", 0.0), dt.UTC)
    return Path(safe_name(dut_id(view), "no-serial"),
                f"{started:%Y%m%dT%H%M%SZ}_{view.verdict.name}")


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _files(run_dir: Path) -> list[str]:
    """Every file under `run_dir` but the manifest, as sorted POSIX paths relative to it."""
    found = []
    for folder, dirs, files in os.walk(run_dir):
        dirs.sort()
        for name in files:
            relative = (Path(folder) / name).relative_to(run_dir).as_posix()
            if relative != MANIFEST:
                found.append(relative)
    return sorted(found)


def write_manifest(run_dir: Path) -> Path:
    """Seal a run: `<sha256>  <path>` per file, the format `sha256sum -c` reads."""
    lines = []
    for relative in _files(run_dir):
        if "\n" in relative or "\r" in relative:
            raise ValueError(f"{run_dir}: file name {relative!r} cannot go in a manifest")
        lines.append(f"{file_digest(run_dir / relative)}  {relative}\n")
    target = run_dir / MANIFEST
    target.write_text("".join(lines), encoding="utf-8")
    return target


@dataclass(frozen=True)
class Problem:
    kind: str  # "altered", "missing", "added", "manifest"
    path: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}" + (f" ({self.detail})" if self.detail else "")


def verify(run_dir: Path) -> list[Problem]:
    """Every difference between a run folder and its manifest; empty when the run is intact."""
    manifest = run_dir / MANIFEST
    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return [Problem("manifest", str(manifest), f"unreadable: {error}")]
    expected: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        digest, sep, relative = line.partition("  ")
        if not sep or not re.fullmatch(r"[0-9a-f]{64}", digest):
            return [Problem("manifest", str(manifest), f"line {number} is malformed: {line!r}")]
        expected[relative] = digest
    present = set(_files(run_dir))
    problems = [Problem("missing", p) for p in sorted(set(expected) - present)]
    problems += [Problem("added", p) for p in sorted(present - set(expected))]
    for relative in sorted(present & set(expected)):
        actual = file_digest(run_dir / relative)
        if actual != expected[relative]:
            problems.append(Problem("altered", relative,
                                    f"sha256 {actual[:16]}…, manifest {expected[relative][:16]}…"))
    return problems


def find_runs(root: Path) -> list[Path]:
    """Archived run folders under `root` (`<serial>/<run>/` holding a manifest), sorted."""
    return sorted(p.parent for p in root.glob(f"*/*/{MANIFEST}"))


def store(staging: Path, root: Path) -> Path:
    """Move a finished run folder into the archive under its DUT and verdict, then seal it."""
    view = load_record(staging / RECORD)
    target = root / run_folder(view)
    base, n = target, 1
    while target.exists():
        n += 1
        target = base.with_name(f"{base.name}-{n}")
    if not target.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"{target}: run folder outside the archive {root}")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staging), target)
    write_manifest(target)
    return target


@dataclass(frozen=True)
class RunSummary:
    """One line of the index: read from a run's record."""

    folder: str  # relative to the archive root, POSIX
    serial: str
    started: str  # ISO 8601, UTC
    verdict: str
    station: str
    operator: str
    firmware: str
    steps: int
    failed: int

    @classmethod
    def of(cls, run_dir: Path, root: Path) -> RunSummary:
        view = load_record(run_dir / RECORD)
        started = dt.datetime.fromtimestamp(view.start.get("time", 0.0), dt.UTC)
        return cls(run_dir.relative_to(root).as_posix(), dut_id(view),
                   started.isoformat(timespec="seconds"), view.verdict.name,
                   str(view.start.get("station", {}).get("id", "")),
                   str(view.start.get("operator", "")), str(view.dut.get("firmware", "")),
                   len(view.steps), sum(s["outcome"] in ("fail", "error") for s in view.steps))


PAGE_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em}
table{border-collapse:collapse}th,td{border:1px solid #bbb;padding:2px 8px;text-align:left}
.v-PASS{background:#2e7d32;color:#fff}.v-SKIP{background:#757575;color:#fff}
.v-FAIL,.v-ERROR,.v-ABORTED{background:#c62828;color:#fff}
form{margin:1em 0}label{margin-right:1em}
"""

FILTER_SCRIPT = """
const form = document.getElementById("filters");
form.hidden = false;
form.addEventListener("input", () => {
  const dut = form.dut.value.toLowerCase(), verdict = form.verdict.value;
  const from = form.from.value, to = form.to.value;
  for (const row of document.querySelectorAll("#runs tbody tr")) {
    const day = row.dataset.started.slice(0, 10);
    row.hidden = !(row.dataset.serial.toLowerCase().includes(dut)
      && (!verdict || row.dataset.verdict === verdict)
      && (!from || day >= from) && (!to || day <= to));
  }
});
"""


def html_page(title: str, body: str, script: str = "") -> str:
    """A standalone page whose content-security policy lets no script run but `script` itself."""
    script_src = "'none'"
    if script:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        script_src = f"'sha256-{digest}'"
    policy = (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              f"script-src {script_src}")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{policy}\">"
            f"<title>{escape(title)}</title><style>{PAGE_STYLE}</style></head><body>{body}"
            + (f"<script>{script}</script>" if script else "") + "</body></html>")


def render_index(runs: list[RunSummary], statistics_link: bool = True) -> str:
    """The index page: a static table (readable without JavaScript) with optional filters."""
    rows = []
    for run in sorted(runs, key=lambda r: r.started, reverse=True):
        rows.append(
            f"<tr data-serial='{escape(run.serial)}' data-verdict='{escape(run.verdict)}' "
            f"data-started='{escape(run.started)}'><td>{escape(run.started)}</td>"
            f"<td>{escape(run.serial)}</td><td class='v-{escape(run.verdict)}'>"
            f"{escape(run.verdict)}</td><td>{escape(run.firmware)}</td>"
            f"<td>{escape(run.station)}</td><td>{escape(run.operator)}</td>"
            f"<td>{run.steps}</td><td>{run.failed}</td>"
            f"<td><a href='{escape(run.folder)}/report.html'>report</a> · "
            f"<a href='{escape(run.folder)}/{RECORD}'>record</a></td></tr>")
    verdicts = "".join(f"<option>{o.name}</option>" for o in Outcome)
    counts = {o.name: sum(r.verdict == o.name for r in runs) for o in Outcome}
    summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "no runs"
    body = (
        f"<h1>citebench archive</h1><p>{len(runs)} runs: {summary}."
        + (" <a href='statistics.html'>Statistics across boards</a>" if statistics_link else "")
        + "</p><form id='filters' hidden><label>DUT <input name='dut'></label>"
        f"<label>verdict <select name='verdict'><option value=''>any</option>{verdicts}"
        "</select></label><label>from <input name='from' type='date'></label>"
        "<label>to <input name='to' type='date'></label></form>"
        "<table id='runs'><thead><tr><th>started (UTC)</th><th>DUT serial</th><th>verdict</th>"
        "<th>firmware</th><th>station</th><th>operator</th><th>steps</th><th>failed</th>"
        f"<th>files</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return html_page("citebench archive", body, FILTER_SCRIPT)


def rebuild_report(record: Path, target: Path) -> Path:
    """A standalone certification report from a record, a partial one of a crashed run included."""
    from bench.report import render_certification

    view = load_record(record)
    title = f"citebench run {dut_id(view)} {view.verdict.name}"
    target.write_text(html_page(title, render_certification(view)), encoding="utf-8")
    return target


def write_index(root: Path) -> Path:
    """Write `root/index.html` listing every archived run."""
    runs = [RunSummary.of(run, root) for run in find_runs(root)]
    target = root / INDEX
    target.write_text(render_index(runs), encoding="utf-8")
    return target
