"""Runs in progress: each `bench run` stages its run in `reports/.incoming/<name>/` under an
flock it holds until the run is archived; a staged run whose lock is free belongs to a process
that died (SIGKILL, a power cut), and `recover` archives it as INCOMPLETE.

    out = claim(reports, "20261128T120000Z-4242")   # before pytest starts
    ...                                             # the run writes its record into `out`
    archive.store(out, reports); release(out)
    recover(reports)                                # next run, or `bench archive index`

The kernel drops an flock when its process dies, however it dies, so no PID file can go stale
and a PID reused by another process cannot fool it.
"""

from __future__ import annotations

import contextlib
import fcntl
from dataclasses import dataclass
from pathlib import Path

from bench import archive
from bench.record import load_record

VIEWS = ("report.html", "junit.xml")  # what pytest writes even for a run refused at collection
_CLAIMS: dict[Path, object] = {}  # staging folder -> its lock file, open while the run lives


def claim(root: Path, name: str) -> Path:
    """A staging folder `root/.incoming/<name>` for the run of this process, held under an flock
    on `<name>.lock` beside it until `release`: the kernel drops the lock when the process
    dies, however it dies, so a staged run whose lock is free was killed (`recover`)."""
    incoming = root / archive.INCOMING
    incoming.mkdir(parents=True, exist_ok=True)
    lock = (incoming / f"{name}.lock").open("a")
    fcntl.flock(lock, fcntl.LOCK_EX)  # before the folder exists: recovery never sees it free
    folder = incoming / name
    folder.mkdir()
    _CLAIMS[folder] = lock
    return folder


def release(staging: Path) -> None:
    """The run has been archived (or abandoned): drop its lock and lock file."""
    lock = _CLAIMS.pop(staging, None)
    (staging.parent / f"{staging.name}.lock").unlink(missing_ok=True)
    if lock is not None:
        lock.close()


def nothing_recorded(staging: Path) -> bool:
    """Whether the run staged here recorded nothing: no record, or not one event in it (the
    station was never touched, or the disk was full before the first line)."""
    record = staging / archive.RECORD
    return not record.exists() or load_record(record).empty


@dataclass(frozen=True)
class Recovered:
    staging: Path
    archived: Path | None
    note: str


def recover(root: Path) -> list[Recovered]:
    """Archive, as INCOMPLETE, every staged run whose process is gone (killed with SIGKILL, power
    cut): its report is rebuilt from the partial record and its manifest written."""
    incoming = root / archive.INCOMING
    found = []
    for orphan in incoming.glob("*.lock"):  # a run killed between its lock and its folder
        if not orphan.with_suffix("").exists():
            with orphan.open("a") as lock, contextlib.suppress(BlockingIOError):
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                orphan.unlink(missing_ok=True)
    for folder in sorted(p for p in incoming.glob("*") if p.is_dir()) if incoming.exists() else []:
        with (incoming / f"{folder.name}.lock").open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its run is still going
            if not folder.exists():
                continue  # archived by its own process a moment ago
            if nothing_recorded(folder):
                for name in (archive.RECORD, *VIEWS):  # views of a run that measured nothing
                    (folder / name).unlink(missing_ok=True)
                if any(folder.iterdir()):
                    found.append(Recovered(folder, None, "files but no record: left in place"))
                    continue
                folder.rmdir()
                (incoming / f"{folder.name}.lock").unlink(missing_ok=True)
                continue
            try:  # one run that cannot be archived must not keep the others in here
                archive.rebuild_report(folder / archive.RECORD, folder / "report.html")
                archived = archive.store(folder, root)
            except (OSError, ValueError, archive.RecordUnreadable) as error:
                found.append(Recovered(folder, None, f"not archived ({error}): left in place"))
                continue
            (incoming / f"{folder.name}.lock").unlink(missing_ok=True)
            label = load_record(archived / archive.RECORD).label
            found.append(Recovered(folder, archived, f"archived as {label}"))
    return found
