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

from drivers.limits import KEYSIGHT_RULES, LimitGuard
from drivers.psu import PowerSupply, open_supply
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
    "DP832": ([":SOUR1:VOLT\t1", "INST:NSEL 1\nVOLT\r3.3"], 3.3),
    "SPD3303X": (["CH1:VOLT\t1\nCH1:VOLT 3300mV"], 3.3),
}


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


def test_a_refusal_names_the_offset_of_the_offending_unit() -> None:
    guard = LimitGuard(KEYSIGHT_RULES, LIMITS, "R", "[psu] ")
    with pytest.raises(LimitError, match=r"at offset 15: 5 V exceeds .* max_voltage = 4\.4 V"):
        guard("VOLT 3;:OUTP 1\nVOLT\t5")
    with pytest.raises(LimitError, match=r"at offset 7: the guard cannot read it \('\\x0b'"):
        guard("VOLT 3\n\x0bVOLT 1")  # a control character: -101 at the instrument, or worse
    with pytest.raises(LimitError, match=r"at offset 7: the guard cannot read it \(empty"):
        guard("VOLT 3;;VOLT 1")
    guard("VOLT 3\n\n  \r\nVOLT? MAX")  # blank lines are skipped, as the instrument's input does


def test_without_limits_the_guard_lets_everything_through() -> None:
    LimitGuard(KEYSIGHT_RULES, {}, "R")("VOLT 9;;\x0b*RST")


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
