"""Every numeric limit of every tracker plan is guarded: a knob pushes its quantity just past it,
and exactly that measurement fails (issue 13: loosening any plan limit fails a test).

Each case below names one side of one limit, the knob values that push the quantity just past
it, and why those values: past by more than the emulator's noise, yet by less than a quarter of
the limit's band (low to high, or a one-sided limit's distance from zero; checked on the value
the run measured, for every case but the whole counts of WHOLE_COUNTS), so the limit loosened by
a quarter of its band would let it pass, and then this file fails. When one quantity is
measured twice (over the UART and over NUS), or one limit cannot be crossed without another (z
under 800 mg drags |a| under 950 mg), the case names every measurement that must fail with it.
Cases that move unrelated quantities share a plan run; each run asserts that the failing
measurements, and the side each fails on, are exactly its cases' ones, and that each of those
steps FAILs rather than ERRORs. A healthy run, without knobs, lists the limits: one without a
case fails `test_every_numeric_limit_has_a_case`.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from emulators.tracker_board import TrackerBoard
from fixtures.tracker import KIT
from tests.plan_runner import run_plan

PLANS = "testplans/tracker"
ALL_PLANS = (PLANS,)
WITHOUT_NUS = tuple(f"{PLANS}/test_{name}.py" for name in (
    "accelerometer", "factory_reset", "gnss", "identify", "motion", "power", "reporting"))
NUMERIC = {"GELE", "GTLT", "GE", "GT", "LE", "LT"}


@dataclass(frozen=True)
class Case:
    """One side of one limit, pushed just past by `knobs` in plan run `run`."""

    measurement: str
    side: str  # "low" or "high"
    knobs: dict[str, float]
    why: str
    run: str
    # measurements of the same quantity (or bound to it) that must fail with it, and their side
    with_it: dict[str, str] = field(default_factory=dict)

    @property
    def fails(self) -> dict[str, str]:
        return {self.measurement: self.side, **self.with_it}

    @property
    def id(self) -> str:
        return f"{self.measurement} ({self.side})"


STILL_Z = {"accel.noise_z_mg": 2.0}  # a quiet z axis: one NUS sample is as sharp as a mean
CASES: list[Case] = [
    # --- accelerometer: offsets per axis, noise per axis --------------------------------------
    Case("acceleration magnitude at rest", "high", {"accel.offset_z_mg": 62, **STILL_Z},
         "|a| 1062 mg, 12 mg over 1050; z noise cut to 2 mg so the single NUS sample clears "
         "it by 6 sigma; the limit loosened by 20 % of its band (1070) passes",
         "A", {"acceleration magnitude over NUS": "high"}),
    Case("acceleration magnitude at rest", "low", {"accel.offset_z_mg": -62, **STILL_Z},
         "|a| 938 mg, 12 mg under 950; the limit loosened by 20 % of its band (930) passes",
         "B", {"acceleration magnitude over NUS": "low"}),
    Case("z acceleration at rest", "low", {"accel.offset_z_mg": -215, **STILL_Z},
         "z 785 mg, 15 mg under 800 (the mean of 20 samples varies by 0.5 mg); with x and y "
         "within 150 mg, z under 800 mg puts |a| under 827 mg, so gravity fails with it",
         "C", {"acceleration magnitude at rest": "low",
               "acceleration magnitude over NUS": "low"}),
    Case("x acceleration at rest", "high", {"accel.offset_x_mg": 165},
         "x 165 mg, 15 mg past 150 (11 sigma of a 20-sample mean); the limit loosened by "
         "20 % of its band (210) passes", "C"),
    Case("x acceleration at rest", "low", {"accel.offset_x_mg": -165},
         "x -165 mg, 15 mg past -150; with y at 165 too, |a| is 1027 mg, inside 1050; the "
         "limit loosened to -210 passes", "D"),
    Case("y acceleration at rest", "high", {"accel.offset_y_mg": 165},
         "y 165 mg, 15 mg past 150; the limit loosened to 210 passes", "D"),
    Case("y acceleration at rest", "low", {"accel.offset_y_mg": -165},
         "y -165 mg, 15 mg past -150; the limit loosened to -210 passes", "C"),
    Case("x noise (standard deviation)", "low", {"accel.noise_x_mg": 0.1},
         "0.1 mg of noise rounds to the same reading every time: 0 mg against 0.5; a floor "
         "loosened to 0 passes", "A"),
    Case("y noise (standard deviation)", "low", {"accel.noise_y_mg": 0.1},
         "as for x: 0 mg against 0.5", "B"),
    Case("z noise (standard deviation)", "low", {"accel.noise_z_mg": 0.1},
         "as for x: 0 mg against 0.5", "D"),
    Case("x noise (standard deviation)", "high", {"accel.noise_x_mg": 28},
         "the deviation of 20 samples scatters by 16 %, but this seed replays exactly: its "
         "draws make 1.22, 0.96 and 0.74 times the set noise on x, y and z, so 28, 35 and 45 mg "
         "read 34, 34 and 33 mg against 30; a quarter of the band (37.4) passes", "E"),
    Case("y noise (standard deviation)", "high", {"accel.noise_y_mg": 35}, "as for x", "E"),
    Case("z noise (standard deviation)", "high", {"accel.noise_z_mg": 45},
         "as for x; in a run without the NUS plan, whose single sample of |a| would scatter "
         "by 45 mg", "E"),
    # --- GNSS -----------------------------------------------------------------------------------
    Case("satellites used", "low", {"gnss.satellites": 3},
         "one satellite short of 4, a count without noise", "A", {"satellites over NUS": "low"}),
    Case("GNSS fix age", "high", {"gnss.fix_age_s": 2.2},
         "0.2 s over 2 s, read from the fix, no noise; the limit loosened to 2.4 s passes", "B",
         {"GNSS fix age over NUS": "high"}),
    Case("distance from the bench", "high", {"gnss.position_offset_m": 57},
         "57 m north, 7 m past 50 against about 2 m of scatter; loosened by a quarter (62.5 m) "
         "it passes", "C"),
    # --- motion ---------------------------------------------------------------------------------
    Case("motion peak", "low", {"motion.peak_mg": 950},
         "50 mg under 1000, reported as it was measured; a floor of 900 passes", "B"),
    # --- power ----------------------------------------------------------------------------------
    Case("run current", "low", {"power.run_current_a": 4.5e-3},
         "0.5 mA under 5 mA; the median of 3000 samples is sharp to a few uA", "A"),
    Case("run current", "high", {"power.run_current_a": 36e-3},
         "1 mA over 35 mA; the limit loosened by 20 % of its band (41 mA) passes", "B"),
    Case("shipping-mode current", "high", {"power.shipping_current_a": 2.2e-6},
         "0.2 uA over 2 uA; the mean of 5000 samples is sharp to a few nA; loosened by 20 % "
         "(2.4 uA) it passes", "C"),
    # --- reporting ------------------------------------------------------------------------------
    Case("reports received", "low", {"report.first_delay_ms": 400},
         "the first report 600 ms after the change, then every 200 ms: 5 reports in 1.5 s "
         "(100 ms of slack either way), period and counters intact", "B"),
    Case("reports received", "high", {"report.period_error_pct": -21},
         "a 158 ms period: 9 reports in 1.5 s (the 9th 78 ms early, the 10th 80 ms late); nine "
         "reports need a period under 167 ms, so the period error fails with the count", "C",
         {"report period error": "high"}),
    Case("report period error", "high", {"report.period_error_pct": 11.5},
         "1.5 points over 10 % against well under 1 point of timer jitter, so a quarter of the "
         "limit (12.5 %) passes; 223 ms still gives 6 reports in 1.5 s, the count's floor",
         "A"),
    Case("report counter gaps", "high", {"report.counter_step": 2},
         "each counter one past the last: one gap per report, timing intact", "B"),
    # --- NUS ------------------------------------------------------------------------------------
    Case("malformed frames over NUS", "high", {"nus.malformed_frames": 1},
         "one stray frame behind the first reply, in its last notification: the reply decodes, "
         "the count is 1 against 0", "A"),
    # --- DFU ------------------------------------------------------------------------------------
    Case("reset to alive over BLE", "high", {"dfu.swap_s": 2.95},
         "MCUboot swaps for 2.95 s: advertising resumes 3.03 s after the reset, the link and the "
         "echo follow within ~50 ms: 3.06-3.08 s against 3", "D"),
]
RUN_PLANS = {"A": ALL_PLANS, "B": ALL_PLANS, "C": ALL_PLANS, "D": ALL_PLANS, "E": WITHOUT_NUS}


def run_knobs(run: str) -> dict[str, float]:
    """The knobs of every case of `run`; two cases may share a knob only at the same value."""
    knobs: dict[str, float] = {}
    for case in CASES:
        if case.run == run:
            for name, value in case.knobs.items():
                assert knobs.setdefault(name, value) == value, (run, name, case.id)
    return knobs


def run_fails(run: str) -> dict[str, str]:
    """Measurement -> side, for every measurement the cases of `run` make fail."""
    fails: dict[str, str] = {}
    for case in CASES:
        if case.run == run:
            for name, side in case.fails.items():
                assert fails.setdefault(name, side) == side, (run, name, case.id)
    return fails


# Whole counts: a loosening by less than one count moves nothing, so a count limit of 4 (or 0,
# or the expected count +/- 1) cannot be guarded against a quarter of its band; these land one
# count past, the smallest step there is.
WHOLE_COUNTS = {"satellites used", "reports received", "report counter gaps",
                "malformed frames over NUS"}


def overshoot(measurement: dict, side: str) -> float:
    """How far past its limit on `side` a failed measurement lies."""
    value, low, high = measurement["value"], measurement["low"], measurement["high"]
    return value - high if side == "high" else low - value


def band(measurement: dict, side: str) -> float:
    """The width a loosening is weighed against: low to high, or a one-sided limit's distance
    from zero."""
    low, high = measurement["low"], measurement["high"]
    return high - low if None not in (low, high) else abs(measurement[side])


def side(measurement: dict) -> str:
    """Which limit a failed measurement crossed."""
    value, low = measurement["value"], measurement["low"]
    if value is None:
        return "no value"
    return "low" if low is not None and value <= low else "high"


def steps(record: Path) -> list[dict]:
    return [event for event in map(json.loads, record.read_text().splitlines())
            if event.get("kind") == "step"]


@dataclass(frozen=True)
class Run:
    outcomes: dict[str, str]  # test node -> junit outcome
    steps: list[dict]  # the record's steps

    def failed(self) -> dict[str, str]:
        """Failed measurement -> the side it failed on."""
        return {m["name"]: side(m) for step in self.steps for m in step["measurements"]
                if m["outcome"] == "fail"}

    def measured(self, name: str) -> list[dict]:
        """Every failed instance of measurement `name`."""
        return [m for step in self.steps for m in step["measurements"]
                if m["name"] == name and m["outcome"] == "fail"]

    def __repr__(self) -> str:  # what a failing assertion shows of the run
        return f"Run(failed={self.failed()})"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    def run(name: str) -> Run:
        tmp: Path = tmp_path_factory.mktemp(f"knobs-{name}")
        outcomes = run_plan(list(RUN_PLANS.get(name, ALL_PLANS)), [], tmp,
                            base=KIT.emulated_station, knobs=run_knobs(name))
        return Run(outcomes, steps(tmp / "record.jsonl"))

    names = ["healthy", *RUN_PLANS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(names, pool.map(run, names), strict=True))


def test_healthy_run_fails_nothing(runs) -> None:
    assert runs["healthy"].failed() == {}
    assert set(runs["healthy"].outcomes.values()) == {"passed"}, runs["healthy"].outcomes


# The defect matrix's DFU row dfu-slow-flash is the faulty board this limit meets; no knob lands
# it within a quarter of the band.
NOT_YET_GUARDED = {
    ("upload rate over BLE", "low"): "the rate over the emulated radio moves with the host's load "
                                     "by more than the 500 B/s a case may overshoot (the WS-100's "
                                     "dfu.flash_s_per_byte guards its serial upload)",
}


def test_every_numeric_limit_has_a_case(runs) -> None:
    """A limit added to a plan without a knob case here fails this test."""
    limits = {(m["name"], limit) for step in runs["healthy"].steps for m in step["measurements"]
              if m["comparison"] in NUMERIC for limit in ("low", "high") if m[limit] is not None}
    covered = {(name, limit) for case in CASES for name, limit in case.fails.items()}
    assert limits - covered - set(NOT_YET_GUARDED) == set(), "limits no knob pushes past"
    assert set(NOT_YET_GUARDED) <= limits, "stale NOT_YET_GUARDED entries"
    assert covered - limits == set(), "cases for limits the plans no longer have"
    assert {name for case in CASES for name in case.knobs} == set(KIT.knobs), "knobs no case uses"
    assert WHOLE_COUNTS.issubset(case.measurement for case in CASES), "stale whole counts"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_knob_pushes_exactly_its_measurement_past(runs, case: Case) -> None:
    """The case's measurements fail, each on its side, and nothing but its run's cases does."""
    assert set(case.knobs) <= set(KIT.knobs), sorted(set(case.knobs) - set(KIT.knobs))
    failed = runs[case.run].failed()
    assert {name: failed.get(name, "passed") for name in case.fails} == case.fails, failed
    assert failed == run_fails(case.run), "the run's other cases do not explain every failure"
    if case.measurement not in WHOLE_COUNTS:
        nearest = min(runs[case.run].measured(case.measurement),
                      key=lambda m: overshoot(m, case.side))
        assert overshoot(nearest, case.side) < band(nearest, case.side) / 4, (
            "past its limit by a quarter of the band or more: a loosening that large passes "
            "unnoticed", nearest)


@pytest.mark.parametrize("run", sorted(RUN_PLANS))
def test_knob_runs_fail_and_never_error(runs, run: str) -> None:
    """A knob moves the board, not the bench: a failing step FAILs on a measurement."""
    result = runs[run]
    for step in result.steps:
        if step["outcome"] != "pass":
            assert step["outcome"] == "fail", (step["name"], step.get("message"))
            assert any(m["outcome"] == "fail" for m in step["measurements"]), step["name"]
    assert set(result.outcomes.values()) <= {"passed", "failed"}, result.outcomes


def test_a_board_without_knobs_is_the_board_from_before_knobs() -> None:
    """Values drawn, with seed 1, by the board model as it was before it had knobs (688b29b):
    an unset knob changes nothing, not even the order of random draws."""
    now = [100.0]
    board = TrackerBoard(seed=1, clock=lambda: now[0])
    now[0] = 100.25
    assert [board.read_accel() for _ in range(3)] == [(8, 9, 1000), (-5, -7, 1000),
                                                      (-6, -9, 1001)]
    fix = board.gnss_fix()
    assert (fix["latitude_e7"], fix["longitude_e7"], fix["satellites"], fix["age_ms"]) == (
        488583727, 22944919, 7, 250)
    assert (board.current_a(), board.report_wait_s(first=True)) == (0.018, 60.0)
    board.ship()
    assert board.current_a() == 0.9e-6


def test_an_unknown_knob_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown tracker knob\(s\) accel\.ofset_x_mg"):
        TrackerBoard(knobs={"accel.ofset_x_mg": 165})
