"""The emulators' SCPI parser: forms, paths, parameters, and the right error code for bad input."""

from __future__ import annotations

import re
import struct
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyvisa.constants import StatusCode
from pyvisa.errors import VisaIOError

from drivers.scpi import (
    ERROR_QUERY,
    SYNC,
    Channel,
    CommandError,
    DeviceError,
    Identity,
    Instrument,
    InstrumentError,
    InstrumentLostError,
    InstrumentTimeout,
    LimitError,
    control,
    measurement,
    open_resource,
)
from emulators.dmm import DmmEmulator
from emulators.psu import E36312A
from emulators.psu_n6700 import N6705C
from emulators.scpi import (
    ERROR_QUEUE_SIZE,
    ByteOrder,
    Call,
    Ieee4882,
    Pending,
    Scpi99,
    ScpiDevice,
    ScpiError,
    binary_block,
    fmt_number,
    scpi,
)
from emulators.ws100_board import BoardModel
from tests.test_instrument_replay import RESOURCE, Replay


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


class Rig(ByteOrder, Meter):
    """The Meter with what status reporting needs: condition registers the test sets, an
    operation that completes when the test opens `gate`, a current in amperes (suffix units), a
    header with a numeric suffix, and handlers that raise a given code or have a bug."""

    idn = "Acme,R1,0007,2.0"

    def __init__(self) -> None:
        self.gate = threading.Event()  # opens the operations INIT and FETC? wait for
        self.waiting = threading.Event()  # FETC? is waiting, with the device lock released
        super().__init__()

    def reset(self) -> None:
        super().reset()
        self.oper = self.ques = 0
        self.amps = 0.0
        self.byte_order = ">"

    def operation_condition(self) -> int:
        return self.oper

    def questionable_condition(self) -> int:
        return self.ques

    @scpi("CURRent[:LEVel]")
    def current(self, call: Call) -> str | None:
        if call.query:
            return fmt_number(self.amps)
        call.no_more_than(1)
        self.amps = call.number(0, low=0, high=3, default=0.1, unit="A")
        return None

    @scpi("INITiate", "set")
    def initiate(self, call: Call) -> None:
        operation = threading.Thread(target=self.gate.wait)
        operation.start()
        self.pending.append(operation)

    @scpi("FETCh", "query")
    def fetch(self, call: Call) -> Pending:
        def wait() -> None:
            self.waiting.set()
            self.gate.wait()
        return Pending(wait, lambda: "+1")

    @scpi("CHANnel:LABel", "query")
    def label(self, call: Call) -> str:
        return f"CH{call.suffix}"

    @scpi("TEST:ERRor", "set")
    def fail(self, call: Call) -> None:
        raise ScpiError(int(call.arg(0)))

    @scpi("TEST:BUG", "set")
    def bug(self, call: Call) -> None:
        raise ZeroDivisionError("division by zero")


@pytest.fixture
def rig() -> Iterator[Rig]:
    rig = Rig()
    assert rig.execute("*ESR?") == b"+128"  # power-on, read and cleared
    yield rig
    rig.gate.set()
    rig.wait_pending()


def ask(device: ScpiDevice, message: str) -> str:
    reply = device.execute(message)
    return reply.decode() if reply is not None else ""


@pytest.mark.parametrize(("code", "message", "esr"), [
    (-100, "Command error", 32), (-101, "Invalid character", 32), (-102, "Syntax error", 32),
    (-104, "Data type error", 32), (-108, "Parameter not allowed", 32),
    (-109, "Missing parameter", 32), (-113, "Undefined header", 32),
    (-131, "Invalid suffix", 32), (-138, "Suffix not allowed", 32),
    (-200, "Execution error", 16), (-211, "Trigger ignored", 16), (-213, "Init ignored", 16),
    (-214, "Trigger deadlock", 16), (-221, "Settings conflict", 16),
    (-222, "Data out of range", 16), (-223, "Too much data", 16),
    (-224, "Illegal parameter value", 16), (-230, "Data corrupt or stale", 16),
    (-350, "Queue overflow", 8), (-410, "Query INTERRUPTED", 4),
])
def test_each_code_has_its_standard_message_and_event_bit(rig, code, message, esr) -> None:
    """SCPI-99 21.8 texts, and the IEEE 488.2 11.5.1 ESR bit of each error class."""
    assert rig.execute(f"TEST:ERR {code}") is None
    assert ask(rig, "SYST:ERR?") == f'{code:+d},"{message}"'
    assert ask(rig, "*ESR?") == f"{esr:+d}" and ask(rig, "*ESR?") == "+0"


def test_a_handler_bug_is_an_execution_error_not_a_crash(rig) -> None:
    assert rig.execute("TEST:BUG;*IDN?") is None
    assert ask(rig, "SYST:ERR?") == '-200,"Execution error; ZeroDivisionError: division by zero"'
    assert ask(rig, "*IDN?") == "Acme,R1,0007,2.0"


@pytest.mark.parametrize(("message", "text"), [
    ("VOLT 1;;VOLT?", '-102,"Syntax error; empty command"'),
    ("VOLT 1)", "-102,\"Syntax error; unbalanced ')'\""),
    ("VOLT (1", '-102,"Syntax error; unterminated string or channel list"'),
    ("CURR 3V", "-131,\"Invalid suffix; CURR: '3V' takes A\""),
    ("CURR 2XA", "-131,\"Invalid suffix; CURR: '2XA' takes A\""),
    ("VOLT 2V", "-138,\"Suffix not allowed; VOLT: '2V' takes no unit\""),
    ("CURR 1KA", '-222,"Data out of range; 1000 outside 0..3"'),
    ("FOO:BAR?", '-113,"Undefined header; FOO:BAR?"'),
])
def test_error_messages_say_what_was_wrong(rig, message: str, text: str) -> None:
    assert rig.execute(message) is None
    assert ask(rig, "SYST:ERR?") == text and ask(rig, "SYST:ERR?") == '+0,"No error"'


@pytest.mark.parametrize(("command", "amps"), [
    ("CURR 1.5", 1.5), ("CURR 1.5A", 1.5), ("CURR 1.5 A", 1.5), ("curr 20ma", 0.02),
    ("CURR 20MA", 0.02), ("CURR 500uA", 5e-4), ("CURR 2500000nA", 2.5e-3), ("CURR 1e9pA", 1e-3),
    ("CURR:LEV 3A", 3.0), ("CURR MAX", 3.0), ("CURR DEF", 0.1), ("CURR .5", 0.5),
])
def test_suffix_units_and_multipliers(rig, command: str, amps: float) -> None:
    rig.execute(command)
    assert errors(rig) == [] and rig.amps == pytest.approx(amps, rel=1e-12)


def test_a_limit_admits_a_rounding_hair_and_no_more(rig) -> None:
    """1e-9 of the larger limit's size either side: `20 * 1e-6` passes a 20e-6 limit."""
    slack = 1e-9 * 6  # of the 0..6 V range
    for value, accepted in ((6 + slack, True), (0 - slack, True), (6 + 7e-9, False),
                            (-7e-9, False)):
        rig.execute(f"VOLT {value!r}")
        assert (errors(rig) == []) is accepted, value
    assert rig.volts == 0 - slack


def test_a_numeric_suffix_of_a_header_node_reaches_the_handler(rig) -> None:
    assert rig.execute("CHAN2:LAB?;:CHANNEL17:LABEL?;:CHAN:LAB?") == b"CH2;CH17;CHNone"
    assert rig.execute("SOUR2:VOLT 2.5") is None and rig.volts == 2.5 and errors(rig) == []


def test_the_error_queue_holds_twenty_like_the_instruments_it_models(rig) -> None:
    for _ in range(25):
        rig.execute("NOPE")
    assert errors(rig) == [-113] * 19 + [-350]


def test_status_byte_bits(rig) -> None:
    assert ask(rig, "*STB?") == "+0"
    rig.execute("NOPE")
    assert ask(rig, "*STB?") == "+4"  # EAV: the error queue holds an entry
    assert ask(rig, "*IDN?;*STB?") == "Acme,R1,0007,2.0;+20"  # MAV: a reply waits
    assert ask(rig, "*ESE 32;*ESE?") == "+32" and ask(rig, "*STB?") == "+36"  # ESB: CME, masked
    assert ask(rig, "*SRE 32;*SRE?") == "+32" and ask(rig, "*STB?") == "+100"  # MSS: ESB, masked
    assert ask(rig, "*SRE 16;*STB?") == "+36" and ask(rig, "*IDN?;*STB?").endswith(";+116")
    assert ask(rig, "*CLS;*STB?") == "+0" and ask(rig, "*ESR?") == "+0"  # *CLS clears ESR
    assert ask(rig, "*ESE?;*SRE?") == "+32;+16"  # *CLS leaves the masks alone


@pytest.mark.parametrize(("message", "code"), [
    ("*ESE 256", -222), ("*SRE -1", -222), ("*ESE 1,2", -108), ("*SRE 1,2", -108),
    ("*RST 1", -108), ("*CLS 1", -108), ("*ESR? 1", -108), ("*STB? 1", -108), ("*OPC 1", -108),
    ("*OPC? 1", -108), ("*WAI 1", -108), ("*TST? 1", -108), ("*ESE? 1", -108),
    ("*SRE? 1", -108), ("SYST:VERS? 1", -108), ("STAT:OPER? 1", -108), ("STAT:QUES? 1", -108),
    ("STAT:OPER:COND? 1", -108), ("STAT:QUES:COND? 1", -108), ("STAT:OPER:ENAB? 1", -108),
    ("STAT:QUES:ENAB 1,2", -108), ("STAT:QUES:ENAB 32768", -222), ("STAT:PRES 1", -108),
    ("FORM:BORD SIDEWAYS", -224),
])
def test_common_and_status_commands_refuse_extra_or_bad_parameters(rig, message, code) -> None:
    assert rig.execute(message) is None and errors(rig) == [code]


def test_common_queries_answer(rig) -> None:
    assert ask(rig, "*TST?;:SYST:VERS?") == "+0;1999.0"
    assert ask(rig, "FORM:BORD?") == "NORM"
    assert ask(rig, "FORM:BORD SWAP;BORD?;:FORM:BORD NORMAL;BORD?") == "SWAP;NORM"
    assert ask(rig, "FORM:BORD swap;*RST;:FORM:BORD?") == "NORM"
    assert errors(rig) == []


@pytest.mark.parametrize("first", ["*STB?", "*CLS", "STAT:OPER:ENAB?", "STAT:QUES:ENAB 4",
                                   "STAT:PRES", "STAT:OPER?", "STAT:QUES:COND?"])
def test_status_commands_work_as_the_first_message_of_a_fresh_device(first: str) -> None:
    device = Rig()
    device.execute(first)
    assert errors(device) == []


@pytest.mark.parametrize(("register", "bit", "stb"), [("OPER", 16, 128), ("QUES", 4, 8)])
def test_status_events_latch_on_a_rising_edge_and_read_clear(rig, register, bit, stb) -> None:
    attribute = {"OPER": "oper", "QUES": "ques"}[register]
    assert ask(rig, f"STAT:{register}:ENAB {bit};ENAB?") == f"+{bit}"
    setattr(rig, attribute, bit)  # the condition rises; no message since
    assert ask(rig, "*STB?") == f"+{stb}"  # summary bit: the event latched as STB was read
    assert ask(rig, f"STAT:{register}:COND?;:STAT:{register}?") == f"+{bit};+{bit}"
    assert ask(rig, f"STAT:{register}?") == "+0"  # read and cleared; still high, no new edge
    setattr(rig, attribute, 0)
    rig.execute("*IDN?")
    setattr(rig, attribute, bit)
    rig.execute("*IDN?")  # a rise after a fall is a new event, latched after the message
    setattr(rig, attribute, 0)  # gone again before anyone asked
    assert ask(rig, f"STAT:{register}:EVEN?;COND?") == f"+{bit};+0"
    setattr(rig, attribute, bit)
    assert ask(rig, f"STAT:{register}?") == f"+{bit}"  # read in the message that raised it
    setattr(rig, attribute, 0)
    rig.execute("*IDN?")
    setattr(rig, attribute, bit)
    rig.execute("*IDN?")
    assert ask(rig, f"*CLS;*STB?;:STAT:{register}?") == "+0;+0"  # *CLS clears the events
    assert ask(rig, f"STAT:PRES;:STAT:{register}:ENAB?") == "+0"  # PRESet: enables to 0
    assert errors(rig) == []


def test_opc_sets_its_bit_when_every_operation_is_done(rig) -> None:
    assert ask(rig, "*OPC;*ESR?") == "+1"  # nothing pending: complete at once
    rig.execute("INIT;*OPC")
    assert ask(rig, "*ESR?") == "+0"  # still measuring
    rig.gate.set()
    rig.wait_pending()
    assert ask(rig, "*ESR?") == "+1" and ask(rig, "*ESR?") == "+0"  # once, not again


def test_opc_through_the_status_byte(rig) -> None:
    rig.execute("*ESE 1;:INIT;*OPC")
    assert ask(rig, "*STB?") == "+0"
    rig.gate.set()
    rig.wait_pending()
    assert ask(rig, "*STB?") == "+32"  # ESB: OPC under the ESE mask


def test_cls_clears_every_event_bit(rig) -> None:
    assert ask(rig, "*OPC;*CLS;*ESR?") == "+0"
    for message in ("NOPE", "TEST:ERR -222", "TEST:ERR -350", "TEST:ERR -410", "*OPC"):
        rig.execute(message)  # CME, EXE, DDE, QYE and OPC
    assert ask(rig, "*CLS;*ESR?") == "+0"


def test_cls_cancels_a_waiting_opc(rig) -> None:
    rig.execute("INIT;*OPC;*CLS")
    rig.gate.set()
    rig.wait_pending()
    assert ask(rig, "*ESR?") == "+0"


@pytest.mark.parametrize(("message", "reply"), [("*OPC?", b"1"),
                                               ("*WAI;*IDN?", b"Acme,R1,0007,2.0")])
def test_opc_query_and_wai_wait_for_the_operation(rig, message: str, reply: bytes) -> None:
    rig.execute("INIT")
    answers: list[bytes | None] = []
    asker = threading.Thread(target=lambda: answers.append(rig.execute(message)))
    asker.start()
    asker.join(0.2)  # a grace period only: it cannot answer before the gate opens
    assert asker.is_alive() and answers == [], "answered before the operation completed"
    rig.gate.set()
    asker.join()
    assert answers == [reply] and errors(rig) == []


def test_a_pending_query_releases_the_device_to_other_sessions(rig) -> None:
    answers: list[bytes | None] = []
    asker = threading.Thread(target=lambda: answers.append(rig.execute("FETC?")))
    asker.start()
    rig.waiting.wait()
    assert rig.lock.acquire(blocking=False), "the device stays locked while FETC? waits"
    rig.lock.release()
    assert rig.execute("*IDN?") == b"Acme,R1,0007,2.0"  # another session meanwhile
    rig.gate.set()
    asker.join()
    assert answers == [b"+1"]


# --- the driver's side: what it makes of instrument replies (drivers/scpi.py) -------------------
class Probe(Instrument):
    """Controls of every kind and range shape a driver declares."""

    level = control("LEV?", "LEV {value:g}", "V", values=(0, 6), limit="max_level")
    mode = control("MODE?", "MODE {value}", values=("FIX", "LIST"), kind=str)
    enabled = control("OUTP?", "OUTP {value:d}", kind=bool)
    count = control("COUN?", "COUN {value:d}", values="count_range", kind=int)
    trigger = control(None, "TRIG:DEL {value:g}", "s")
    reading = measurement("READ?", "A")
    count_range = (1, 50)


def probe(exchanges: list[tuple[str, str | bytes | None]], resource: str = RESOURCE,
          limits: dict[str, float] | None = None) -> Probe:
    replay = Replay(exchanges)
    replay.resource_name = resource
    return Probe(replay, {"max_level": 4.4} if limits is None else limits, section="[psu] ")


@pytest.mark.parametrize(("replies", "errors_read"), [
    (['+0,"No error"'], []),
    (["0  No Error"], []),  # Siglent
    (["+0"], []),
    (["-0,x"], []),
    (['-113,"Undefined header"', "+0"], [(-113, "Undefined header")]),
    (["-221 Settings conflict", '  -222,"Data out of range; 9"', "0,"],
     [(-221, "Settings conflict"), (-222, "Data out of range; 9")]),
    (['+1,"Device-specific"', "+0"], [(1, "Device-specific")]),
    (['-350,"Queue overflow"'] * 40, [(-350, "Queue overflow")] * 32),  # never emptying: bounded
])
def test_the_error_queue_is_read_until_its_zero_entry(replies, errors_read) -> None:
    device = probe([(ERROR_QUERY, reply) for reply in replies[:32]])
    if errors_read:
        with pytest.raises(CommandError) as caught:
            device.check_errors("LEV 1")
        assert caught.value.errors == errors_read and caught.value.command == "LEV 1"
        first = f"{errors_read[0][0]} {errors_read[0][1]}"
        device_error = -400 < errors_read[0][0] <= -300  # the instrument's own fault
        lead = "device error in the queue after " if device_error else ""
        assert str(caught.value).startswith(f"{RESOURCE}: {lead}'LEV 1' -> {first}")
        assert isinstance(caught.value, DeviceError) is device_error
    else:
        device.check_errors("LEV 1")
    device.close()


@pytest.mark.parametrize("reply", ["", "ERROR", "+1.0E-05,+2.0E-05", "12x", "-113;x", '"0"',
                                   "1.5", "+0.0"])
def test_an_error_queue_reply_that_is_no_entry_is_never_taken_for_no_error(reply: str) -> None:
    device = probe([(ERROR_QUERY, reply)])
    with pytest.raises(InstrumentError, match=rf"{RESOURCE}: after 'LEV 1', SYST:ERR\? answered "
                       f"{re.escape(repr(reply))}") as caught:
        device.check_errors("LEV 1")
    assert not isinstance(caught.value, CommandError)
    device.close()


def test_a_reply_already_read_is_the_first_entry() -> None:
    device = probe([(ERROR_QUERY, "+0")])
    with pytest.raises(CommandError) as caught:
        device.check_errors("LEV 1", first='-222,"Data out of range"')
    assert caught.value.errors == [(-222, "Data out of range")]
    device.check_errors("LEV 1", first="+0")  # nothing more is asked
    device.close()


@pytest.mark.parametrize(("text", "fields"), [
    ("Keysight Technologies,E36312A,MY5900123,2.1.0", ("Keysight Technologies", "E36312A",
                                                       "MY5900123", "2.1.0")),
    (" Siglent , SPD3303X , SPD3X1 , 1.01 , V2.0 \n", ("Siglent", "SPD3303X", "SPD3X1",
                                                       "1.01,V2.0")),
    ("a,b,c,", ("a", "b", "c", "")),
])
def test_identity_takes_four_fields_and_joins_the_rest_into_firmware(text, fields) -> None:
    identity = Identity.parse(text, "psu")
    assert (identity.vendor, identity.model, identity.serial, identity.firmware) == fields
    assert str(identity) == f"{fields[0]} {fields[1]} s/n {fields[2]} fw {fields[3]}"


@pytest.mark.parametrize("text", ["", "RIGOL,DP832", "a,b,c"])
def test_identity_of_fewer_fields_is_refused_naming_the_resource(text: str) -> None:
    with pytest.raises(InstrumentError, match=rf"^psu: \*IDN\? answered {re.escape(repr(text))}"):
        Identity.parse(text, "psu")


@pytest.mark.parametrize(("reply", "value"), [
    ("1", True), (" ON ", True), ("on", True), ("YES", True), ("0", False), ("OFF", False),
    ("NO", False), ("2", False),
])
def test_boolean_replies(reply: str, value: bool) -> None:
    device = probe([("OUTP?", reply)])
    assert device.enabled is value
    device.close()


def test_integer_string_and_number_replies() -> None:
    device = probe([("COUN?", "+5.00000000E+00"), ("MODE?", '"LIST"'), ("READ?", "-1.5E-03"),
                    ("LEV?", "+3.70000000E+00")])
    assert device.count == 5 and isinstance(device.count_range, tuple)
    assert device.mode == "LIST" and device.reading == -1.5e-3 and device.level == 3.7
    device.close()


@pytest.mark.parametrize(("name", "value", "sent"), [
    ("level", 0, "LEV 0"), ("level", 4.4, "LEV 4.4"), ("mode", "FIX", "MODE FIX"),
    ("count", 1, "COUN 1"), ("count", 50, "COUN 50"), ("enabled", True, "OUTP 1"),
    ("trigger", 0.25, "TRIG:DEL 0.25"),
])
def test_settings_within_range_and_limit_are_sent_and_checked(name, value, sent) -> None:
    device = probe([(sent, None), (ERROR_QUERY, "+0")])
    setattr(device, name, value)
    device.close()  # the replay asserts both lines were sent


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("level", -0.001, r"-0.001 V is outside the instrument's range 0..6 V"),
    ("level", 6.5, r"6.5 V is outside the instrument's range 0..6 V"),
    ("level", 4.41, r"4.41 V exceeds the station limit \[psu\] max_level = 4.4 V"),
    ("mode", "STEP", r"'STEP' is not one of FIX, LIST"),
    ("count", 0, r"0  is outside the instrument's range 1..50"),
    ("count", 51, r"51  is outside the instrument's range 1..50"),
])
def test_settings_out_of_range_or_limit_are_refused_unsent(name, value, reason) -> None:
    device = probe([])
    with pytest.raises(LimitError, match=rf"^{RESOURCE}: '.*' refused: {reason}"):
        setattr(device, name, value)
    device.close()


def test_without_a_station_limit_only_the_range_applies() -> None:
    device = probe([("LEV 6", None), (ERROR_QUERY, "+0")], limits={})
    device.level = 6
    device.close()


def test_a_control_without_a_query_or_a_setting_says_which() -> None:
    device = probe([])
    with pytest.raises(AttributeError, match="trigger cannot be read back"):
        device.trigger  # noqa: B018 - the read is the test
    with pytest.raises(AttributeError, match="reading is a reading, not a setting"):
        device.reading = 1.0
    assert isinstance(Probe.level, control) and Probe.level.name == "level"
    device.close()


def test_a_raw_socket_sends_a_setting_and_its_error_query_in_one_write() -> None:
    device = probe([("LEV 1", None), (ERROR_QUERY, "+0")], resource="TCPIP0::h::5025::SOCKET")
    writes: list[str] = []
    original = device.resource.write
    device.resource.write = lambda text: (writes.append(text), original(text))[1]
    device.level = 1
    assert writes == [f"LEV 1\n{ERROR_QUERY}"]
    device = probe([("LEV 1", None), (ERROR_QUERY, "+0")], resource="TCPIP0::h::inst0::INSTR")
    writes.clear()
    original = device.resource.write
    device.resource.write = lambda text: (writes.append(text), original(text))[1]
    device.level = 1
    assert writes == ["LEV 1", ERROR_QUERY]


def test_the_guard_sees_every_message_before_it_leaves() -> None:
    seen: list[str] = []

    def guard(command: str) -> None:
        seen.append(command)
        if command.startswith("LEV 3"):
            raise LimitError(f"{command} refused by the guard")

    device = probe([("LEV 1", None), (ERROR_QUERY, "+0"), ("READ?", "1"), (ERROR_QUERY, "+0"),
                    ("*CLS", None)])
    device.guard = guard
    device.level = 1
    assert device.reading == 1.0
    device.clear()
    with pytest.raises(LimitError, match="refused by the guard"):
        device.level = 3
    with pytest.raises(LimitError):
        device.query_list("LEV 3?")
    with pytest.raises(LimitError):
        device.query_block("LEV 3?")
    with pytest.raises(LimitError):
        device.send("LEV 3")
    assert seen == ["LEV 1", "READ?", ERROR_QUERY, "*CLS", "LEV 3", "LEV 3?", "LEV 3?", "LEV 3"]
    device.close()


class Failing(Replay):
    """A resource whose first write fails the way pyvisa or the socket would; after a timeout
    its error queue is empty."""

    def __init__(self, error: Exception) -> None:
        super().__init__([(ERROR_QUERY, "+0")])
        self.error: Exception | None = error

    def write(self, text: str) -> None:
        error, self.error = self.error, None
        if error is not None:
            raise error
        super().write(text)


@pytest.mark.parametrize(("error", "kind", "text"), [  # a timeout: tests/test_instrument_faults.py
    (VisaIOError(StatusCode.error_connection_lost), InstrumentLostError,
     "connection lost during 'READ?'"),
    (VisaIOError(StatusCode.error_io), InstrumentError, "'READ?' failed: "),
    (ConnectionResetError(104, "Connection reset by peer"), InstrumentLostError,
     "connection lost during 'READ?': [Errno 104] Connection reset by peer"),
])
def test_transport_failures_become_named_instrument_errors(error, kind, text) -> None:
    device = Probe(Failing(error))
    with pytest.raises(kind) as caught:
        device.reading  # noqa: B018 - the read is the test
    assert type(caught.value) is kind and str(caught.value).startswith(f"{RESOURCE}: {text}")


def test_a_timeout_whose_resync_finds_the_connection_gone_is_a_lost_instrument() -> None:
    resource = Failing(VisaIOError(StatusCode.error_timeout))
    resource.script = [(SYNC, None)]
    resource.read = lambda: (_ for _ in ()).throw(ConnectionResetError(104, "reset"))
    with pytest.raises(InstrumentLostError, match=r"connection lost during 'SYST:ERR\?;\*IDN\?'"):
        Probe(resource).reading  # noqa: B018 - the read is the test


def test_reset_channels_and_default_timeout() -> None:
    device = probe([("*RST", None), (ERROR_QUERY, "+0")])
    device.reset()
    device.close()
    assert repr(Channel(device, 2)) == f"<Channel 2 of {RESOURCE}>"
    manager = Manager(Replay([]))
    assert open_resource(RESOURCE, manager) is manager.resource
    assert manager.calls[0][1]["timeout"] == 5000


def test_extra_time_lengthens_the_timeout_and_gives_it_back() -> None:
    device = probe([])
    with device.extra_time(1.5):
        assert device.resource.timeout == 3500
    assert device.resource.timeout == 2000
    with pytest.raises(RuntimeError), device.extra_time(2):
        raise RuntimeError
    assert device.resource.timeout == 2000


def test_a_resource_that_cannot_be_opened_is_named() -> None:
    with pytest.raises(InstrumentError, match=r"^NOPE::1: cannot open"):
        open_resource("NOPE::1")


@pytest.mark.parametrize(("command", "code"), [
    ("VOLT\x1f 1", -101), ("VOLT\x7f 1", -101),  # the control characters at either end
    ("VO~LT 1", -102), ("VO}LT 1", -102), ("VO LT 1", -113),  # printable: a syntax matter
])
def test_the_printable_range_ends_exactly_where_ascii_does(meter, command: str, code: int) -> None:
    assert meter.execute(command) is None and errors(meter) == [code]


def test_status_registers_start_clear_and_see_a_condition_high_from_power_on() -> None:
    device = Rig()
    device.oper, device.ques = 1 | 16, 1 | 4  # high before the first message
    assert ask(device, "STAT:OPER:ENAB?;:STAT:QUES:ENAB?;*ESE?;*SRE?") == "+0;+0;+0;+0"
    assert ask(device, "STAT:OPER?;:STAT:QUES?") == "+17;+5"
    assert errors(device) == []


@pytest.mark.parametrize("mask", ["*ESE", "*SRE", "STAT:OPER:ENAB", "STAT:QUES:ENAB"])
def test_mask_settings_at_their_limits(rig, mask: str) -> None:
    common = mask.startswith("*")
    high, then = (255, ";") if common else (32767, ";:")  # a common command needs no colon
    assert ask(rig, f"{mask} {high}{then}{mask}?") == f"+{high}"
    assert ask(rig, f"{mask} DEF{then}{mask}?") == "+0"
    assert ask(rig, f"{mask} MAX{then}{mask}?") == f"+{high}"
    assert ask(rig, f"{mask} 0{then}{mask}?") == "+0"
    rig.execute(f"{mask} -1")
    rig.execute(f"{mask} {high + 1}")
    assert errors(rig) == [-222, -222]


def test_no_mask_set_means_no_summary(rig) -> None:
    assert ask(rig, "*OPC;*STB?") == "+0"  # an event bit, but *ESE enables none


def test_status_without_the_scpi_99_registers_or_condition_hooks() -> None:
    class Bare(Ieee4882, ScpiDevice):
        pass

    bare, meter = Bare(), Meter()
    assert ask(bare, "*ESR?") == "+128" and ask(bare, "*STB?") == "+0"
    assert ask(meter, "STAT:OPER:COND?;:STAT:QUES:COND?") == "+0;+0"


def test_the_first_numbered_node_gives_the_suffix(rig) -> None:
    assert rig.execute("CHAN2:LAB3?") == b"CH2"


class Manager:
    """Where pyvisa's ResourceManager stands: hands out a scripted resource, notes the call."""

    def __init__(self, resource: Replay) -> None:
        self.resource, self.calls = resource, []

    def open_resource(self, name: str, **settings: object) -> Replay:
        self.calls.append((name, settings))
        return self.resource


def test_open_wraps_the_resource_and_close_releases_it() -> None:
    replay = Replay([("LEV?", "+1.0")])
    closed: list[bool] = []
    replay.close = lambda: closed.append(True)
    manager = Manager(replay)
    with Probe.open(RESOURCE, limits={"max_level": 2.0}, manager=manager) as device:
        assert isinstance(device, Probe) and device.resource is replay
        assert device.limits == {"max_level": 2.0} and device.level == 1.0
        assert closed == []
    assert closed == [True]
    assert manager.calls == [(RESOURCE, {"timeout": 5000, "read_termination": "\n",
                                         "write_termination": "\n"})]


# --- after a timeout: the session is put back in step before anything else is asked ---------
IDN = "ACME,PROBE,SN42,1.0"
SYNCED = f'+0,"No error";{IDN}'  # the resync's own answer: an error entry, then the identity


class PatientReplay(Replay):
    """A replay that remembers the timeout each read was given (the resync waits longer)."""

    def __init__(self, exchanges: list[tuple[str, str | bytes | None]]) -> None:
        super().__init__(exchanges)
        self.timeouts: list[float] = []

    def read_raw(self) -> bytes:
        self.timeouts.append(self.timeout)
        return super().read_raw()


def test_a_late_reply_is_taken_for_its_own_query_once_the_resync_proves_whose_it_is() -> None:
    resource = PatientReplay([("READ?", None), (SYNC, f"0.25\n{SYNCED}")])
    device = Probe(resource)
    assert device.reading == 0.25
    recovery = device.recovery
    assert (recovery.resyncs, recovery.late_replies, recovery.repeats) == (1, 1, 0)
    assert resource.timeouts == [2000, 6000, 6000]  # the resync waits 3 timeouts, then restores
    assert resource.timeout == 2000
    log = device.traffic.text()
    assert "   >> READ?" in log and "late reply '0.25'" in log and f"   << {SYNCED}" in log


def test_a_query_timing_out_again_and_again_gives_up_after_two_repeats() -> None:
    device = probe([("READ?", None), (SYNC, SYNCED)] * 3)
    with pytest.raises(InstrumentTimeout, match="so again after 2 repeats"):
        device.reading  # noqa: B018 - the read is the test
    assert (device.recovery.resyncs, device.recovery.repeats) == (3, 2)


@pytest.mark.parametrize(("stale", "recovered"), [(16, True), (17, False)])
def test_lines_before_the_resync_answer_are_bounded(stale: int, recovered: bool) -> None:
    junk = "\n".join(["9.99"] * stale)
    device = probe([("READ?", None), (SYNC, f"{junk}\n{SYNCED}"), ("READ?", "0.5")])
    if recovered:  # several lines: none can be told for READ?'s, so it is asked again
        assert device.reading == 0.5 and device.recovery.late_replies == 0
    else:
        with pytest.raises(InstrumentLostError, match="over 16 lines before the resync"):
            device.reading  # noqa: B018 - the read is the test


def test_another_instrument_answering_the_resync_is_refused() -> None:
    device = probe([("*IDN?", IDN), ("READ?", None), (SYNC, '+0,"No error";ACME,OTHER,SN9,1.0')])
    assert device.identity.model == "PROBE"
    with pytest.raises(InstrumentLostError, match="another instrument answers there"):
        device.reading  # noqa: B018 - the read is the test


class IdnOnly(Probe):
    compound_messages = False  # resyncs with *IDN? alone


def test_a_timed_out_identity_query_cannot_be_resynchronised_by_itself() -> None:
    device = IdnOnly(Replay([("*IDN?", None)]))
    with pytest.raises(InstrumentLostError, match=r"cannot resync after '\*IDN\?'"):
        device.identity  # noqa: B018 - the read is the test


def test_lists_blocks_and_an_old_error_queue_go_to_the_traffic_log() -> None:
    device = probe([("LIST?", "1,2.5,3"), (ERROR_QUERY, '-113,"Undefined header"'),
                    (ERROR_QUERY, "+0"), ("*CLS", None)])
    assert device.query_list("LIST?") == (1.0, 2.5, 3.0)
    device.clear()
    log = device.traffic.text()
    assert "   >> LIST?" in log and "   << 1,2.5,3" in log
    assert "error queue held before *CLS: -113 Undefined header" in log


@pytest.mark.parametrize(("code", "device_error"), [
    (-299, False), (-300, True), (-399, True), (-400, False)])
def test_device_errors_are_the_300_block_exactly(code: int, device_error: bool) -> None:
    """-300..-399 is the instrument's own fault (a bench ERROR); the blocks either side are a
    refused command or query."""
    device = probe([(ERROR_QUERY, f'{code},"x"'), (ERROR_QUERY, "+0")])
    with pytest.raises(CommandError) as caught:
        device.check_errors("LEV 1")
    assert isinstance(caught.value, DeviceError) is device_error
    device = probe([(ERROR_QUERY, f'{code},"x"'), (ERROR_QUERY, "+0"), ("*CLS", None)])
    if device_error:
        with pytest.raises(DeviceError, match=f"before \\*CLS -> {code} x"):
            device.clear()
    else:
        device.clear()  # logged, then cleared
        assert f"error queue held before *CLS: {code} x" in device.traffic.text()
