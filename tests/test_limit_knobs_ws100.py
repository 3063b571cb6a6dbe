"""Every numeric limit of the WS-100's plans is guarded: loosen any of them and a test here fails.

Each case turns emulator knobs (emulators/ws100_knobs.py) so that one measured quantity of an
otherwise healthy board lands just past one side of one limit: past it by more than the
emulator's noise, and by less than `loosen_by`, a loosening of that limit under which the same
value would pass; `loosen_by`, and so how far past the value lands, is under a quarter of the
limit's band (low to high, or a one-sided limit's distance from zero), checked here for every
case but the whole counts of WHOLE_COUNTS. A run asserts that the set of failing measurements is
exactly its cases' (plus the `also` of the run, named with the reason), that each target fails
on its side within `loosen_by` (its nearest instance, when a name is measured several times: a
busy host only adds time to the others), and that no step ends in an error. So a limit loosened
by `loosen_by` (a quarter of its band) or more lets its measurement pass, the failing set
changes, and the run fails.

Cases whose knobs do not interact share a run (the plan nodes they need, one subprocess), to keep
the file fast. The completeness test reads a healthy run's record: every (measurement, side) with
a numeric limit must have a case here or a reason in UNREACHABLE, so a limit added later without
a knob fails the suite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.record import load_record
from emulators.ws100_board import BoardModel, Mode
from emulators.ws100_knobs import KNOBS, UnknownKnobError
from fixtures.ws100 import KIT
from tests.plan_runner import run_plan

pytestmark = pytest.mark.timeout(300)

PLANS = "testplans/ws100"
NUMERIC = {"GELE", "GTLT", "GE", "LE"}


@dataclass(frozen=True)
class Case:
    """One side of one limit, and the knobs that push its quantity just past it."""

    measurement: str
    side: str  # "low" or "high"
    knobs: dict[str, float]
    loosen_by: float  # the limit moved this far outward lets the pushed value pass
    why: str


@dataclass(frozen=True)
class Run:
    """Cases sharing one plan run: their knobs merged, the plan nodes they need."""

    name: str
    nodes: tuple[str, ...]  # relative to testplans/ws100
    cases: tuple[Case, ...]
    also: dict[str, str] = field(default_factory=dict)  # measurement -> why it fails as well

    @property
    def knobs(self) -> dict[str, float]:
        merged: dict[str, float] = {}
        for case in self.cases:
            for name, value in case.knobs.items():
                assert merged.setdefault(name, value) == value, \
                    f"{self.name}: knob {name} set to {merged[name]} and {value}"
        return merged

    @property
    def expected(self) -> set[str]:
        return {case.measurement for case in self.cases} | set(self.also)


def high(measurement: str, knobs: dict[str, float], loosen_by: float, why: str) -> Case:
    return Case(measurement, "high", knobs, loosen_by, why)


def low(measurement: str, knobs: dict[str, float], loosen_by: float, why: str) -> Case:
    return Case(measurement, "low", knobs, loosen_by, why)


VOLTS = ("3", "3.3", "3.6", "3.9", "4.2")  # test_operation_across_supply_range's sweep
TELEMETRY = "test_telemetry.py"
BLE = "test_ble.py::test_"
BATTERY_LEVEL, ENVIRONMENT = BLE + "battery_level_follows_battery_voltage", \
    BLE + "environment_agrees_with_read_sensors"
NOTIFY, COUNTED = BLE + "notification_interval", BLE + "counted_notifications_lose_nothing"
MODE_WRITE, ADV_INTERVAL = BLE + "mode_write_changes_behaviour", \
    BLE + "advertising_interval_follows_mode"
CURRENT = "test_power_current.py::test_"
POWER = (CURRENT + "sleep_current", CURRENT + "active_current",
         "test_power_meter.py::test_battery_voltage_accuracy", "test_power_on.py")
# Runs that slow the serial answers start with a step that times none: the banner of the setup's
# reset, arriving while GET_INFO waits, makes the link re-ask at once, and the late answer to
# the extra request holds up the first request of the first step.
# The supply reads one instant, which lands on an advertising burst 2 % of the time: BLE runs
# that judge that reading switch the burst off, so the reading is the mode's current.
NO_BURST = {"power.radio_burst_a": 0.0}
# Runs that compare two readings of the board's sensors (BLE against serial, Battery Level
# against the voltage) make them exact: the sensors' noise (0.07 degC between two readings, 1
# sigma) is as wide as a quarter of the +/-0.5 degC band, so a knob could not land the reading
# past the limit by less than that and by more than the noise at once.
QUIET = {"sensor.noise_scale": 0.0}

RUNS: tuple[Run, ...] = (
    Run("sensors-high", ("test_sensors.py", "test_link.py::test_ping_round_trip_time",
                         CURRENT + "charge_per_radio_burst", TELEMETRY), (
        high("temperature_c", {"sensor.temperature_offset_c": 25.0}, 8.0,
             "22.5 degC room +25 (ripple 1.1, drift ~0.2): 46-49 degC; 45 + 8 (20 % of the "
             "band) passes"),
        high("telemetry temperature max", {"sensor.temperature_offset_c": 25.0}, 8.0,
             "the same sensor streamed: 48-49 degC against 45"),
        high("humidity_pct", {"sensor.humidity_offset_pct": 60.0}, 20.0,
             "45 %RH +60 (drift up to 5, ripple 3.3): 101-110 %RH; 100 + 20 passes"),
        high("pressure_pa", {"sensor.pressure_offset_pa": 9500.0}, 6000.0,
             "101,325 Pa +9,500 (ripple 215): ~110,600-111,100 Pa; 110,000 + 6,000 passes"),
        high("battery_v", {"sensor.battery_offset_v": 0.75}, 0.38,
             "3.7 V supply read 0.75 V high: 4.45 V against 4.4"),
        high("temperature_c std dev", {"sensor.temperature_ripple_c": 1.1}, 0.2,
             "a +/-1.1 degC square ripple over 20 readings: std dev 1.13 against 1.0"),
        high("humidity_pct std dev", {"sensor.humidity_ripple_pct": 3.3}, 0.6,
             "+/-3.3 %RH ripple: 3.39 against 3.0"),
        high("pressure_pa std dev", {"sensor.pressure_ripple_pa": 215.0}, 40.0,
             "+/-215 Pa ripple: 221 against 200"),
        high("telemetry rate", {"telemetry.rate_factor": 1.12}, 0.8,
             "20 Hz asked, 22.4 Hz sent: 2 % past the 10 % tolerance; 20 % of the band passes"),
        high("ping rtt max", {"serial.response_delay_s": 0.062, "serial.response_delay_every": 25},
             0.014, "two of the 50 pings answered 62 ms late: max 62 ms against 60, median "
                    "untouched"),
        low("radio bursts seen", {"radio.active_adv_interval_s": 0.348}, 1,
            "one advertising event per 348 ms: no 0.35 s capture holds two whole bursts, every "
            "one holds one"),
    )),
    Run("sensors-low", ("test_sensors.py", "test_link.py::test_ping_round_trip_time", TELEMETRY), (
        low("temperature_c", {"sensor.temperature_offset_c": -18.0}, 8.0,
            "22.5 degC room -18: 4.5 degC against 5; 5 - 8 passes"),
        low("telemetry temperature min", {"sensor.temperature_offset_c": -18.0}, 1.2,
            "the same sensor streamed: its minimum 4.3-4.5 degC against 5; 5 - 1.2 passes"),
        low("pressure_pa", {"sensor.pressure_offset_pa": -22000.0}, 6000.0,
            "79,300 Pa against 80,000"),
        low("battery_v", {"sensor.battery_offset_v": -1.25}, 0.38,
            "3.7 V read 1.25 V low: 2.45 V against 2.5"),
        *(low(f"{quantity} distinct values", {"sensor.reads_per_conversion": 15}, 1,
              "one conversion every 15 readings: 20 back-to-back readings see 2 values")
          for quantity in ("temperature_c", "humidity_pct", "pressure_pa")),
        low("telemetry rate", {"telemetry.rate_factor": 0.88}, 0.8,
            "20 Hz asked, 17.6 Hz sent"),
        high("ping rtt median", {"serial.response_delay_s": 0.034}, 0.006,
             "every answer 34 ms late: median 34 ms against 30, max still under 60"),
    )),
    Run("link-late", (CURRENT + "charge_per_radio_burst", "test_link.py::test_ping_echo",
                      TELEMETRY), (
        high("echo round trip", {"serial.response_delay_s": 0.125}, 0.024,
             "every echo answered 125 ms late against 120"),
        high("charge per radio burst", {"power.radio_burst_a": 13.5e-3}, 3e-6,
             "13.5 mA for 2 ms: 27 uC against 25; 20 % of the band passes"),
        low("telemetry frames", {"telemetry.rate_factor": 0.02}, 1,
            "0.4 Hz: the frame sent as the stream starts, the next 2.5 s later, after the 2 s "
            "window"),
    )),
    Run("power-a", (*POWER, CURRENT + "charge_per_radio_burst", CURRENT + "battery_life",
                    TELEMETRY), (
        high("sleep current (floor)", {"power.sleep_current_a": 17e-6}, 3e-6,
             "17 uA asleep against 15 (the average, 33 uA, stays under 40)"),
        high("active current", {"power.active_current_a": 17e-3}, 1.6e-3,
             "17 mA against 16; 20 % of the band passes"),
        low("charge per radio burst", {"power.radio_burst_a": 4.5e-3}, 3e-6,
            "4.5 mA for 2 ms: 9 uC against 10, still above the 4 mA detection threshold"),
        *(high(f"battery reading error at {volts} V", {"sensor.battery_offset_v": 0.058}, 0.02,
               "the board reads its battery 58 mV high against +/-50 mV")
          for volts in ("3.3", "4.1")),
        high("boot current peak", {"power.inrush_peak_a": 0.14}, 0.03,
             "inrush 0.14 A over the 15 mA plateau: ~0.154 A against 0.15"),
        high("brown-out threshold", {"power.brownout_v": 2.83}, 0.04,
             "resets below 2.83 V: first off at 2.80 V, read 2.825 V against 2.8"),
        high("ping after recovery", {"serial.response_delay_s": 0.0505}, 0.0124,
             "every answer 50.5 ms late against 50: the round trip's own 0.3-1 ms lands the "
             "median of five past, and a busy host holding up one or two answers moves no "
             "median"),
        *(high(f"ping at {volts} V", {"serial.response_delay_s": 0.0505}, 0.0124,
               "every answer 50.5 ms late against 50, at each supply voltage")
          for volts in VOLTS),
        *(high(f"idle current at {volts} V", {"power.idle_current_a": 2.6e-3}, 0.38e-3,
               "2.6 mA idle against 2.5 at each supply voltage")
          for volts in VOLTS),
        high("telemetry frames lost", {"telemetry.loss_every": 30}, 1,
             "frame 29 of ~41 never sent: 1 lost against 0"),
    )),
    Run("power-b", POWER, (
        high("sleep current (average)", {"power.radio_burst_a": 17e-3}, 8e-6,
             "a 17 mA burst each second asleep: 8 + 34 = 42 uA against 40 (floor untouched)"),
        low("active current", {"power.active_current_a": 7e-3}, 1.6e-3, "7 mA against 8"),
        *(low(f"battery reading error at {volts} V", {"sensor.battery_offset_v": -0.058}, 0.02,
              "the board reads its battery 58 mV low") for volts in ("3.3", "4.1")),
        high("boot time (current trace)", {"power.boot_time_s": 0.22}, 0.04,
             "booted 220 ms after power good against 200"),
        high("output-on to banner", {"power.boot_time_s": 0.22}, 0.04, "the same boot"),
        high("boot after brown-out", {"power.boot_time_s": 0.22}, 0.04, "the same boot"),
        low("brown-out threshold", {"power.brownout_v": 2.57}, 0.04,
            "resets below 2.57 V: first off at 2.55 V, read 2.575 V against 2.6"),
        *(low(f"idle current at {volts} V", {"power.idle_current_a": 0.5e-3}, 0.38e-3,
              "0.5 mA idle against 0.6") for volts in VOLTS),
    )),
    Run("radio-a", (BLE + "advertises_after_power_on", BLE + "advertising_matches_identity",
                    NOTIFY, COUNTED, CURRENT + "battery_life"), (
        high("first advertisement after power-on", {"radio.advertising_delay_s": 1.5}, 0.3,
             "advertising starts 1.5 s after boot: ~1.57 s after output-on against 1.5"),
        high("advertised battery", {"sensor.battery_level_offset_pct": 43.0}, 20,
             "58 % at 3.7 V reported 43 points high: 101 % against 100"),
        low("notifications", {"radio.notify_period_factor": 2.2}, 3,
            "10 Hz asked, one every 220 ms: 13-14 in 3 s against 15"),
        low("counted notifications received", {"radio.notify_period_factor": 2.2}, 3,
            "the same notifier"),
        low("estimated battery life", {"power.sleep_current_a": 32e-6}, 0.4,
            "32 uA asleep + 16 uA of bursts: 48 uA, 1.9 years against 2"),
    ), also={"notification interval mean": "220 ms between notifications, as 'notifications' "
                                           "needs; the mean's own cases are in radio-b/-c"}),
    Run("radio-b", (BATTERY_LEVEL, ENVIRONMENT, NOTIFY, MODE_WRITE, ADV_INTERVAL, COUNTED,
                    BLE + "reset_seen_as_supervision_timeout"), (
        high("battery level", {"sensor.battery_level_offset_pct": 6.2, **QUIET}, 2.0,
             "58.3 % reported as 65 against 58.3 + 5, the voltage read exactly: 1.7 past"),
        high("temperature_c BLE - serial", {"radio.ess_temperature_offset_c": 0.6, **QUIET},
             0.2, "exact readings: the characteristic 0.6 degC above READ_SENSORS against 0.5"),
        low("humidity_pct BLE - serial", {"radio.ess_humidity_offset_pct": -2.5, **QUIET}, 0.8,
            "exact readings: -2.5 %RH against -2"),
        high("pressure_pa BLE - serial", {"radio.ess_pressure_offset_pa": 60.0, **QUIET}, 20.0,
             "exact readings: 60 Pa against 50"),
        high("notification interval mean", {"radio.notify_period_factor": 1.065}, 0.0024,
             "106.5 ms against 105 (5 % tolerance); the mean of ~28 intervals varies by 0.5 ms"),
        high("current in ACTIVE", {"power.active_current_a": 31e-3, **NO_BURST}, 5e-3,
             "31 mA in ACTIVE against 30"),
        high("advertising interval in ACTIVE", {"radio.active_adv_interval_s": 0.114}, 0.0095,
             "114 ms + advDelay and scan latency (8-10 ms): ~123 ms against 120"),
        high("counted notifications lost", {"radio.notify_loss_every": 25}, 2,
             "one notification in 25 never sent: 1-2 of ~28 lost against 0"),
        high("link loss seen after reset", {"radio.reset_lag_s": 0.33}, 0.16,
             "the radio falls silent 330 ms after the MCU: seen at ~0.75 s against 0.42 + 0.25"),
    )),
    Run("radio-c", (BATTERY_LEVEL, ENVIRONMENT, NOTIFY, MODE_WRITE, ADV_INTERVAL, COUNTED), (
        low("battery level", {"sensor.battery_level_offset_pct": -6.2, **QUIET}, 2.0,
            "58.3 % reported as 52 against 58.3 - 5: 1.3 past"),
        low("temperature_c BLE - serial", {"radio.ess_temperature_offset_c": -0.6, **QUIET},
            0.2, "exact readings: -0.6 against -0.5"),
        high("humidity_pct BLE - serial", {"radio.ess_humidity_offset_pct": 2.5, **QUIET}, 0.8,
             "exact readings: 2.5 against 2"),
        low("pressure_pa BLE - serial", {"radio.ess_pressure_offset_pa": -60.0, **QUIET}, 20.0,
            "exact readings: -60 against -50"),
        low("notification interval mean", {"radio.notify_period_factor": 0.935}, 0.0024,
            "93.5 ms against 95"),
        high("notification interval jitter (std dev)", {"radio.notify_jitter_s": 0.0158},
             0.0035, "every other notification 15.8 ms late: std dev 15.8 ms (with the host's "
             "own jitter added, up to 17.1) against 15; the mean does not move"),
        low("current in ACTIVE", {"power.active_current_a": 4.5e-3, **NO_BURST}, 5e-3,
            "4.5 mA in ACTIVE against 5"),
        low("advertising interval in ACTIVE", {"radio.active_adv_interval_s": 0.066}, 0.0095,
            "66 ms + advDelay and scan latency (8-10 ms): ~75 ms against 80"),
        high("counted notifications reordered", {"radio.notify_reorder_every": 25}, 2,
             "two notifications in 25 swapped: 1-2 of ~32 reordered against 0"),
        high("counted notifications duplicated", {"radio.notify_duplicate_every": 25}, 2,
             "one notification in 25 sent twice: 1-2 duplicated against 0"),
    )),
    Run("dfu", ("test_dfu.py::test_upload_release_candidate",
                "test_dfu.py::test_test_and_reset"), (
        low("upload rate", {"dfu.flash_s_per_byte": 48.5e-6}, 2500.0,
            "48.5 us of flash per byte, plus the host's 1.5-5 us: 18.9-19.6 kB/s against 20"),
        high("reset to alive", {"dfu.swap_s": 0.95}, 0.2,
             "MCUboot swaps for 0.95 s, the firmware starts in 0.06: alive 1.01 s after the reset "
             "plus at most one 50 ms echo period, against 1"),
    )),
)

# Sides no board can cross: nothing a knob could push, so nothing to guard.
UNREACHABLE: dict[tuple[str, str], str] = {
    ("advertised battery", "low"): "an unsigned byte in the manufacturer data: never below 0",
    ("humidity_pct", "low"): "READ_SENSORS carries the humidity as an unsigned 0.01 %RH "
                             "count: never below 0",
    ("reconnect attempts", "high"): "the limit is the driver's own budget (connect_retries + 1): "
                                    "a board needing more ends in BleError, an ERROR",
    ("ping after garbage", "high"): "the limit is the link's reply timeout (timeout_s 1.0 on "
                                    "the emulated station): a later answer is retried, and an "
                                    "answered attempt is never slower",
    ("supervision timeout negotiated", "low"): "the central's own connection parameter "
                                               "(drivers/bleak_bumble.py asks 420 ms); Bluetooth "
                                               "allows no less than 100 ms",
    ("supervision timeout negotiated", "high"): "the central's own connection parameter: the "
                                                "emulated controller has no connection update "
                                                "a peripheral could ask for",
    ("offset acknowledged before the cut", "low"): "the plan cuts the supply after the third "
                                                   "acknowledged chunk: three chunks' bytes",
    ("offset acknowledged before the cut", "high"): "the image is [dfu] image_size (32 KiB) in "
                                                    "chunks of at most 2 KiB: the third "
                                                    "acknowledgement lies inside it",
}


# Whole counts: a loosening by less than one count moves nothing, so a count limit of 2 or 3
# (or 0) cannot be guarded against a quarter of its band; these land one count past (two where
# the fault's period meets the window's edge), the smallest step there is.
WHOLE_COUNTS = {"radio bursts seen", "temperature_c distinct values",
                "humidity_pct distinct values", "pressure_pa distinct values", "telemetry frames",
                "telemetry frames lost", "counted notifications lost",
                "counted notifications reordered", "counted notifications duplicated"}


def band(m: dict, side: str) -> float:
    """The width a loosening is weighed against: low to high, or a one-sided limit's distance
    from zero."""
    return m["high"] - m["low"] if None not in (m["low"], m["high"]) else abs(m[side])


def failing(steps: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for step in steps:
        for m in step["measurements"]:
            if m["outcome"] == "fail":
                found.setdefault(m["name"], []).append(m)
    return found


def limited(steps: list[dict]) -> set[tuple[str, str]]:
    """(measurement, side) of every numeric limit in a record's steps."""
    return {(m["name"], side) for step in steps for m in step["measurements"]
            if m["comparison"] in NUMERIC for side in ("low", "high") if m[side] is not None}


def overshoot(m: dict, side: str) -> float:
    """How far past the limit on `side` the value lies (negative: inside)."""
    return m["value"] - m["high"] if side == "high" else m["low"] - m["value"]


@pytest.mark.parametrize("run", RUNS, ids=lambda run: run.name)
def test_knob_fails_exactly_its_measurement(run: Run, tmp_path: Path) -> None:
    nodes = [f"{PLANS}/{node}" for node in run.nodes]
    outcomes = run_plan(nodes, [], tmp_path, knobs=run.knobs, timeout=240)
    steps = load_record(tmp_path / "record.jsonl").steps
    assert steps and len(steps) == len(outcomes), outcomes
    errors = [(s["name"], s["message"]) for s in steps if s["outcome"] not in ("pass", "fail")]
    assert errors == [], "a knob must fail a measurement, never end a step in an error or skip"
    fails = failing(steps)
    unexplained = [s["name"] for s in steps if s["outcome"] == "fail"
                   and not any(m["outcome"] == "fail" for m in s["measurements"])]
    assert unexplained == [], "a failed step without a failing measurement"
    values = {name: [(m["value"], m["low"], m["high"]) for m in ms] for name, ms in fails.items()}
    assert set(fails) == run.expected, values
    for case in run.cases:
        pushed = [overshoot(m, case.side) for m in fails[case.measurement]]
        assert 0 < min(pushed) <= case.loosen_by, (case.measurement, case.side, pushed,
                                                    case.loosen_by)
        if case.measurement not in WHOLE_COUNTS:
            quarter = band(fails[case.measurement][0], case.side) / 4
            assert case.loosen_by < quarter, (case.measurement, case.side, case.loosen_by,
                                              "a quarter of the band:", quarter)


def test_every_numeric_limit_has_a_knob(tmp_path: Path) -> None:
    """From a healthy run (no knob, no defect): every side of every numeric limit is covered by
    a case or named unreachable, and every case names a limit the plans still have."""
    outcomes = run_plan([PLANS], [], tmp_path, timeout=240)
    assert set(outcomes.values()) == {"passed"}, outcomes
    present = limited(load_record(tmp_path / "record.jsonl").steps)
    covered = {(case.measurement, case.side) for run in RUNS for case in run.cases}
    excused = set(UNREACHABLE)
    assert sorted(present - covered - excused) == [], "limits without a knob case"
    assert sorted((covered | excused) - present) == [], "cases for limits not measured"
    assert not covered & excused
    assert WHOLE_COUNTS.issubset(name for name, _ in covered), "stale whole counts"


def test_every_knob_is_exercised() -> None:
    """The kit publishes the catalogue; no knob in it without a case, no case turning an unknown
    knob, no run setting one knob to two values."""
    assert KIT.knobs == KNOBS
    used = {name for run in RUNS for case in run.cases for name in case.knobs}
    assert used == set(KNOBS)
    for run in RUNS:
        assert run.knobs  # the merge asserts no two cases of a run set one knob differently


def test_knobs_move_the_board_and_unknown_ones_are_named() -> None:
    """A knob left unset is the healthy value; a set one moves exactly its quantity; a misspelt
    one is refused with its name."""
    healthy, knobbed = BoardModel(seed=3), BoardModel(seed=3, knobs={"power.idle_current_a": 2e-3})
    try:
        between_bursts = healthy.booted_at + 0.25
        assert healthy.current_a(between_bursts) == 1.2e-3
        assert knobbed.current_a(knobbed.booted_at + 0.25) == 2e-3
        assert healthy.read_sensors() == knobbed.read_sensors()  # same seed, other quantity
        healthy.set_mode(Mode.SLEEP)
        assert healthy.current_a(healthy.booted_at + 0.5) == 8e-6
    finally:
        healthy.shutdown()
        knobbed.shutdown()
    with pytest.raises(UnknownKnobError, match=r"power\.idle_curent_a"):
        BoardModel(knobs={"power.idle_curent_a": 2e-3})
