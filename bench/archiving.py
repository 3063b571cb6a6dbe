"""What `bench run` does once pytest has returned: archive the run, pick up runs that were
killed before they could archive themselves, refresh the pages, print the verdict.

The verdict line is the contract with the person at the bench and with CI scripts, so nothing
after the record is read (a damaged archive, a locked database, a full disk) may hide it: those
become one-line warnings and the exit code still follows the run's verdict.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from pathlib import Path

import jinja2

from bench import archive, incoming, index_db
from bench.exitcodes import ExitCode, for_verdict
from bench.record import load_record

PAGE_ERRORS = (OSError, sqlite3.Error, jinja2.TemplateError, ValueError)


def _warn(text: str) -> None:
    print(f"bench: warning: {text}", file=sys.stderr)


def recover(reports: Path) -> list[incoming.Recovered]:
    """Archive the staged runs of dead processes as INCOMPLETE, saying so; never raises."""
    try:
        found = incoming.recover(reports)
    except PAGE_ERRORS as error:
        _warn(f"could not recover killed runs in {reports / archive.INCOMING}: {error}")
        return []
    for run in found:
        where = f" -> {run.archived}" if run.archived else ""
        print(f"recovered run {run.staging.name}: {run.note}{where}")
    return found


def abandon(out: Path, reports: Path) -> None:
    """The run wrote no record: drop its empty staging folder, and recover killed runs."""
    incoming.release(out)
    with contextlib.suppress(OSError):
        out.rmdir()
    recover(reports)


def finish_run(out: Path, reports: Path, index: bool = True) -> int:
    """Archive the run staged in `out`, print its verdict and where it went; the exit code."""
    view = load_record(out / archive.RECORD)
    verdict = view.verdict.name
    for damage in view.damaged:
        _warn(f"record {out / archive.RECORD} {damage}")
    try:  # the index first: one that cannot be reached (a lab's server) leaves the run staged
        db = index_db.connect(reports)
        run_dir = archive.store(out, reports, db)
    except PAGE_ERRORS as error:
        print(f"\nverdict: {verdict}\nnot archived ({error}); the run stays in {out}")
        return for_verdict(verdict)
    finally:
        incoming.release(out)
    recovered = recover(reports)
    if index:
        try:
            archive.publish(reports, run_dir, db)
            for run in recovered:
                if run.archived is not None:
                    archive.publish(reports, run.archived, db)
        except PAGE_ERRORS as error:
            _warn(f"archive pages not updated ({type(error).__name__}: {error}); "
                  "`bench archive index` rebuilds them")
    print(f"\nverdict: {verdict}\nreport: {run_dir / 'report.html'}\n"
          f"record: {run_dir / archive.RECORD}\narchive index: {reports / archive.INDEX}")
    ending = view.ending
    if ending:
        print(f"run ended by {ending.get('cause')}: {ending.get('detail')}")
    return for_verdict(verdict)


def rebuild_report(record: Path, target: Path) -> int:
    try:
        print(f"report: {archive.rebuild_report(record, target)}")
    except (archive.RecordUnreadable, OSError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return ExitCode.USAGE
    return ExitCode.PASS
