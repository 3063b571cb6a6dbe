"""Statistics across archived boards: numbers checked by hand, one board one vote, demo batch."""

import sqlite3
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from bench import archive, index_db, stats
from bench.cli import main
from bench.measure import Limit, Measurement, Outcome
from bench.record import RunRecord
from bench.station import load_station


def archive_board(root: Path, serial: str, vbat: float, at: float, *,
                  vbat_limit: Limit | None = None) -> Path:
    """One board's run archived; `vbat_limit` judges vbat as a spec-declared measurement."""
    record = RunRecord(root / archive.INCOMING / f"{serial}-{at}" / "record.jsonl")
    record.start({"id": "desk-1"}, {})
    record.dut({"serial": serial})
    taken = [Measurement.of(vbat_limit, vbat) if vbat_limit else
             Measurement.judge("vbat", vbat, units="V", low=3.2, high=3.6),
             Measurement.judge("firmware", "1.4.2", nominal="1.4.2"),
             Measurement.judge("count", 7, nominal=7)]
    outcome = max(m.outcome for m in taken)
    record.step("test_power", "", outcome, taken, [], 0.0, 1.0)
    record.end(outcome)
    record.close()
    lines = record.path.read_text().splitlines()
    lines[0] = lines[0].replace('"time": ', f'"time": {at}, "was": ', 1)
    record.path.write_text("\n".join(lines) + "\n")
    return archive.store(record.path.parent, root)


def test_summary_matches_a_hand_computation() -> None:
    values = [3.30, 3.35, 3.40, 3.45, 3.70]
    s = stats.Summary.of("vbat", "V", 3.2, 3.6, values, passed=4)
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    assert s.mean == pytest.approx(3.44) and s.stdev == pytest.approx(sd)
    assert s.cpk == pytest.approx(min(3.6 - mean, mean - 3.2) / (3 * sd))
    assert s.yield_pct == 80.0
    assert stats.Summary.of("x", "", None, None, values, 5).cpk is None  # no limit, no Cpk
    assert stats.Summary.of("x", "", 0.0, 1.0, [0.5, 0.5], 2).cpk is None  # no spread


def test_each_board_counts_once_with_its_latest_run(tmp_path: Path) -> None:
    archive_board(tmp_path, "CB-1", 3.9, at=1.8e9)  # failed, then reworked:
    archive_board(tmp_path, "CB-1", 3.4, at=1.8e9 + 60)
    archive_board(tmp_path, "CB-2", 3.3, at=1.8e9 + 30)
    archive_board(tmp_path, "CB-3", 3.7, at=1.8e9 + 90)
    summaries, boards = stats.collect(index_db.connect(tmp_path))
    assert boards == 3
    (vbat,) = summaries  # string and nominal (EQ) measurements are not distributions
    reference = stats.Summary.of("vbat", "V", 3.2, 3.6, [3.3, 3.4, 3.7], passed=2)
    assert vbat.name == "test_power :: vbat" and vbat.n == 3
    assert (vbat.mean, vbat.stdev) == pytest.approx((reference.mean, reference.stdev))
    assert (vbat.minimum, vbat.maximum) == (3.3, 3.7) and sum(vbat.counts) == 3
    assert vbat.passed == 2 and (vbat.low, vbat.high, vbat.units) == (3.2, 3.6, "V")


def test_statistics_page_draws_each_histogram_against_its_limits(tmp_path: Path) -> None:
    for n, value in enumerate([3.3, 3.35, 3.4, 3.42, 3.5]):
        archive_board(tmp_path, f"CB-{n}", value, at=1.8e9 + n)
    page = stats.write_statistics(tmp_path).read_text()
    assert "5 board(s)" in page and "test_power :: vbat" in page
    assert "over 5 archived run(s)" in page
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert svg.count("<rect") == stats.BINS
    assert "limit 3.2" in svg and "limit 3.6" in svg and "mean 3.394" in svg
    assert "<td>100.0 %</td>" in page and "<script" not in page


def test_index_command_writes_both_pages(tmp_path: Path, capsys) -> None:
    archive_board(tmp_path, "CB-1", 3.4, at=1.8e9)
    assert main(["archive", "index", str(tmp_path)]) == 0
    assert (tmp_path / "index.html").exists() and (tmp_path / "statistics.html").exists()


def test_demo_profile_gives_each_board_its_seed_and_serial(tmp_path: Path) -> None:
    profile = load_station(stats.demo_profile(tmp_path, 77, "CB-WS1-900077"))
    assert (profile.emulator.seed, profile.emulator.board_serial) == (77, "CB-WS1-900077")


def test_demo_batch_archives_boards_with_spread(tmp_path: Path, capsys) -> None:
    plan = str(Path(__file__).parent.parent / "testplans" / "ws100" / "test_sensors.py")
    assert main(["archive", "demo-batch", "2", "--reports", str(tmp_path), "--plan", plan]) == 0
    runs = archive.find_runs(tmp_path)
    assert [run.parent.name for run in runs] == ["CB-WS1-900001", "CB-WS1-900002"]
    assert all(archive.verify(run) == [] for run in runs)
    summaries, boards = stats.collect(index_db.connect(tmp_path))
    temperature = next(s for s in summaries if s.name.endswith(":: temperature_c"))
    assert boards == 2 and temperature.stdev > 0  # different seeds, different boards
    assert all(run.name.endswith(f"_{Outcome.PASS.name}") for run in runs)


def test_an_older_run_archived_late_does_not_replace_the_latest(tmp_path: Path) -> None:
    archive_board(tmp_path, "CB-1", 3.4, at=1.8e9 + 60)
    archive_board(tmp_path, "CB-1", 3.9, at=1.8e9)  # an older run, copied in from another desk
    archive_board(tmp_path, "CB-2", 3.3, at=1.8e9)
    incremental = stats.collect(index_db.connect(tmp_path))
    (vbat,), boards = incremental
    assert boards == 2 and (vbat.minimum, vbat.maximum, vbat.passed) == (3.3, 3.4, 2)
    archive.write_index(tmp_path, rebuild=True)  # from the records: the same figures
    assert stats.collect(index_db.connect(tmp_path)) == incremental


def test_spread_of_microvolts_on_a_3v3_rail_keeps_its_digits(tmp_path: Path) -> None:
    values = [3.3 + k * 1e-6 for k in range(5)]
    for n, value in enumerate(values):
        archive_board(tmp_path, f"CB-{n}", value, at=1.8e9 + n)
    ((vbat,), _) = stats.collect(index_db.connect(tmp_path))
    assert vbat.stdev == pytest.approx(statistics.stdev(values), rel=1e-6)


VBAT = Limit("vbat", "battery voltage", "V", low=3.2, high=3.6, resolution=0.05)


def test_renaming_a_measurement_keeps_its_statistics(tmp_path: Path) -> None:
    """Statistics key on the spec id: a new display name neither splits nor restarts them."""
    archive_board(tmp_path, "CB-1", 3.3, at=1.8e9, vbat_limit=VBAT)
    archive_board(tmp_path, "CB-2", 3.4, at=1.8e9 + 1,
                  vbat_limit=replace(VBAT, name="battery voltage (no load)"))
    summaries, boards = stats.collect(index_db.connect(tmp_path))
    (vbat,) = summaries
    assert (boards, vbat.n, vbat.mean) == (2, 2, pytest.approx(3.35))
    assert vbat.name == "test_power :: battery voltage (no load)"  # shown by its latest name


def test_marginal_passes_are_counted_and_shown(tmp_path: Path) -> None:
    for n, value in enumerate([3.3, 3.58, 3.22, 3.7]):  # two within 50 mV of a limit, one fail
        archive_board(tmp_path, f"CB-{n}", value, at=1.8e9 + n, vbat_limit=VBAT)
    (vbat,), _ = stats.collect(index_db.connect(tmp_path))
    assert (vbat.passed, vbat.marginal) == (3, 2)
    page = stats.write_statistics(tmp_path).read_text()
    assert "<th>marginal</th>" in page and "<td>2</td></tr></table>" in page


def test_an_index_of_the_first_schema_gains_the_new_columns(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / index_db.DATABASE)
    db.executescript(index_db.SCHEMA)  # as a database made before ids and marginal passes
    db.close()
    archive_board(tmp_path, "CB-1", 3.59, at=1.8e9, vbat_limit=VBAT)
    (vbat,), _ = stats.collect(index_db.connect(tmp_path))
    assert (vbat.name, vbat.marginal) == ("test_power :: battery voltage", 1)
