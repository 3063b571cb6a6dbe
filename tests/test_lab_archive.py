"""One archive for the lab: the index in a real PostgreSQL server (Debian's, `initdb` in a
temporary folder, on a unix socket there), two benches archiving into one folder at once, and
`bench archive verify` finding an edit in that index as it does in SQLite's, and checking each
bench's own ledger chain."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import archive, audit, index_db, ledger, stats
from bench.cli import main
from bench.measure import Outcome
from bench.record import load_record
from bench.station import DEFAULT_PROFILE
from tests.plan_runner import ROOT
from tests.test_archive import staged_run
from tests.test_bad_input import IDENTIFICATION
from tests.test_index import WRITER

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
SENSORS = str(ROOT / "testplans" / "ws100" / "test_sensors.py")
pytest.importorskip("psycopg", reason="psycopg missing: pip install 'citebench[lab]'")


def _as_postgres(*command: str) -> list[str]:
    """initdb and postgres refuse root: run them as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.getuid() == 0 else list(command)


@pytest.fixture
def lab_database(tmp_path: Path) -> Iterator[str]:
    """A PostgreSQL server of its own, listening only on a socket in the temporary folder; its
    URL, stopped afterwards."""
    if not BIN:
        pytest.skip("PostgreSQL server binaries missing (apt-get install postgresql)")
    home = Path(tempfile.mkdtemp(prefix="citebench-pg-"))  # pytest's folders are root's only
    if os.getuid() == 0:
        shutil.chown(home, "postgres")
    data = home / "data"
    subprocess.run(_as_postgres(f"{BIN[-1]}/initdb", "-D", str(data), "-U", "bench",
                                "--auth=trust", "-E", "UTF8"),
                   check=True, capture_output=True, timeout=60)
    server = subprocess.Popen(_as_postgres(
        f"{BIN[-1]}/postgres", "-D", str(data), "-k", str(home), "-c", "listen_addresses="))
    url = f"postgresql://bench@/postgres?host={home}"
    try:
        import psycopg

        for _ in range(600):  # until it accepts connections (or has died)
            assert server.poll() is None, "postgres exited at start"
            try:
                psycopg.connect(url).close()
                break
            except psycopg.OperationalError:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.wait(timeout=0.1)  # ends at once if the server died
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def test_two_benches_index_into_postgresql_at_once_and_verify_finds_an_edit(
        tmp_path: Path, lab_database: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "lab"
    # two benches running the emulated station, two archiving a dozen runs each; bench 1 names
    # the lab's index and its chain in its station profile's [archive], the others in the
    # environment
    run = [sys.executable, "-m", "bench", "run", "--plan", IDENTIFICATION, "--reports", str(root)]
    station = tmp_path / "bench-1.toml"
    station.write_text(DEFAULT_PROFILE.read_text() + f'\n[archive]\nindex = "{lab_database}"\n'
                       'bench_id = "bench-1"\n', encoding="utf-8")
    commands = [run, [*run, "--station", str(station)],
                *([sys.executable, "-c", WRITER, str(root), n] for n in "23")]
    plain = {k: v for k, v in os.environ.items() if k not in (index_db.INDEX_URL, ledger.BENCH)}
    benches = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, env=plain | (
        {} if n == 1 else {index_db.INDEX_URL: lab_database, ledger.BENCH: f"bench-{n}"}))
               for n, command in enumerate(commands)]
    assert [bench.wait(timeout=120) for bench in benches] == [0, 0, 0, 0]
    monkeypatch.setenv(index_db.INDEX_URL, lab_database)
    assert not (root / index_db.DATABASE).exists()  # nothing in the shared folder but runs
    db = index_db.connect(root)
    assert index_db.count(db) == 26 == len(ledger.chain(root)[0])
    assert index_db.count(db, index_db.Filters(plan="test_identification.py")) == 2
    assert {name: head["seq"] for name, head in ledger.heads(root).items()} == {
        "ledger-bench-0.jsonl": 1, "ledger-bench-1.jsonl": 1, "ledger-bench-2.jsonl": 12,
        "ledger-bench-3.jsonl": 12}  # one chain per bench
    assert main(["archive", "verify", str(root)]) == 0
    said = capsys.readouterr().out
    assert "26 of 26 run(s) intact" in said and "index: matches the records" in said
    assert "ledger head of ledger-bench-3.jsonl: entry 12" in said
    # the board's latest run, with numbers for the statistics
    sensors = subprocess.run([*run[:4], "--plan", SENSORS, "--reports", str(root)], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert sensors.returncode == 0, sensors.stdout + sensors.stderr
    assert main(["archive", "index", str(root)]) == 0
    assert f"statistics: {root / stats.STATISTICS}" in capsys.readouterr().out
    # the same statistics as SQLite's from the same records
    embedded = index_db.connect(None)
    index_db.replace_all(embedded, archive.index_rows(
        root, [run.relative_to(root).as_posix() for run in archive.find_runs(root)]))
    (lab, lab_boards), (ours, our_boards) = stats.collect(db), stats.collect(embedded)
    assert lab_boards == our_boards and len(lab) == len(ours) >= 5
    for got, want in zip(lab, ours, strict=True):
        assert (got.name, got.n, got.passed, got.counts, got.marginal) == (
            want.name, want.n, want.passed, want.counts, want.marginal)
        assert (got.mean, got.stdev, got.minimum, got.maximum) == pytest.approx(
            (want.mean, want.stdev, want.minimum, want.maximum))
    db.execute("UPDATE runs SET verdict = 'FAIL' WHERE folder = "
               "(SELECT min(folder) FROM runs)")
    found = audit.audit(root)
    assert not found.intact
    assert any(p.kind == "index" and "verdict is 'FAIL' in the index" in p.detail
               for problems in found.runs.values() for p in problems)


def test_verify_checks_each_bench_ledger_as_a_chain_of_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for bench in ("bench-0", "bench-1"):
        monkeypatch.setenv(ledger.BENCH, bench)
        for n in range(3):
            archive.store(staged_run(tmp_path / bench, f"CB-{n}", Outcome.PASS, 1.8e9 + n),
                          tmp_path / "lab")
    root = tmp_path / "lab"
    assert audit.audit(root).intact
    kept = (root / "ledger-bench-1.jsonl").read_text().splitlines(keepends=True)
    (root / "ledger-bench-1.jsonl").write_text("".join(kept[:1] + kept[2:]))  # one removed
    found = audit.audit(root)
    assert found.chain == ["ledger-bench-1.jsonl line 2: does not follow the entry before it "
                           "(an entry was removed, inserted or edited)",
                           "ledger-bench-1.jsonl line 2: sequence 3, expected 2"]


def test_an_unreachable_lab_index_archives_nothing_and_keeps_the_run(tmp_path: Path) -> None:
    """Checked before the run is moved: the run stays staged, and the next `bench run` or `bench
    archive index` with the index back archives it."""
    nowhere = f"postgresql://bench@/postgres?host={tmp_path / 'no-server'}"
    done = subprocess.run([sys.executable, "-m", "bench", "run", "--plan", IDENTIFICATION,
                           "--reports", str(tmp_path / "lab")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, index_db.INDEX_URL: nowhere})
    assert f"not archived (BENCH_INDEX: the lab's index {nowhere} cannot be reached: " \
        in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert archive.run_dirs(tmp_path / "lab") == []
    staged = list((tmp_path / "lab" / archive.INCOMING).glob("*/record.jsonl"))
    assert len(staged) == 1 and load_record(staged[0]).verdict is Outcome.PASS
