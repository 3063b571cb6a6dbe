"""scripts/soak reads verdicts, failures and timing spreads from records, never from pytest."""

import json
import math
from pathlib import Path

from tests.scripts import load_script

soak = load_script("soak")


def _m(name, value, units="", low=None, high=None, outcome="pass") -> dict:
    return {"name": name, "value": value, "units": units, "low": low, "high": high,
            "nominal": None, "comparison": "LE", "outcome": outcome, "margin": None}


def _record(*steps: dict, end: str | None = "pass", dut: dict | None = None) -> list[str]:
    events = [{"kind": "start", "time": 1.0, "station": {}},
              {"kind": "dut", "time": 1.1, **(dut or {"board": "ws100",
                                                       "unique_id": "CB-WS1-000123"})}]
    events += [{"kind": "step", "name": name, "doc": "", "outcome": outcome, "start": 1.2,
                "end": 1.3, "message": message, "measurements": ms, "attachments": []}
               for name, outcome, message, ms in steps]
    if end is not None:
        events.append({"kind": "end", "time": 2.0, "verdict": end, "problems": []})
    return [json.dumps(e) for e in events]


def test_a_failed_step_is_read_with_its_message_and_failed_measurements() -> None:
    lines = _record(
        ("plans/test_link.py::test_ping", "pass", "", [_m("ping rtt", 0.001, "s", high=0.03)]),
        ("plans/test_tm.py::test_rate", "fail", "AssertionError: measurement failed\nmore",
         [_m("telemetry rate", 25.0, "Hz", 18, 22, "fail"), _m("frames", 40, "", 2)]),
        end="fail")
    result = soak.parse_record(lines)
    assert (result.verdict, result.dut) == ("fail", "CB-WS1-000123")
    [failure] = result.failures
    assert (failure.step, failure.outcome, failure.failed) == (
        "plans/test_tm.py::test_rate", "fail", ("telemetry rate",))
    assert failure.describe() == ("FAIL plans/test_tm.py::test_rate [failed: telemetry rate]: "
                                  "AssertionError: measurement failed")


def test_only_timing_measurements_with_a_limit_are_gathered() -> None:
    lines = _record(("s", "pass", "", [
        _m("echo", 0.002, "s", high=0.12), _m("echo", 0.004, "s", high=0.12),
        _m("rate", 20.0, "Hz", 18, 22), _m("burst", 0.002, "s"),  # logged: no limit
        _m("current", 0.01, "A", high=0.02), _m("dropped", True, "s", high=1)]))
    assert soak.parse_record(lines).timings == {
        ("echo", "s", None, 0.12): [0.002, 0.004], ("rate", "Hz", 18, 22): [20.0]}


def test_an_error_step_and_a_run_without_end_are_failures() -> None:
    result = soak.parse_record(_record(("p::t", "error", "PortLostError: gone", []), end=None))
    assert result.verdict == "error"
    assert [f.describe() for f in result.failures] == [
        "ERROR p::t: PortLostError: gone",
        "ERROR (run): record has no end event: the run stopped before its verdict"]


def test_older_records_name_the_dut_by_serial_and_bad_lines_are_reported() -> None:
    lines = _record(dut={"serial": "CB-WS1-000777", "firmware": "1.4.2"})
    lines.insert(2, "{not json")
    result = soak.parse_record(lines)
    assert result.dut == "CB-WS1-000777"
    assert result.verdict == "pass"
    assert result.failures[0].step == "record line 3"


def test_percentile_is_a_measured_value_and_margin_uses_the_near_side() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (soak.percentile(values, 0.99), soak.percentile(values, 0.5)) == (99.0, 50.0)
    # median 50.5, p99 99 -> spread 48.5; limit 150 is 99.5 away: about 2.05 spreads
    assert math.isclose(soak.margin_ratio(values, None, 150.0), 99.5 / 48.5)
    assert math.isclose(soak.margin_ratio(values, 0.0, 150.0), 50.5 / 49.5)  # p1 is 1
    assert soak.margin_ratio([1.0, 1.0], None, 2.0) == math.inf


def test_timing_table_flags_a_tight_limit() -> None:
    runs = [soak.parse_record(_record(("s", "pass", "", [_m("jitter", v, "s", high=0.01)])))
            for v in (0.002, 0.003, 0.008)]
    table = soak.timing_table({"ws100": runs})
    assert "| ws100 | jitter | ≤ 0.01 s | 3 | 0.003 | 0.008 | 0.008 | 0.002 | 1.4 **tight** |" \
        in table


def test_markdown_sections_replace_only_their_own(tmp_path: Path) -> None:
    doc = tmp_path / "reliability.md"
    soak.write_section(doc, "idle", "idle one")
    soak.write_section(doc, "loaded", "loaded one")
    soak.write_section(doc, "idle", "idle two")
    text = doc.read_text()
    assert "idle two" in text and "loaded one" in text and "idle one" not in text
    assert text.index("idle two") < text.index("loaded one")
