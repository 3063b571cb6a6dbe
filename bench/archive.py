"""The lab archive: one folder per run, `reports/<dut-id>/<timestamp>_<verdict>/`, sealed by a
SHA-256 manifest, chained into the ledger and added to the SQLite index as it is archived.

    >>> import tempfile
    >>> from bench.measure import Outcome
    >>> from bench.record import RunRecord
    >>> root = Path(tempfile.mkdtemp())
    >>> record = RunRecord(root / "incoming" / "record.jsonl")
    >>> record.start({"id": "desk-1"}, {}); record.dut({"unique_id": "../CB-1"})
    >>> record.end(Outcome.PASS); record.close()
    >>> run = store(record.path.parent, root)
    >>> run.relative_to(root).parts[0], verify(run)
    ('_CB-1~f2caa3f9e69713b4', [])

Names that come from the DUT are sanitized so an identity cannot climb out of the archive; a
name that had to be changed carries `~` and a hash of the identity, so two identities that
sanitize alike never share a folder, and no identity, changed or not, lands on a file of the
archive's own (`ledger*.jsonl`, `index.sqlite`, `days`...). The manifest lists every file of
the run with its SHA-256; `verify` finds any file altered, missing or added since; the ledger
(bench.ledger) finds what a manifest cannot: a run or manifest deleted, a verdict folder
renamed, a manifest rewritten.

Runs in progress and runs whose process was killed are bench.incoming's. Several benches may
archive into one folder at once: each archiving step holds an exclusive
lock on `reports/.lock` (a few milliseconds), folders are reserved with an atomic `mkdir` and
runs moved in with one rename, and pages are replaced atomically.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import index_db, index_pages, ledger, signing
from bench.pages import render_report, write_atomic
from bench.record import Damage, RecordView, load_record

MANIFEST = "MANIFEST.sha256"
INCOMING = ".incoming"  # runs in progress (or crashed) before they are archived
RECORD = "record.jsonl"
INDEX = "index.html"
LOCK = ".lock"
TEXT_VIEWS = (RECORD, "junit.xml", "report.html")  # files that may name the staging folder
# The archive's own names at its root: every one but these holds a dot, and a board folder
# kept as its identity holds none (`board_folder`), so a new file of the archive's never meets
# a board's folder.
RESERVED = {"days", "no-serial"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_RUN_NAME = re.compile(r"\d{8}T\d{6}Z_([A-Z]+)(-\d+)?")


def safe_name(text: str, fallback: str = "unknown") -> str:
    """A file name made of [A-Za-z0-9._-] only, never `.`/`..` or hidden, at most 64 characters."""
    name = _UNSAFE.sub("_", text).lstrip(".")[:64]
    return name or fallback


def board_folder(unique_id: str) -> str:
    """The folder of a DUT: its id when that is plain (letters, digits, `-`, `_`; no dot, so
    never one of the archive's files) and not reserved, else the sanitized id, `~` and 16 hex
    digits of the id's SHA-256. Only the second kind holds a `~`, so `CB-1 ` can never share a
    folder with a board whose id is the first kind, and `CB-1\\0` and `CB-1\\n` do not land
    together. Folders named by an earlier rule (`<id>-<8 hex>`) stay valid where they are."""
    if not unique_id:
        return "no-serial"
    if _PLAIN_ID.fullmatch(unique_id) and unique_id not in RESERVED:
        return unique_id
    digest = hashlib.sha256(unique_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{safe_name(unique_id, '')[:47] or 'id'}~{digest}"


def run_folder(view: RecordView) -> Path:
    """`<dut-id>/<timestamp>_<verdict>` of a run, relative to the archive root."""
    started = dt.datetime.fromtimestamp(view.start.get("time", 0.0), dt.UTC)
    return Path(board_folder(view.unique_id), f"{started:%Y%m%dT%H%M%SZ}_{view.label}")


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _files(run_dir: Path) -> list[str]:
    """Every file under `run_dir` but the manifest and its signature, as sorted POSIX paths."""
    found = []
    for folder, dirs, files in os.walk(run_dir):
        dirs.sort()
        for name in files:
            relative = (Path(folder) / name).relative_to(run_dir).as_posix()
            if relative not in (MANIFEST, signing.SIGNATURE):
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
    kind: str  # altered, missing, added, manifest, ledger, unledgered, verdict, signature
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


def _run_shaped(root: Path) -> Iterator[str]:
    """`<dut>/<stamp>_<VERDICT>` of every run-shaped folder outside hidden ones, in one pass of
    `os.scandir` (its entries know their type: no stat per file, as a glob would make)."""
    if not root.is_dir():
        return
    with os.scandir(root) as boards:
        for board in boards:
            if board.name.startswith(".") or not board.is_dir():
                continue
            with os.scandir(board.path) as runs:
                yield from (f"{board.name}/{run.name}" for run in runs
                            if _RUN_NAME.fullmatch(run.name) and run.is_dir())


def find_runs(root: Path) -> list[Path]:
    """Archived run folders under `root` (run-shaped, holding a manifest), sorted."""
    return [run for run in run_dirs(root) if (run / MANIFEST).is_file()]


def run_dirs(root: Path) -> list[Path]:
    """Every folder that looks like a run (`<dut>/<stamp>_<VERDICT>`), manifest or not."""
    return sorted(root / folder for folder in _run_shaped(root))


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Exclusive use of the archive for one archiving step (flock; released if the process dies)."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _reserve(root: Path, view: RecordView) -> Path:
    """Create the run's folder atomically; `-2`, `-3`... when the same second is taken."""
    base = root / run_folder(view)
    if not base.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"{base}: run folder outside the archive {root}")
    base.parent.mkdir(parents=True, exist_ok=True)
    target, n = base, 1
    while True:
        try:
            target.mkdir()
            return target
        except FileExistsError:
            n += 1
            target = base.with_name(f"{base.name}-{n}")


def _relocate(staging: Path, target: Path) -> None:
    """Messages written during the run name files in the staging folder (a traffic log): point
    them at the run's archived folder, before the manifest seals it."""
    for name in TEXT_VIEWS:
        path = staging / name
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        changed = text
        for old in {str(staging.resolve()), str(staging)}:
            changed = changed.replace(old, str(target))
        if changed != text:
            path.write_text(changed, encoding="utf-8", errors="surrogateescape")


def store(staging: Path, root: Path, db: sqlite3.Connection | None = None) -> Path:
    """Move a finished (or recovered) run folder into the archive under its DUT and verdict, seal
    it, chain its manifest into the ledger and add it to the index database."""
    view = load_record(staging / RECORD)
    with locked(root):
        target = _reserve(root, view)
        _relocate(staging, target)
        extra = signing.sign_manifest(write_manifest(staging))
        # Sealed before it appears: a kill from here on leaves either the staged run (recovered
        # later) or the sealed run, which `verify` reports as unledgered if the kill came before
        # the ledger entry (`bench archive adopt` then ledgers it).
        os.rename(staging, target)  # onto the empty folder just reserved: one atomic step
        manifest = target / MANIFEST
        folder = target.relative_to(root).as_posix()
        ledger.append(root, folder, file_digest(manifest), view.label, extra)
        view = load_record(target / RECORD)
        index_db.add(db or index_db.connect(root), index_db.row_of(folder, view), view)
    return target


def publish(root: Path, run_dir: Path, db: sqlite3.Connection | None = None) -> Path:
    """Rewrite the pages that list a newly archived run (home, its day, its board)."""
    db = db or index_db.connect(root)
    row = index_db.get(db, run_dir.relative_to(root).as_posix())
    if row is None:
        raise ValueError(f"{run_dir}: not in the index of {root}")
    with locked(root):  # the last writer renders what every writer before it added
        index_pages.write_for_run(root, db, row)
    return root / INDEX


def _view(run_dir: Path) -> RecordView:
    try:
        return load_record(run_dir / RECORD)
    except OSError as error:
        return RecordView(run_dir / RECORD, damaged=[Damage(0, f"unreadable: {error}")])


def index_rows(root: Path, folders: list[str]) -> Iterator[tuple[index_db.RunRow, RecordView]]:
    """The index rows of archived runs, from their records."""
    for folder in folders:
        view = _view(root / folder)
        yield index_db.row_of(folder, view), view


def write_index(root: Path, rebuild: bool = False) -> Path:
    """Bring the index database and its pages up to date with the run folders: index the runs
    archived since (or whose record changed: its size or time), drop the runs gone, and rewrite
    only the pages listing them or a run archived without its pages (`bench run --no-index`),
    so the cost follows what changed, not the archive's size. `rebuild`: re-read every record
    and rewrite every page (after an upgrade, or when `verify` finds the index differs from the
    records). Under the archive's lock, so a run archived meanwhile is neither missed nor
    dropped; empty run folders that a store killed between reserving and filling them left
    behind are removed."""
    with locked(root):
        on_disk: dict[str, str] = {}  # sealed run -> its record's stamp
        for folder in _run_shaped(root):
            path = os.path.join(root, folder)
            if os.path.isfile(os.path.join(path, MANIFEST)):
                on_disk[folder] = index_db.stamp(os.path.join(path, RECORD))
            elif not os.listdir(path):
                os.rmdir(path)
        db = index_db.connect(root)
        if rebuild:
            index_db.replace_all(db, index_rows(root, sorted(on_disk)))
            return index_pages.write_all(root, db)
        known = index_db.stamps(db)
        changed = sorted(folder for folder, stamp in on_disk.items() if known.get(folder) != stamp)
        indexed = {folder for (folder,) in db.execute("SELECT folder FROM runs")}
        gone = sorted(indexed - on_disk.keys()) + [f for f in changed if f in indexed]
        before = [row for folder in gone  # what the pages listed
                  for row in [index_db.get(db, folder)] if row is not None]
        index_db.update(db, index_rows(root, changed), gone)
        index_pages.write_for_runs(root, db, index_db.unpublished(db), before)
        return root / INDEX


class RecordUnreadable(Exception):
    """A record that cannot be opened at all: one line for the user, no traceback."""


def rebuild_report(record: Path, target: Path) -> Path:
    """A standalone certification report from a record, a partial or damaged one included."""
    try:
        view = load_record(record)
    except OSError as error:
        raise RecordUnreadable(f"cannot read record {record}: {error.strerror or error}") from None
    return write_atomic(target, render_report(view))
