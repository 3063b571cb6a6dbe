"""The archive's index: one SQLite database (`reports/index.sqlite`) with a row per archived run
and per numeric measurement, updated as each run is archived and rebuildable from the records.

    >>> import tempfile
    >>> db = connect(Path(tempfile.mkdtemp()))
    >>> count(db)
    0

Pages and statistics are queries on it, so archiving a run costs the same with 100 or 30,000
runs already archived. WAL mode and a busy timeout let several benches on one host write into a
shared archive at once; SQLite locking over a network filesystem is not reliable, so benches on
several hosts need one archiving host (see docs/reports.md). The records stay the truth:
`replace_all` recreates the database from them at any time, and `differences` compares the
database with such a rebuild, so an index edited by hand (a verdict turned to PASS) is found.
A run archived without its pages (`bench run --no-index`) stays `unpublished` until
`bench archive index` writes them; each run's record is remembered by its `stamp` (size and
modification time), so `bench archive index` re-reads only the records that changed.

A lab whose benches share one archive folder over the network keeps the index in PostgreSQL
instead: `BENCH_INDEX=postgresql://host/db` (docs/lab.md). The queries are written once, in the
SQL both accept; `_Postgres` changes only what differs (placeholders, `instr`, the write lock).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import math
import os
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from bench.record import RecordView, measurement_key

DATABASE = "index.sqlite"
SETUP_LOCK = ".index.lock"  # held while a connection makes or updates the schema
INDEX_URL = "BENCH_INDEX"  # environment: a postgresql:// URL puts the index there
# The runs table and its plain indexes: the same text in SQLite and PostgreSQL.
RUNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    folder TEXT PRIMARY KEY, unique_id TEXT, board TEXT, started TEXT, day TEXT, verdict TEXT,
    plan TEXT, firmware TEXT, station TEXT, operator TEXT, steps INTEGER, failed INTEGER,
    planned INTEGER, ending TEXT, damaged TEXT);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started, folder);
CREATE INDEX IF NOT EXISTS runs_day ON runs (day, started, folder);
"""
SCHEMA = RUNS_SCHEMA + """
CREATE INDEX IF NOT EXISTS runs_board ON runs (unique_id, started, folder);
CREATE INDEX IF NOT EXISTS runs_board_key
    ON runs (CASE unique_id WHEN '' THEN folder ELSE unique_id END, started, folder);
CREATE INDEX IF NOT EXISTS runs_board_folder
    ON runs (substr(folder, 1, instr(folder, '/') - 1), started, folder, unique_id);
CREATE INDEX IF NOT EXISTS runs_damaged ON runs (started, folder) WHERE damaged != '';
CREATE TABLE IF NOT EXISTS tally (day TEXT, verdict TEXT, n INTEGER,
                                  PRIMARY KEY (day, verdict)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, step TEXT, name TEXT, units TEXT, low REAL, high REAL,
    UNIQUE (step, name));
CREATE TABLE IF NOT EXISTS measurements (
    folder TEXT, board TEXT, series INTEGER, value REAL, passed INTEGER, latest INTEGER);
CREATE INDEX IF NOT EXISTS measurements_folder ON measurements (folder);
CREATE INDEX IF NOT EXISTS measurements_board ON measurements (board) WHERE latest = 1;
CREATE INDEX IF NOT EXISTS measurements_latest ON measurements (series, value, passed)
    WHERE latest = 1;
CREATE TABLE IF NOT EXISTS unpublished (folder TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sources (folder TEXT PRIMARY KEY, stamp TEXT) WITHOUT ROWID;
"""
# The same tables in PostgreSQL (REAL is single precision there; expression indexes need
# parentheses); the columns of ADDED_COLUMNS are in it from the start.
POSTGRES_SCHEMA = RUNS_SCHEMA + """
CREATE INDEX IF NOT EXISTS runs_board_key
    ON runs ((CASE unique_id WHEN '' THEN folder ELSE unique_id END), started, folder);
CREATE TABLE IF NOT EXISTS tally (day TEXT, verdict TEXT, n INTEGER, PRIMARY KEY (day, verdict));
CREATE TABLE IF NOT EXISTS series (
    id SERIAL PRIMARY KEY, step TEXT, name TEXT, units TEXT, low DOUBLE PRECISION,
    high DOUBLE PRECISION, label TEXT, UNIQUE (step, name));
CREATE TABLE IF NOT EXISTS measurements (
    folder TEXT, board TEXT, series INTEGER, value DOUBLE PRECISION, passed INTEGER,
    latest INTEGER, marginal INTEGER DEFAULT 0);
CREATE INDEX IF NOT EXISTS measurements_folder ON measurements (folder);
CREATE INDEX IF NOT EXISTS measurements_board ON measurements (board) WHERE latest = 1;
CREATE TABLE IF NOT EXISTS unpublished (folder TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS sources (folder TEXT PRIMARY KEY, stamp TEXT);
"""
BOARD = "CASE unique_id WHEN '' THEN folder ELSE unique_id END"  # one board, one vote
BOARD_FOLDER = "substr(folder, 1, instr(folder, '/') - 1)"  # as in runs_board_folder


@dataclass(frozen=True)
class RunRow:
    """One archived run as the pages show it; every text field came from the run's record."""

    folder: str  # relative to the archive root, POSIX
    unique_id: str
    board: str
    started: str  # ISO 8601, UTC
    day: str
    verdict: str  # PASS, FAIL, ... or INCOMPLETE
    plan: str  # the plan files of its steps, space-separated
    firmware: str
    station: str
    operator: str
    steps: int
    failed: int
    planned: int | None
    ending: str  # what ended the run early, "" when it ran out of steps
    damaged: str  # the record's unreadable lines, "" when none


COLUMNS = ", ".join(f.name for f in fields(RunRow))
REPLACED = ", ".join(f"{f.name} = excluded.{f.name}" for f in fields(RunRow)[1:])


def connect(root: Path | None) -> sqlite3.Connection:
    """The archive's database, created if absent; WAL, and 30 s of patience with other writers.
    `None`: an empty database in memory (what the archive's would be, rebuilt: `differences`).
    With a postgresql:// URL in BENCH_INDEX, the lab's database there, whatever `root`."""
    url = os.environ.get(INDEX_URL, "")
    if root is not None and url:
        return _Postgres(url)  # type: ignore[return-value]  # the sqlite3 calls used here
    if root is None:
        db = sqlite3.connect(":memory:", isolation_level=None)
        db.executescript(SCHEMA)
        _add_columns(db)
        return db
    root.mkdir(parents=True, exist_ok=True)
    # one process at a time makes or brings the index up to date: slots that start at once each
    # saw a column missing and all but the first failed adding it ("duplicate column name"),
    # and switching a new database to WAL does not wait for another ("database is locked")
    with (root / SETUP_LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed, or when the process dies
        db = sqlite3.connect(root / DATABASE, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        _add_columns(db)
    return db


# Columns added since the first schema: (table, column, declaration).
ADDED_COLUMNS = (("series", "label", "TEXT"), ("measurements", "marginal", "INTEGER DEFAULT 0"))


def in_lab_database() -> bool:
    """Whether archives keep their index in the lab's PostgreSQL database (BENCH_INDEX)."""
    return bool(os.environ.get(INDEX_URL))


class _Postgres:
    """The lab's index in PostgreSQL through psycopg (extra `citebench[lab]`), answering the
    `execute`/`executemany` calls of this module and bench.stats in SQLite's dialect: `?`
    placeholders become `%s`, `instr` becomes `strpos` (same arguments), `CAST(x AS INT)`
    `TRUNC(x)::int` (SQLite truncates, PostgreSQL rounds), `INDEXED BY` hints go, and BEGIN
    IMMEDIATE takes a transaction-wide advisory lock, so writers queue as they do on SQLite's
    file."""

    LOCK = "SELECT pg_advisory_xact_lock(19)"  # the index's one writer, until COMMIT

    def __init__(self, url: str) -> None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"{INDEX_URL}={url!r}: not a postgresql:// URL")
        shown = re.sub(r":[^:@/]*@", ":***@", url)  # a password in the URL stays unprinted
        try:  # an OSError: a bench's ordinary "not archived, the run stays staged" path
            import psycopg  # lazily: only a lab archive needs it
        except ImportError as error:
            raise OSError(f"{INDEX_URL}: the lab's index {shown} needs psycopg ({error}): "
                          "pip install 'citebench[lab]'") from error
        try:
            self.db = psycopg.connect(url, autocommit=True)
        except psycopg.Error as error:
            raise OSError(f"{INDEX_URL}: the lab's index {shown} cannot be reached: "
                          f"{str(error).strip()}") from error
        if self.db.execute("SELECT to_regclass('sources')").fetchone()[0] is None:
            with self.db.transaction():  # under the writers' lock: CREATE INDEX blocks writes
                self.db.execute(self.LOCK)
                self.db.execute(POSTGRES_SCHEMA)

    @staticmethod
    def _sql(sql: str, placeholders: bool = True) -> str:
        if sql == "BEGIN IMMEDIATE":
            return f"BEGIN; {_Postgres.LOCK}"
        sql = re.sub(r" INDEXED BY \w+", "", sql).replace("instr(", "strpos(")
        # SQLite's CAST to an integer truncates, PostgreSQL's rounds
        sql = re.sub(r"CAST\((.*?) AS INT\)", r"TRUNC(\1)::int", sql, flags=re.S)
        return sql.replace("%", "%%").replace("?", "%s") if placeholders else sql

    def execute(self, sql: str, values: Iterable = ()):  # a psycopg cursor: sqlite3's calls
        values = tuple(values)  # none: psycopg sends the text as written, % included
        return self.db.execute(self._sql(sql, bool(values)), values or None)  # type: ignore

    def executemany(self, sql: str, rows: Iterable[tuple]) -> None:
        rows = list(rows)
        if rows:
            self.db.cursor().executemany(self._sql(sql), rows)  # type: ignore[arg-type]

    def close(self) -> None:
        self.db.close()


def _add_columns(db: sqlite3.Connection) -> None:
    """Bring a database of any age to the current columns (a new one is made by the first
    schema, then this), so one path serves both; `bench archive index` fills them."""
    for table, column, declaration in ADDED_COLUMNS:
        if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    db.execute("CREATE INDEX IF NOT EXISTS measurements_marginal ON measurements (series) "
               "WHERE latest = 1 AND marginal = 1")


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def row_of(folder: str, view: RecordView) -> RunRow:
    started = dt.datetime.fromtimestamp(_number(view.start.get("time")) or 0.0, dt.UTC)
    planned = view.start.get("planned", [])
    names = planned or [step["name"] for step in view.steps]
    plans = sorted({str(name).partition("::")[0] for name in names})
    ending = view.ending
    return RunRow(
        folder, view.unique_id, str(view.dut.get("board", "")),
        started.isoformat(timespec="seconds"), f"{started:%Y-%m-%d}", view.label, " ".join(plans),
        str(view.dut.get("firmware", "")), str(view.start.get("station", {}).get("id", "")),
        str(view.start.get("operator", "")), len(view.steps),
        sum(step["outcome"] in ("fail", "error", "aborted") for step in view.steps),
        len(planned) if planned else None,
        f"{ending.get('cause', '')}: {ending.get('detail', '')}" if ending else "",
        "; ".join(str(d) for d in view.damaged))


def stamp(record: Path | str) -> str:
    """What tells that a record changed since it was indexed: its size and modification time
    ("" when it cannot be read)."""
    try:
        found = os.stat(record)
    except OSError:
        return ""
    return f"{found.st_size}:{found.st_mtime_ns}"


def stamps(db: sqlite3.Connection) -> dict[str, str]:
    """Run folder -> the stamp of the record it was indexed from."""
    return dict(db.execute("SELECT folder, stamp FROM sources"))


def _series(db: sqlite3.Connection, step: str, m: dict) -> int:
    """The id of a step's measurement across runs, keyed on the measurement's spec `id` (its
    display name when it has none, as in records before format 2), so renaming a measurement
    keeps its history; its label (display name), units and limits are the latest seen."""
    return db.execute(
        "INSERT INTO series (step, name, label, units, low, high) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (step, name) DO UPDATE SET label = excluded.label, units = excluded.units, "
        "low = excluded.low, high = excluded.high RETURNING id",
        (step, measurement_key(m), str(m.get("name", "")),
         str(m.get("units", "")), _number(m.get("low")), _number(m.get("high")))).fetchone()[0]


def _measurements(db: sqlite3.Connection, row: RunRow, view: RecordView,
                  latest: int) -> Iterable[tuple]:
    """The run's numeric, judged-against-limits measurements (an EQ check is no distribution)."""
    board = row.unique_id or row.folder
    for step in view.steps:
        for m in step["measurements"]:
            value = _number(m.get("value"))
            if value is None or m.get("comparison") == "EQ":
                continue
            yield (row.folder, board, _series(db, str(step["name"]), m), value,
                   int(m.get("outcome") == "pass"), latest, int(m.get("marginal") is True))


def add(db: sqlite3.Connection, row: RunRow, view: RecordView) -> None:
    """Insert (or replace) one run and its measurements, in one transaction; its pages are due
    (`unpublished`) until `published` says they were written."""
    with _transaction(db):
        _insert(db, row, view)
        db.execute("INSERT INTO unpublished VALUES (?) ON CONFLICT DO NOTHING", (row.folder,))


def published(db: sqlite3.Connection, folders: Iterable[str]) -> None:
    """The pages listing these runs have been written."""
    db.executemany("DELETE FROM unpublished WHERE folder = ?", [(f,) for f in folders])


def unpublished(db: sqlite3.Connection) -> list[RunRow]:
    """The runs added since their pages were last written."""
    return [RunRow(*row) for row in db.execute(
        f"SELECT {COLUMNS} FROM runs WHERE folder IN (SELECT folder FROM unpublished)")]


def update(db: sqlite3.Connection, added: Iterable[tuple[RunRow, RecordView]],
           removed: Iterable[str]) -> None:
    """Drop `removed` runs (gone from disk, or about to be added again from a changed record),
    then add runs, in one transaction: what `bench archive index` does instead of a rebuild, so
    its cost follows the change, not the archive."""
    with _transaction(db):
        gone = [(folder,) for folder in removed]
        for table in ("runs", "measurements", "unpublished", "sources"):
            db.executemany(f"DELETE FROM {table} WHERE folder = ?", gone)
        for row, view in added:
            _insert(db, row, view)
            db.execute("INSERT INTO unpublished VALUES (?) ON CONFLICT DO NOTHING", (row.folder,))
        if gone:  # counts and each board's latest run, again from what is left
            after_bulk(db)


def _insert(db: sqlite3.Connection, row: RunRow, view: RecordView, bulk: bool = False
            ) -> None:
    """One run and its measurements. One at a time (not `bulk`), the day/verdict tally is kept
    and the board's measurements that the statistics count are switched to this run's if it is
    the board's latest; a bulk load does both once at its end (`replace_all`)."""
    db.execute("DELETE FROM measurements WHERE folder = ?", (row.folder,))
    db.execute("INSERT INTO sources VALUES (?, ?) ON CONFLICT (folder) DO UPDATE "
               "SET stamp = excluded.stamp", (row.folder, stamp(view.path)))
    if not bulk:
        old = db.execute("SELECT day, verdict FROM runs WHERE folder = ?", (row.folder,))
        for day, verdict in old.fetchall():
            db.execute("UPDATE tally SET n = n - 1 WHERE day = ? AND verdict = ?", (day, verdict))
        db.execute("INSERT INTO tally VALUES (?, ?, 1) ON CONFLICT (day, verdict) "
                   "DO UPDATE SET n = tally.n + 1", (row.day, row.verdict))
    db.execute(f"INSERT INTO runs ({COLUMNS}) VALUES ({', '.join('?' * len(fields(RunRow)))}) "
               f"ON CONFLICT (folder) DO UPDATE SET {REPLACED}",
               tuple(getattr(row, f.name) for f in fields(RunRow)))
    latest = 0
    if not bulk:
        board = row.unique_id or row.folder
        newest = db.execute(f"SELECT folder FROM runs WHERE {BOARD} = ? "
                            "ORDER BY started DESC, folder DESC LIMIT 1", (board,)).fetchone()
        latest = int(newest is not None and newest[0] == row.folder)
        if latest:
            db.execute("UPDATE measurements SET latest = 0 WHERE board = ? AND latest = 1",
                       (board,))
    db.executemany("INSERT INTO measurements (folder, board, series, value, passed, latest, "
                   "marginal) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   list(_measurements(db, row, view, latest)))


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock at once, so writers queue, not deadlock."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, *_: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def replace_all(db: sqlite3.Connection, runs: Iterable[tuple[RunRow, RecordView]]) -> None:
    """Rebuild: the database holds exactly `runs` afterwards."""
    with _transaction(db):
        db.execute("DELETE FROM runs")
        db.execute("DELETE FROM measurements")
        db.execute("DELETE FROM unpublished")
        db.execute("DELETE FROM sources")
        for row, view in runs:
            _insert(db, row, view, bulk=True)
        after_bulk(db)


def after_bulk(db: sqlite3.Connection) -> None:
    """After a bulk load: count runs per day and verdict, and flag the measurements of each
    board's latest run, all at once (latest as `_insert` has it: by start, then by folder, so
    runs of one second agree with the incremental index)."""
    db.execute("DELETE FROM tally")
    db.execute("INSERT INTO tally SELECT day, verdict, COUNT(*) FROM runs GROUP BY 1, 2")
    db.execute("UPDATE measurements SET latest = 0 WHERE latest = 1")
    db.execute(f"UPDATE measurements SET latest = 1 WHERE folder IN (SELECT folder FROM "
               f"(SELECT folder, ROW_NUMBER() OVER (PARTITION BY {BOARD} ORDER BY started DESC, "
               "folder DESC) AS newest FROM runs) WHERE newest = 1)")


@dataclass(frozen=True)
class Filters:
    """What a lab narrows the index by; empty fields do not filter."""

    board: str = ""  # unique id, exact
    verdict: str = ""
    since: str = ""  # YYYY-MM-DD, inclusive
    until: str = ""  # YYYY-MM-DD, inclusive
    plan: str = ""  # part of a plan file name
    firmware: str = ""
    folder: str = ""  # a board folder: the runs stored in it

    def where(self, before: RunRow | None = None) -> tuple[str, list]:
        """The SQL condition and its values; with `before`, only the runs older than it (their
        number is its place in a listing, oldest first)."""
        clauses, values = [], []
        one_day = self.since if self.since == self.until else ""  # the day index keeps order
        for clause, value in (("unique_id = ?", self.board), ("verdict = ?", self.verdict),
                              ("day = ?", one_day), ("day >= ?", not one_day and self.since),
                              ("day <= ?", not one_day and self.until),
                              ("instr(plan, ?) > 0", self.plan), ("firmware = ?", self.firmware),
                              (f"{BOARD_FOLDER} = ?", self.folder)):
            if value:
                clauses.append(clause)
                values.append(value)
        if before is not None:
            clauses.append("(started, folder) < (?, ?)")
            values += [before.started, before.folder]
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", values

    def __str__(self) -> str:
        return ", ".join(f"{f.name} {getattr(self, f.name)}" for f in fields(self)
                         if getattr(self, f.name))


def _measurements_by_run(db: sqlite3.Connection) -> dict[str, list[tuple]]:
    found: dict[str, list[tuple]] = {}
    for folder, *measured in db.execute(
            "SELECT m.folder, s.step, s.name, m.value, m.passed, m.latest FROM measurements m "
            "JOIN series s ON s.id = m.series ORDER BY 1, 2, 3, 4, 5, 6"):
        found.setdefault(folder, []).append(tuple(measured))
    return found


def differences(db: sqlite3.Connection, rebuilt: sqlite3.Connection) -> list[tuple[str, str]]:
    """(run folder, what differs) between the archive's index `db` and `rebuilt`, the same
    rebuilt from the records; the folder is "" for the per-day counts. Series limits and units
    are left out: they are the latest seen, which depends on the order runs were archived."""
    def rows(of: sqlite3.Connection) -> dict[str, RunRow]:
        return {row[0]: RunRow(*row) for row in of.execute(f"SELECT {COLUMNS} FROM runs")}

    found = []
    kept, truth = rows(db), rows(rebuilt)
    for folder in sorted(kept.keys() | truth.keys()):
        if folder not in truth:
            found.append((folder, "in the index but no such run is archived"))
        elif folder not in kept:
            found.append((folder, "archived but missing from the index"))
        else:
            found += [(folder, f"{f.name} is {getattr(kept[folder], f.name)!r} in the index, "
                               f"{getattr(truth[folder], f.name)!r} in the record")
                      for f in fields(RunRow)
                      if getattr(kept[folder], f.name) != getattr(truth[folder], f.name)]
    measured, expected = _measurements_by_run(db), _measurements_by_run(rebuilt)
    found += [(folder, "its measurements in the index differ from the record")
              for folder in sorted(measured.keys() | expected.keys())
              if folder in kept and folder in truth
              and measured.get(folder) != expected.get(folder)]
    tally = "SELECT day, verdict, n FROM tally WHERE n > 0 ORDER BY 1, 2"
    if list(db.execute(tally)) != list(rebuilt.execute(tally)):
        found.append(("", "its runs per day and verdict differ from the records'"))
    return found


def runs(db: sqlite3.Connection, filters: Filters = Filters(), limit: int = 100,
         offset: int = 0, oldest_first: bool = False) -> list[RunRow]:
    """Runs matching `filters`, newest first (or oldest first)."""
    where, values = filters.where()
    order = "ASC" if oldest_first else "DESC"
    found = db.execute(f"SELECT {COLUMNS} FROM runs{where} ORDER BY started {order}, "
                       f"folder {order} LIMIT ? OFFSET ?", [*values, _bound(limit), offset])
    return [RunRow(*row) for row in found]


def _bound(limit: int) -> int:
    """A LIMIT both databases take: a negative `limit` means none (PostgreSQL refuses -1)."""
    return limit if limit >= 0 else 2**62


def get(db: sqlite3.Connection, folder: str) -> RunRow | None:
    found = db.execute(f"SELECT {COLUMNS} FROM runs WHERE folder = ?", (folder,)).fetchone()
    return None if found is None else RunRow(*found)


def count(db: sqlite3.Connection, filters: Filters = Filters(),
          before: RunRow | None = None) -> int:
    """Runs matching `filters` (that come before `before` in time, when given)."""
    where, values = filters.where(before)
    return db.execute(f"SELECT COUNT(*) FROM runs{where}", values).fetchone()[0]


def verdict_counts(db: sqlite3.Connection) -> dict[str, int]:
    return dict(db.execute("SELECT verdict, SUM(n) FROM tally GROUP BY verdict HAVING SUM(n) > 0 "
                           "ORDER BY 1"))


def days(db: sqlite3.Connection, limit: int = -1) -> list[tuple[str, int, int]]:
    """(day, runs, runs not PASS) for the latest `limit` days with runs (all by default)."""
    return list(db.execute(
        "SELECT day, SUM(n), SUM(CASE WHEN verdict IN ('PASS', 'SKIP') THEN 0 ELSE n END) "
        "FROM tally GROUP BY day HAVING SUM(n) > 0 ORDER BY day DESC LIMIT ?", (_bound(limit),)))


def runs_on(db: sqlite3.Connection, day: str) -> int:
    found = db.execute("SELECT SUM(n) FROM tally WHERE day = ?", (day,)).fetchone()[0]
    return found or 0


def damaged(db: sqlite3.Connection, limit: int = 100) -> list[RunRow]:
    """The latest runs whose record has unreadable lines."""
    return [RunRow(*row) for row in db.execute(
        f"SELECT {COLUMNS} FROM runs INDEXED BY runs_damaged WHERE damaged != '' "
        "ORDER BY started DESC, folder DESC LIMIT ?", (_bound(limit),))]
