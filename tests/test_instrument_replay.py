"""Each driver replayed against the exact exchanges a real instrument would have (no server).

A `Replay` resource stands where pyvisa's would: it checks every line the driver writes against
the script and answers with the scripted reply, so these tests pin the command text itself.
"""

from __future__ import annotations

import struct

import pytest
from pyvisa.constants import StatusCode
from pyvisa.errors import VisaIOError
from pyvisa.util import from_ascii_block, from_ieee_block

from drivers.dmm import Multimeter
from drivers.psu_e36300 import E36300
from drivers.psu_n6700 import N6700
from drivers.scpi import CommandError, Identity, InstrumentError, InstrumentTimeout, LimitError
from emulators.scpi import binary_block

OK = '+0,"No error"'
RESOURCE = "TCPIP0::192.0.2.7::5025::SOCKET"
LIMITS = {"max_voltage": 4.4, "max_current": 0.5}


class Replay:
    """A pyvisa message resource that follows a script of (sent, reply) exchanges."""

    resource_name = RESOURCE

    def __init__(self, exchanges: list[tuple[str, str | bytes | None]]) -> None:
        self.script = list(exchanges)
        self.timeout = 2000
        self.pending: bytes | None = None

    def write(self, text: str) -> None:
        """Each line is one program message, answered in turn (as a socket instrument does)."""
        for line in text.split("\n"):
            assert self.script, f"unexpected extra command {line!r}"
            expected, reply = self.script.pop(0)
            assert line == expected, f"sent {line!r}, script expected {expected!r}"
            if reply is not None:
                self.pending = (self.pending or b"") + (
                    reply.encode() if isinstance(reply, str) else reply) + b"\n"

    def read_raw(self) -> bytes:
        """Like pyvisa-py with a termination character: stops after the first newline."""
        if not self.pending:
            raise VisaIOError(StatusCode.error_timeout)
        cut = self.pending.index(b"\n") + 1
        chunk, self.pending = self.pending[:cut], self.pending[cut:]
        return chunk

    def read_bytes(self, count: int) -> bytes:
        assert self.pending is not None and len(self.pending) >= count, "read past the reply"
        chunk, self.pending = self.pending[:count], self.pending[count:]
        return chunk

    def read(self) -> str:
        return self.read_raw().decode().rstrip("\n")

    def query_binary_values(self, command: str, datatype: str, is_big_endian: bool,
                            container: type) -> object:
        """pyvisa's own block parser over the scripted reply (newlines inside included)."""
        self.write(command)
        data, self.pending = self.pending or b"", None
        return from_ieee_block(data, datatype, is_big_endian, container)

    def query_ascii_values(self, command: str, container: type) -> object:
        self.write(command)
        return from_ascii_block(self.read(), container=container)

    def close(self) -> None:
        assert not self.script, f"commands never sent: {self.script}"


def psu(exchanges: list[tuple[str, str | bytes | None]], family: type = E36300) -> E36300:
    return family(Replay(exchanges), LIMITS)


def test_setting_is_followed_by_the_error_queue():
    supply = psu([("VOLT 3.7,(@1)", None), ("SYST:ERR?", OK),
                  ("CURR 0.2,(@2)", None), ("SYST:ERR?", OK),
                  ("OUTP 1,(@1)", None), ("SYST:ERR?", OK)])
    supply.channel(1).voltage = 3.7
    supply.channel(2).current_limit = 0.2
    supply.channel(1).output = True
    supply.close()


def test_readings_parse_to_numbers_and_booleans():
    supply = psu([("MEAS:CURR? (@1)", "+2.40000000E-05"), ("OUTP? (@3)", "0"),
                  ("VOLT? (@1)", "+3.70000000E+00")])
    out = supply.channel(1)
    assert out.current == pytest.approx(24e-6)
    assert supply.channel(3).output is False
    assert out.voltage == 3.7
    supply.close()


def test_station_limit_refuses_before_anything_is_sent():
    supply = psu([])
    with pytest.raises(LimitError, match=rf"{RESOURCE}.*'VOLT 4.5,\(@1\)'.*max_voltage = 4.4 V"):
        supply.channel(1).voltage = 4.5
    with pytest.raises(LimitError, match=r"max_current = 0\.5 A"):
        supply.channel(1).current_limit = 0.6
    with pytest.raises(LimitError, match="max_voltage"):
        supply.channel(2).ovp = 5
    supply.close()


def test_channel_rating_refuses_before_anything_is_sent():
    supply = E36300(Replay([]), {})
    with pytest.raises(LimitError, match=r"range 0..6.18 V"):
        supply.channel(1).voltage = 7
    with pytest.raises(LimitError, match=r"range 0..1.03 A"):
        supply.channel(3).current_limit = 2
    with pytest.raises(ValueError, match="no channel 4"):
        supply.channel(4)
    supply.close()


def test_instrument_error_names_command_and_message_and_drains_the_queue():
    supply = psu([("VOLT 4,(@1)", None),
                  ("SYST:ERR?", '-221,"Settings conflict; over-voltage protection tripped"'),
                  ("SYST:ERR?", '-222,"Data out of range"'), ("SYST:ERR?", OK)])
    with pytest.raises(CommandError) as caught:
        supply.channel(1).voltage = 4
    assert caught.value.errors == [(-221, "Settings conflict; over-voltage protection tripped"),
                                   (-222, "Data out of range")]
    assert RESOURCE in str(caught.value) and "'VOLT 4,(@1)' -> -221" in str(caught.value)
    supply.close()


def test_a_reply_that_is_not_an_error_entry_is_named():
    supply = psu([("OUTP 0,(@1)", None), ("SYST:ERR?", "+1.0E-05,+2.0E-05")])
    with pytest.raises(InstrumentError, match=r"after 'OUTP 0,\(@1\)', SYST:ERR\? answered"):
        supply.channel(1).output = False
    supply.close()


def test_timeout_names_the_resource_and_the_instruments_reason():
    """After a timeout nothing else is asked before the resync's own answer has come back."""
    supply = psu([("MEAS:CURR? (@1)", None),
                  ("SYST:ERR?;*IDN?", '-113,"Undefined header";Keysight Technologies,E36312A,'
                                      'MY5900123,2.1.0'),
                  ("SYST:ERR?", OK)])
    with pytest.raises(InstrumentTimeout,
                       match=rf"{RESOURCE}: no reply to 'MEAS:CURR\? \(@1\)'.*-113 Undefined"):
        supply.channel(1).current  # noqa: B018 - the read is the test
    supply.close()


def test_identity_parses_four_fields_and_rejects_others():
    supply = psu([("*IDN?", "Keysight Technologies,E36312A,MY5900123,2.1.0-1.0.4-1.12")])
    assert supply.identity == Identity("Keysight Technologies", "E36312A", "MY5900123",
                                       "2.1.0-1.0.4-1.12")
    assert supply.identity.serial == "MY5900123"  # cached: asked once
    supply.close()
    with pytest.raises(InstrumentError, match=f"{RESOURCE}: \\*IDN\\? answered 'RIGOL,DP832'"):
        Identity.parse("RIGOL,DP832", RESOURCE)


ARM = [("FORM REAL", None), ("SYST:ERR?", OK), ("FORM:BORD NORM", None), ("SYST:ERR?", OK),
       ("SENS:SWE:POIN 4,(@1)", None), ("SYST:ERR?", OK),
       ("SENS:SWE:TINT 0.0001,(@1)", None), ("SYST:ERR?", OK)]
# 10.0 as float32 is 41 20 00 00, and 2.7189...e-38 packs as 01 0a 0a 0a: newlines inside the
# block must not end the read.
AMPS = [10.0, struct.unpack(">f", b"\x01\x0a\x0a\x0a")[0], 8e-6, 0.0]


def test_capture_reads_a_binary_block_with_newlines_inside():
    supply = psu([*ARM, ("MEAS:ARR:CURR? (@1)", binary_block(AMPS))], N6700)
    capture = supply.channel(1).capture(4, 1e-4)
    assert list(capture.amps) == pytest.approx(AMPS)
    assert capture.times == pytest.approx([0, 1e-4, 2e-4, 3e-4])
    assert supply.resource.timeout == 2000  # the extra time for the window is given back
    supply.close()


def test_started_capture_is_fetched_later():
    supply = psu([*ARM, ("INIT:ACQ (@1)", None), ("SYST:ERR?", OK),
                  ("SENS:SWE:TINT? (@1)", "+1.00000000E-04"), ("SENS:SWE:POIN? (@1)", "4"),
                  ("FETC:ARR:CURR? (@1)", binary_block([10.0, 2e-3, 8e-6, 0.0]))], N6700)
    out = supply.channel(1)
    out.start_capture(4, 1e-4)
    capture = out.fetch_capture()
    assert capture.amps == pytest.approx((10.0, 2e-3, 8e-6, 0.0))
    assert capture.peak == 10.0 and capture.duration_s == pytest.approx(4e-4)
    supply.close()


def test_all_off_sends_without_waiting_for_any_reply():
    supply = psu([("OUTP OFF,(@1,2,3)", None)])
    supply.all_off()
    supply.close()


def test_multimeter_bus_triggered_burst():
    dmm = Multimeter(Replay([
        ("CONF:VOLT:DC 10", None), ("SYST:ERR?", OK),
        ("SAMP:COUN 3", None), ("SYST:ERR?", OK),
        ("TRIG:SOUR BUS", None), ("SYST:ERR?", OK),
        ("INIT", None), ("SYST:ERR?", OK), ("*TRG", None), ("SYST:ERR?", OK),
        ("FETC?", "+3.700010E+00,+3.700020E+00,+3.699990E+00"),
    ]))
    dmm.configure_voltage(10)
    dmm.sample_count = 3
    dmm.trigger_source = "BUS"
    dmm.initiate()
    dmm.trigger()
    assert dmm.fetch() == [3.70001, 3.70002, 3.69999]
    dmm.close()


def test_multimeter_measure_and_read_back():
    dmm = Multimeter(Replay([("MEAS:VOLT:DC?", "+3.70001000E+00"),
                             ("MEAS:CURR:DC?", "+1.20000000E-03"),
                             ("CONF:CURR:DC AUTO", None), ("SYST:ERR?", OK),
                             ("CONF?", '"CURR +1.00000000E-01,+3.00000000E-08"'),
                             ("READ?", "+1.200000E-03")]), {"max_current": 1.0})
    assert dmm.measure_voltage() == 3.70001
    assert dmm.measure_current() == 1.2e-3
    dmm.configure_current()
    assert dmm.function == "CURR +1.00000000E-01,+3.00000000E-08"
    assert dmm.read() == [1.2e-3]
    dmm.close()


def test_multimeter_refuses_a_range_or_word_it_does_not_have():
    dmm = Multimeter(Replay([]), {"max_current": 1.0})
    with pytest.raises(LimitError, match="max_current = 1 A"):
        dmm.configure_current(3)
    with pytest.raises(LimitError, match="not one of IMM, BUS, EXT"):
        dmm.trigger_source = "TIMER"
    with pytest.raises(LimitError, match=r"range 1\.\.50000"):
        dmm.sample_count = 0
    dmm.close()
