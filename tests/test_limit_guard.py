"""The station's voltage limit holds against raw writes in every form the instrument reads
(issue 17, item 1): each emulated supply model behind the real driver over pyvisa-py, the
emulator's state read after every write and every setpoint it was ever given recorded."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings

from drivers.psu import PowerSupply, open_supply
from drivers.psu_dp800 import DP800
from drivers.psu_e36300 import E36300
from drivers.scpi import CommandError, LimitError
from emulators.psu import SupplyEmulator
from emulators.scpi_server import ScpiServer
from emulators.supplies import SUPPLIES
from emulators.ws100_board import BoardModel
from protocols.scpi import program_units
from tests.guard_messages import LIMITS, messages

EXAMPLES = 200  # per model: a few seconds each

# The issue's forms and their relatives. Each passed the guard before it read a write as the
# instrument does, and set a level above a limit (or disarmed a protection) on the emulator, or
# could on a real instrument (UP, triggered levels, lists, timer steps and series pairs are not
# emulated); each is now refused before anything is sent.
BYPASSES = {
    "E36312A": ["VOLT\t5", "VOLT 3\nVOLT 5", "VOLT 3\r\nVOLT 5,(@1)", "SOUR1:VOLT\r5",
                "CURR:PROT:STAT OFF", "curr:prot:stat 0,(@1:3)", "CURR:PROT:STAT 0.3,(@2)",
                "VOLT 1\n*RST", "*RCL\t1", "VOLT UP", "VOLT #H5,(@1)", "VOLT 5EV",
                "VOLT 3\n\x0bVOLT 5", "VOLT:TRIG 5,(@1)", "LIST:VOLT 1,2,5,(@1)",
                "OUTP:PAIR SER", "VOLT 3,(@1;:VOLT 5)"],
    "N6705C": ["VOLT\t5,(@1)", "VOLT 3,(@1)\nVOLT 5,(@1)", "CURR:PROT:STAT OFF,(@1)",
               "SOUR:VOLT:PROT 4;\tLEV\t6", "VOLT 1\n*rst"],
    "DP832": [":SOUR1:VOLT\t5", ":SOUR1:VOLT 3\n:SOUR1:VOLT 5", "INST:NSEL 2\nVOLT 5",
              ":APPL 5,0.1", ":SOUR2:VOLT:PROT:STAT 0.4", "VOLT 1\n*RST", "*RCL\t1",
              ":SOUR1:VOLT:TRIG 5"],
    "SPD3303X": ["CH1:VOLT\t5", "CH1:VOLT 3\nCH1:VOLT 5", "CH1:VOLT\r5", "INST CH2\nVOLT 5",
                 "*RCL\t1", "CH2:CURR\t1", "TIMEr:SET CH1,2,5,0.1,10",
                 "OUTP:TRACK 1", "CH1:VOLT 1;CH1:VOLT 5"],
}
# The same forms within the limits: read as the instrument reads them, and passed.
WITHIN = {
    "E36312A": (["VOLT\t3.3", "VOLT 1\r\nVOLT 3.3,(@1)", "CURR:PROT:STAT ON,(@1)"], 3.3),
    "N6705C": (["VOLT 1,(@1)\nSOUR:VOLT\t3.3,(@1)"], 3.3),
    "DP832": ([":SOUR1:VOLT\t1", "INST:NSEL 1\nVOLT\t3.3"], 3.3),
    "SPD3303X": (["CH1:VOLT\t1\nCH1:VOLT 3300mV"], 3.3),
}

# Settings the family's real instruments take and no rule reads, each able to set or later apply
# a level (a preset, Rigol's timer, N6700 ARB, a list or trigger run): with the header the
# refusal names. Refused when the profile sets limits, since they are not on the allow-list.
UNLISTED = {
    "E36312A": [("INIT:TRAN (@1)", "INIT:TRAN"), ("VOLT:MODE LIST,(@1)", "VOLT:MODE"),
                ("OUTP ON,(@1);:TRIG:TRAN:SOUR IMM,(@1)", "TRIG:TRAN:SOUR")],
    "N6705C": [("ARB:FUNC:TYPE VOLT,(@1)", "ARB:FUNC:TYPE"),
               ("ARB:VOLT:STEP:END 20,(@1)", "ARB:VOLT:STEP:END"),
               ("VOLT:MODE ARB,(@1)", "VOLT:MODE")],
    "DP832": [(":PRES:APPL", "PRES:APPL"), (":TIM:PAR 1,5,0.1,1", "TIM:PAR"),
              (":OUTP CH1,ON;:TIM ON", "TIM")],
    "SPD3303X": [("TIMEr CH1,ON", "TIMER"), ("OUTP CH1,ON;TIMEr CH1,ON", "TIMER")],
}
# Harmless settings a plan may send raw (output, status, common commands, channel selection):
# on the allow-list, so they reach the instrument.
LISTED = {
    "E36312A": ["*CLS;*ESE 32;*SRE 0", "STAT:QUES:ENAB 3;:STAT:PRES", "OUTP ON,(@1)",
                "OUTP:PROT:CLE (@1)", "*OPC;*WAI"],
    "N6705C": ["OUTP ON,(@1)", "SENS:SWE:POIN 10,(@1);:SENS:SWE:TINT 20us,(@1)",
               "FORM ASC;*CLS"],
    "DP832": [":INST:NSEL 2", ":OUTP CH1,ON", "*CLS;:STAT:PRES", ":SOUR1:VOLT:PROT:CLE"],
    "SPD3303X": ["INST CH2", "OUTP CH1,ON", "*SAV 1"],
}
# A carriage return that no line feed follows: white space to IEEE 488.2, the end of the
# message to an instrument that terminates on CR, which would then read a second unit.
BARE_CR = {"E36312A": "OUTP ON,(@1)\rVOLT 5,(@1)", "N6705C": "OUTP ON,(@1)\rVOLT 5,(@1)",
           "DP832": ":OUTP CH1,ON\r:SOUR1:VOLT 5", "SPD3303X": "OUTP CH1,ON\rCH1:VOLT 5"}


class Watched:
    """Mixed into an emulated supply: counts the messages that reached it and records the
    highest setpoint of each kind it was ever given, on any channel (a setpoint that a later
    unit of the same write lowered again still reached the output)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.received = 0
        self.peaks: Counter[str] = Counter()
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]

    def execute(self, message: str) -> bytes | None:
        self.received += 1
        return super().execute(message)  # type: ignore[misc]

    def set_level(self, ch: int, attr: str, value: float) -> None:
        self.peaks[attr] = max(self.peaks[attr], abs(value))
        super().set_level(ch, attr, value)  # type: ignore[misc]


@contextmanager
def station(model: str) -> Iterator[tuple[PowerSupply, SupplyEmulator]]:
    """The driver on `model`'s emulator, every channel protected from the profile's limits."""
    board = BoardModel(powered=False, seed=3)
    device = type(f"Watched{model}", (Watched, SUPPLIES[model]), {})(board, 1, seed=3)
    try:
        with ScpiServer(device) as server, \
                open_supply(server.resource, limits=LIMITS, timeout_ms=2000) as psu:
            power_on(psu, device)
            yield psu, device
    finally:
        board.shutdown()


def power_on(psu: PowerSupply, device: SupplyEmulator) -> None:
    """The instrument as switched on (its own defaults), then protected by the driver."""
    with device.lock:
        device.reset()
    for number in psu.channels:
        psu.protect(number)
    device.peaks.clear()  # type: ignore[attr-defined]


def assert_within_limits(device: SupplyEmulator, after: str) -> None:
    volts, amps = LIMITS["max_voltage"], LIMITS["max_current"]
    peaks = device.peaks  # type: ignore[attr-defined]
    assert peaks["volts"] <= volts and peaks["ovp"] <= volts, (after, dict(peaks))
    assert peaks["amps_limit"] <= amps and peaks["ocp_level"] <= amps, (after, dict(peaks))
    protected = "SPD" not in type(device).__name__  # the SPD3303X has no OVP nor OCP
    for ch, out in device.outputs.items():
        state = f"channel {ch} {out} after {after!r}"
        assert out.volts <= volts and out.amps_limit <= amps, state
        if protected:
            assert out.ovp <= volts and out.ovp_on and out.ocp, state


@pytest.mark.parametrize("model", sorted(SUPPLIES))
def test_the_issues_bypasses_are_refused_before_anything_is_sent(model: str) -> None:
    with station(model) as (psu, device):
        for message, send in itertools.product(BYPASSES[model], (psu.write, psu.query, psu.send)):
            before = device.received  # type: ignore[attr-defined]
            with pytest.raises(LimitError) as refused:
                send(message)
            text = str(refused.value)
            assert psu.resource_name in text and repr(message) in text and "offset" in text
            assert device.received == before, f"{message!r} was refused but sent"
            assert_within_limits(device, message)


@pytest.mark.parametrize("model", sorted(SUPPLIES))
def test_the_same_forms_within_the_limits_pass_and_set_what_they_say(model: str) -> None:
    written, volts = WITHIN[model]
    with station(model) as (psu, device):
        for message in written:
            psu.write(message)
        assert device.outputs[1].volts == pytest.approx(volts)
        assert_within_limits(device, written[-1])


@pytest.mark.parametrize("model", sorted(SUPPLIES))
def test_a_setting_off_the_familys_allow_list_is_refused_before_it_is_sent(model: str) -> None:
    with station(model) as (psu, device):
        for (message, header), send in itertools.product(UNLISTED[model], (psu.write, psu.send)):
            before = device.received  # type: ignore[attr-defined]
            with pytest.raises(LimitError) as refused:
                send(message)
            text = str(refused.value)
            assert psu.resource_name in text and repr(message) in text, text
            assert f"{header} is not on the {psu.family} allow-list" in text, text
            assert "drivers.psu_" in text and ".allowed" in text, text  # where to extend it
            assert device.received == before, f"{message!r} was refused but sent"
        for message, _ in UNLISTED[model]:  # queries pass: they set nothing
            header, _, parameters = message.split(";")[-1].partition(" ")
            psu.guard(f"{header}? {parameters}")


@pytest.mark.parametrize("model", sorted(SUPPLIES))
def test_the_harmless_settings_a_plan_sends_raw_reach_the_instrument(model: str) -> None:
    with station(model) as (psu, device):
        for message in LISTED[model]:
            before = device.received  # type: ignore[attr-defined]
            psu.write(message)
            assert device.received > before, message
            assert_within_limits(device, message)


@pytest.mark.parametrize("model", sorted(SUPPLIES))
def test_a_carriage_return_without_a_line_feed_is_refused_at_its_offset(model: str) -> None:
    message = BARE_CR[model]
    with station(model) as (psu, device):
        for send in (psu.write, psu.query, psu.send):
            before = device.received  # type: ignore[attr-defined]
            with pytest.raises(LimitError) as refused:
                send(message)
            text = str(refused.value)
            assert f"at offset {message.index(chr(13))}: " in text and "terminat" in text, text
            assert psu.resource_name in text and device.received == before, text
        first = message.split("\r")[0]
        psu.write(f"{first}\r\n{first}")  # CR LF ends a message for every instrument
        psu.write(f"{first}\r")  # the line feed every write ends with follows this CR
        assert_within_limits(device, message)


def test_a_refusal_names_the_offset_of_the_offending_unit() -> None:
    guard = E36300.limit_guard(LIMITS, "R", "[psu] ")
    with pytest.raises(LimitError, match=r"at offset 15: 5 V exceeds .* max_voltage = 4\.4 V"):
        guard("VOLT 3;:OUTP 1\nVOLT\t5")
    with pytest.raises(LimitError, match=r"at offset 7: the guard cannot read it \('\\x0b'"):
        guard("VOLT 3\n\x0bVOLT 1")  # a control character: -101 at the instrument, or worse
    with pytest.raises(LimitError, match=r"at offset 7: the guard cannot read it \(empty"):
        guard("VOLT 3;;VOLT 1")
    guard("VOLT 3\n\n  \r\nVOLT? MAX")  # blank lines are skipped, as the instrument's input does


def test_a_relative_setting_must_be_allowed_from_the_root_too() -> None:
    """`STAT:PRES;PRES` is STATus:PRESet twice to SCPI-99, but a parser that starts each unit at
    the root reads the second as the DP800's :PRESet (a stored preset's levels applied)."""
    guard = DP800.limit_guard(LIMITS, "R", "[psu] ")
    guard("STAT:PRES;:STAT:PRES")
    with pytest.raises(LimitError, match=r"offset 10: the setting PRES, as an instrument that "
                                         r"starts each unit at the root reads it, is not on the "
                                         r"DP800 allow-list \(drivers\.psu_dp800\.DP800\."):
        guard("STAT:PRES;PRES")


def test_without_limits_the_guard_lets_everything_through() -> None:
    E36300.limit_guard({}, "R")("VOLT 9;;\x0b*RST\rARB:VOLT:STEP:END 20")


def test_guard_and_emulator_read_a_unit_with_one_lexer() -> None:
    """Tab and carriage return separate header and parameters for both, as IEEE 488.2 asks."""
    units = list(program_units("SOUR2:VOLT\t3.3;\rPROT\r 4V ,(@1)"))
    assert [(u.bare, u.suffix, u.args) for u in units] == [
        (("SOUR", "VOLT"), 2, ("3.3",)), (("SOUR", "PROT"), 2, ("4V", "(@1)"))]
    device = SUPPLIES["E36312A"](BoardModel(powered=False), 1)
    try:
        assert device.execute("VOLT\r2.5;:VOLT?") == b"+2.50000000E+00"
    finally:
        device.power.shutdown()  # type: ignore[attr-defined]


@pytest.mark.parametrize("model", sorted(SUPPLIES))
def test_fuzzed_header_and_separator_forms_never_lift_a_limit(model: str) -> None:
    """Done when: 0 setpoints above a limit reach any output of any model, every refusal is
    made before anything is sent, and the guard still passes what is within the limits."""
    tally: Counter[str] = Counter()
    with station(model) as (psu, device):

        @settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
        @given(messages(model))
        def write(message: str) -> None:
            power_on(psu, device)  # each example from the same state, so a failure shrinks
            before = device.received  # type: ignore[attr-defined]
            try:
                psu.write(message)
                tally["accepted"] += 1
            except LimitError:
                assert device.received == before, f"{message!r} was refused but sent"
                tally["refused"] += 1
            except CommandError:  # sent, and the instrument said what it thought of it
                tally["rejected by the instrument"] += 1
            assert_within_limits(device, message)

        write()
    assert tally["accepted"] and tally["refused"], tally
