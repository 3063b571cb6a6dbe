"""The emulators' SCPI parser: forms, paths, parameters, and the right error code for bad input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.dmm import DmmEmulator
from emulators.psu import E36312A
from emulators.psu_n6700 import N6705C
from emulators.scpi import (
    ERROR_QUEUE_SIZE,
    Call,
    Ieee4882,
    Scpi99,
    ScpiDevice,
    binary_block,
    fmt_number,
    scpi,
)
from emulators.ws100_board import BoardModel


class Meter(Ieee4882, Scpi99, ScpiDevice):
    """A small device with the shapes of header the real emulators use."""

    idn = "Acme,M1,0042,1.0"

    def reset(self) -> None:
        self.volts = 0.0
        self.counts = {"TRIG": 1, "SAMP": 1}
        self.channels: list[int] = []

    @scpi("[SOURce]:VOLTage[:LEVel][:IMMediate]")
    def voltage(self, call: Call) -> str | None:
        if call.query:
            return fmt_number(self.volts)
        call.no_more_than(1)
        self.volts = call.number(0, low=0, high=6, default=1.5)
        return None

    @scpi("TRIGger:COUNt")
    def trig(self, call: Call) -> str | None:
        return self._count(call, "TRIG")

    @scpi("SAMPle:COUNt")
    def samp(self, call: Call) -> str | None:
        return self._count(call, "SAMP")

    def _count(self, call: Call, key: str) -> str | None:
        if call.query:
            return str(self.counts[key])
        self.counts[key] = int(call.number(0, low=1, high=100, default=1))
        return None

    @scpi("ROUTe:CLOSe", "set")
    def close(self, call: Call) -> None:
        self.channels = call.channels(0, (1, 2, 3, 4))

    @scpi("OUTPut[:STATe]")
    def output(self, call: Call) -> str | None:
        if call.query:
            return "1"
        call.boolean(0)
        return None


@pytest.fixture
def meter() -> Meter:
    return Meter()


def errors(device: ScpiDevice) -> list[int]:
    codes = []
    while (reply := device.execute("SYST:ERR?")) != b'+0,"No error"':
        codes.append(int(reply.split(b",")[0]))
    return codes


@pytest.mark.parametrize("command", [
    "VOLT 2.5", "volt 2.5", "VOLTage 2.5", "voltage 2.5", ":SOUR:VOLT 2.5",
    "SOURCE:VOLTAGE:LEVEL:IMMEDIATE 2.5", "sour:volt:lev 2.5", "VOLT\t2.5", "  VOLT 2.5  ",
])
def test_short_long_and_optional_forms_in_any_case(meter, command):
    assert meter.execute(command) is None
    assert meter.volts == 2.5 and errors(meter) == []


def test_compound_messages_keep_or_reset_the_header_path(meter):
    assert meter.execute("TRIG:COUN 5;:SAMP:COUN 7;:TRIG:COUN?;:SAMP:COUN?") == b"5;7"
    # without the colon, SAMP:COUN is looked up under TRIG: (SCPI-99 6.2.4): undefined
    meter.execute("TRIG:COUN MIN;SAMP:COUN MIN")
    assert meter.counts == {"TRIG": 1, "SAMP": 7} and errors(meter) == [-113]
    assert meter.execute("TRIG:COUN 3;COUN?") == b"3"  # same path, sibling node


def test_min_max_def(meter):
    for word, value in (("MIN", 0.0), ("maximum", 6.0), ("DEF", 1.5)):
        meter.execute(f"VOLT {word}")
        assert meter.volts == value
    assert meter.execute("VOLT?") == b"+1.50000000E+00"


@pytest.mark.parametrize(("text", "channels"), [
    ("(@2)", [2]), ("(@1,3)", [1, 3]), ("(@1:3)", [1, 2, 3]), ("(@1,3:4)", [1, 3, 4]),
    ("( @ 1 , 2 )", [1, 2]),
])
def test_channel_lists(meter, text, channels):
    meter.execute(f"ROUT:CLOS {text}")
    assert meter.channels == channels and errors(meter) == []


@pytest.mark.parametrize(("command", "code"), [
    ("VOLT 9", -222),             # above the range
    ("VOLT -1", -222),
    ("VOLT abc", -104),           # not a number
    ("VOLT 1V2", -104),
    ("VOLT", -109),               # missing parameter
    ("VOLT 1,2", -108),           # one too many
    ("FOO:BAR 1", -113),          # no such header
    ("VOLTA 1", -113),            # neither short nor long form
    ("VOL 1", -113),
    ("*IDN", -113),               # query only
    ("ROUT:CLOS?", -113),         # set only
    ("VOLT 1,,", -102),           # empty parameter
    ("VOLT (1", -102),            # unbalanced
    ('VOLT "1', -102),
    ("VOLT:: 1", -102),           # empty mnemonic
    ("VO-LT 1", -102),
    (";", -102),
    ("VOLT\x01 1", -101),         # control character
    ("VOLT 1é", -101),
    ("OUTP MAYBE", -224),         # not a boolean
    ("ROUT:CLOS (@5)", -222),     # a channel the unit lacks
    ("ROUT:CLOS (@1:)", -102),
    ("ROUT:CLOS 1", -104),
    ("*IDN? 1", -108),
])
def test_malformed_input_gives_the_standard_code(meter, command, code):
    assert meter.execute(command) is None
    assert errors(meter) == [code]


def test_error_discards_the_rest_of_the_message(meter):
    assert meter.execute("VOLT 9;:VOLT 2;:VOLT?") is None
    assert meter.volts == 0.0 and errors(meter) == [-222]


def test_queue_overflow_keeps_the_first_errors_and_reports_350(meter):
    for _ in range(ERROR_QUEUE_SIZE + 5):
        meter.execute("NOPE")
    codes = errors(meter)
    assert len(codes) == ERROR_QUEUE_SIZE
    assert codes[:-1] == [-113] * (ERROR_QUEUE_SIZE - 1) and codes[-1] == -350


def test_common_commands(meter):
    meter.execute("VOLT 3;:NOPE")
    assert meter.execute("*IDN?") == b"Acme,M1,0042,1.0"
    assert meter.execute("*OPC?") == b"1"
    meter.execute("*CLS")
    assert errors(meter) == []
    meter.execute("*RST")
    assert meter.volts == 0.0
    assert meter.execute("*rst;*opc?;:volt?") == b"1;+0.00000000E+00"


def test_binary_block_is_ieee_488_2_definite_length():
    block = binary_block([1.0, -2.5])
    assert block == b"#18" + struct.pack(">2f", 1.0, -2.5)
    assert binary_block([0.0] * 30)[:5] == b"#3120"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_any_text_returns_and_leaves_the_device_usable(text):
    meter = Meter()
    reply = meter.execute(text)
    assert reply is None or isinstance(reply, bytes)
    meter.execute("SYST:ERR?").decode("ascii")  # the queue's messages are ASCII, whatever came
    meter.execute("*CLS")
    assert meter.execute("*IDN?") == b"Acme,M1,0042,1.0"


@pytest.fixture
def board():
    board = BoardModel(powered=False, seed=5)
    yield board
    board.shutdown()


def test_supply_output_powers_the_board_and_reset_turns_it_off(board):
    psu = E36312A(board, board_channel=2)
    psu.execute("VOLT 3.7,(@1:3);:OUTP ON,(@1)")
    assert board.supply_v == 0.0  # channel 1 is not wired to the board
    psu.execute("OUTP ON,(@2)")
    assert board.supply_v == 3.7 and psu.execute("OUTP? (@1:3)") == b"1,1,0"
    assert psu.execute("VOLT? MAX,(@1:2);:CURR? MIN") == b"+6.18000000E+00,+2.57500000E+01;" \
        b"+0.00000000E+00"
    psu.execute("*RST")
    assert board.supply_v == 0.0 and psu.execute("OUTP? (@1,2)") == b"0,0"
    assert errors(psu) == []


def test_supply_over_voltage_protection_trips_the_output(board):
    psu = E36312A(board)
    psu.execute("VOLT:PROT 4.4,(@1);:VOLT 3.7,(@1);:OUTP ON,(@1)")
    psu.execute("VOLT 5,(@1)")
    assert errors(psu) == [-221]
    assert psu.execute("OUTP? (@1);:VOLT:PROT:TRIP? (@1)") == b"0;1"
    assert board.supply_v == 0.0
    psu.execute("OUTP:PROT:CLE (@1);:VOLT 3.7,(@1);:OUTP ON,(@1)")
    assert psu.execute("OUTP? (@1)") == b"1" and errors(psu) == []


def test_supply_capture_answers_ascii_or_binary(board):
    psu = N6705C(board)
    psu.execute("SENS:SWE:POIN 3,(@1);TINT 1e-4,(@1)")
    assert psu.execute("SENS:SWE:POIN? (@1)") == b"+3" and errors(psu) == []
    assert psu.execute("MEAS:ARR:CURR? (@1)").count(b",") == 2
    psu.execute("FORM REAL,32;:FORM:BORD SWAP")
    block = psu.execute("MEAS:ARR:CURR? (@1)")
    assert block[:4] == b"#212" and len(block) == 16
    for bad, code in (("FORM REAL,64", -224), ("VOLT 1,2", -108), ("VOLT (@1)", -104),
                      ("VOLT? BOTH,(@1)", -224), ("FETC:ARR:CURR? (@2)", -230),
                      ("MEAS:ARR:CURR? (@1,2)", -221), ("SENS:SWE:POIN 0,(@1)", -222),
                      ("MEAS:CURR? (@5)", -222)):
        assert psu.execute(bad) is None, bad
        assert errors(psu) == [code], bad


def test_meter_trigger_system_codes(board):
    dmm = DmmEmulator(board)
    assert dmm.execute("FETC?") is None and errors(dmm) == [-230]
    dmm.execute("CONF:VOLT:DC 10;:SAMP:COUN 2;:TRIG:SOUR BUS;:INIT")
    assert dmm.execute("FETC?") is None and errors(dmm) == [-214]
    dmm.execute("INIT")
    assert errors(dmm) == [-213]
    dmm.execute("*TRG")
    readings = [float(v) for v in dmm.execute("FETC?").split(b",")]
    assert len(readings) == 2 and all(abs(v) < 1e-4 for v in readings)  # the board is unpowered
    dmm.execute("*TRG")
    assert errors(dmm) == [-211]
    assert dmm.execute("CONF?") == b'"VOLT +1.00000000E+01,+3.00000000E-06"'
    dmm.execute("VOLT:RANG 0.1;:TRIG:SOUR IMM")
    board.supply(3.7)
    assert dmm.execute("READ?") == b"+9.900000E+37,+9.900000E+37"  # overload: 100 mV range
