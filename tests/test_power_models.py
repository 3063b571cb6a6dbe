"""The power plans against each emulated supply model, and a station with no current profiler.

Each model runs the three power plans in a subprocess (real pyvisa-py sessions to the model's
own command set, a real pty to the board); the record must name the model and the capability
that served each role and each capture, and hold each capture's raw samples by SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.emulation import emulate
from bench.station import load_station
from drivers.profiler import SAMPLES_MEDIA_TYPE, read_archived
from tests.plan_runner import run_plan, write_profile
from tests.test_safety_interrupt import desk_profile, with_psu_model

PLANS = ["testplans/ws100/test_power_on.py", "testplans/ws100/test_power_current.py",
         "testplans/ws100/test_power_meter.py"]
MODELS = ("E36312A", "N6705C", "DP832", "SPD3303X")
PROFILER = {"E36312A": "dmm", "N6705C": "psu", "DP832": "dmm", "SPD3303X": "dmm"}
CAPTURE_TESTS = {"testplans/ws100/test_power_current.py::test_sleep_current",
                 "testplans/ws100/test_power_current.py::test_active_current",
                 "testplans/ws100/test_power_current.py::test_charge_per_radio_burst",
                 "testplans/ws100/test_power_current.py::test_battery_life",
                 "testplans/ws100/test_power_on.py::test_power_on",
                 "testplans/ws100/test_power_on.py::test_operation_across_supply_range"}


def events(record: Path) -> list[dict]:
    return [json.loads(line) for line in record.read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, str], Path]]:
    def run(model: str) -> tuple[dict[str, str], Path]:
        tmp = tmp_path_factory.mktemp(model)
        profile = with_psu_model(write_profile(tmp, [], name="model.toml"), model)
        return run_plan(PLANS, [], tmp, "--station", str(profile)), tmp / "record.jsonl"

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(MODELS, pool.map(run, MODELS), strict=True))


@pytest.mark.parametrize("model", MODELS)
def test_power_plans_pass_on_each_supply_model(runs, model: str) -> None:
    outcomes, record = runs[model]
    assert len(outcomes) == 9 and set(outcomes.values()) == {"passed"}, outcomes
    found = {e["role"]: e for e in events(record) if e["kind"] == "instrument"}
    assert found["psu"]["model"] == model
    assert found["psu"]["protection"] != {} if model != "SPD3303X" else \
        found["psu"]["protection"].startswith("none on this model")
    assert found["current_profiler"]["served_by"] == PROFILER[model]
    assert found["current_profiler"]["capability"] == "current_profiler"


@pytest.mark.parametrize("model", ["N6705C", "E36312A"])
def test_each_capture_is_archived_as_raw_samples_beside_its_plot(runs, model: str) -> None:
    _, record = runs[model]
    steps = [e for e in events(record) if e["kind"] == "step"]
    captures = 0
    for step in steps:
        refs = step["attachments"]
        for i, ref in enumerate(refs):
            if not ref["media_type"].startswith(SAMPLES_MEDIA_TYPE):
                continue
            captures += 1
            if not ref["name"].startswith("idle current"):  # plotted: the plot is beside it
                assert refs[i - 1]["media_type"] == "image/svg+xml", refs
            data = (record.parent / "attachments" / ref["sha256"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == ref["sha256"]
            capture = read_archived(data, ref["media_type"])
            assert capture.units == "A" and capture.interval_s > 0 and len(capture.amps) > 100
            assert capture.source.startswith(("psu " + model, "dmm 34465A"))
            name = ref["name"].removesuffix(": raw samples")
            served = {m["name"]: m["value"] for m in step["measurements"]}
            assert "current_profiler" in served[f"{name}: captured by"]
    assert captures == 5 + 5  # the plotted ones, and the idle current at each supply voltage


def test_station_without_a_profiler_skips_capture_plans_with_the_reason(tmp_path: Path) -> None:
    profile = with_psu_model(write_profile(tmp_path, [], name="desk.toml"), "E36312A")
    text = profile.read_text()
    start = text.index("[dmm]")
    profile.write_text(text[:start] + text[text.index("[radio]"):])  # no meter on this desk
    outcomes = run_plan(PLANS[:2], [], tmp_path, "--station", str(profile))
    skipped = {node for node, outcome in outcomes.items() if outcome == "skipped"}
    assert skipped == CAPTURE_TESTS, outcomes
    assert {o for n, o in outcomes.items() if n not in skipped} == {"passed"}
    record = events(tmp_path / "record.jsonl")
    reasons = {e["message"] for e in record if e["kind"] == "step" and e["outcome"] == "skip"}
    assert reasons and all("current_profiler" in r for r in reasons), reasons


def test_a_capability_the_supply_lacks_skips_the_plan_with_the_reason(tmp_path: Path) -> None:
    plan = tmp_path / "test_needs_ovp.py"
    plan.write_text('import pytest\n\n\n@pytest.mark.requires("psu", "ovp")\n'
                    'def test_needs_ovp(psu):\n    assert psu.ovp == 4.4\n')
    for model, expected in (("SPD3303X", "skipped"), ("DP832", "passed")):
        run = tmp_path / model
        run.mkdir()
        profile = with_psu_model(write_profile(run, [], name="model.toml"), model)
        # a desk profile: no pinned model, so only the connected supply's *IDN? can tell, and
        # the fixtures (not the collection-time check) decide
        with emulate(load_station(profile)) as station:
            desk = desk_profile(run, station)
            outcomes = run_plan([str(plan)], [], run, "--station", str(desk))
        assert list(outcomes.values()) == [expected], (model, outcomes)
    reasons = [e["message"] for e in events(tmp_path / "SPD3303X" / "record.jsonl")
               if e["kind"] == "step"]
    assert "psu Siglent Technologies SPD3303X lacks ovp" in reasons[0], reasons
