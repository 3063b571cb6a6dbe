"""Station limits cannot be bypassed through the driver, raw writes included; the supply's own
OVP/OCP are set from the profile and read back; capabilities known from the profile alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.station import DEFAULT_PROFILE, load_station
from drivers.psu import PowerSupply, open_supply
from drivers.psu_e36300 import E36300
from drivers.scpi import InstrumentError, LimitError
from emulators.scpi_server import ScpiServer
from emulators.supplies import SUPPLIES
from emulators.ws100_board import BoardModel
from fixtures.capabilities import station_capabilities
from tests.plan_runner import write_profile

LIMITS = {"max_voltage": 4.4, "max_current": 0.5}
# per model: raw messages that would lift a limit, and ones within it that must pass
BYPASSES = {
    "E36312A": ["VOLT:PROT 6.18,(@1)", "VOLT 5,(@1)", "volt:prot:lev 6180mV,(@1)",
                "SOUR:VOLT:PROT 4.5;:VOLT 5", "CURR 600mA,(@1)", "VOLT MAX,(@1)",
                "VOLT:PROT DEF,(@1)", "APPL CH1,5,0.1", "*RCL 1", "OUTP ON;:VOLTAGE 4.41", "*RST"],
    "N6705C": ["VOLT:PROT 6.18,(@1)", "VOLT:PROT 4.3,(@1);:VOLT 3.7,(@1);:SOUR:VOLT 4.5,(@1)",
               "CURR 0.6,(@1)"],
    "DP832": [":SOUR1:VOLT:PROT 6", ":SOUR1:VOLT:PROT:STAT OFF", ":SOUR1:CURR:PROT 1",
              ":APPL CH1,5,0.1", ":OUTP:OVP:VAL CH1,6", ":OUTP:OVP CH1,OFF", ":SOUR2:VOLT 5"],
    "SPD3303X": ["CH1:VOLT 5", "CH2:CURRENT 0.6", "VOLT 4.5", "*RCL 1"],
}
WITHIN = {
    "E36312A": ["VOLT:PROT 4.4,(@1)", "VOLT 3300mV,(@1)", "CURR MIN,(@1)", "VOLT? MAX,(@1)"],
    "N6705C": ["VOLT 3.7,(@1)", "SENS:SWE:POIN 10,(@1)"],
    "DP832": [":SOUR1:VOLT:PROT 4.4", ":SOUR1:VOLT:PROT:STAT ON", ":SOUR1:VOLT 3.3"],
    "SPD3303X": ["CH1:VOLT 3.7", "CH2:CURR 0.2"],
}


@pytest.fixture(params=sorted(SUPPLIES))
def supply(request: pytest.FixtureRequest) -> Iterator[tuple[PowerSupply, ScpiServer]]:
    board = BoardModel(powered=False, seed=3)
    with ScpiServer(SUPPLIES[request.param](board, 1, seed=3)) as server, \
            open_supply(server.resource, limits=LIMITS, timeout_ms=2000) as psu:
        yield psu, server
    board.shutdown()


def test_every_raw_bypass_is_refused_before_anything_is_sent(supply) -> None:
    psu, server = supply
    sent = len(server.device.commands)
    for message in BYPASSES[psu.model]:
        with pytest.raises(LimitError, match=r"refused") as caught:
            psu.write(message)
        text = str(caught.value)
        assert server.resource in text and repr(message) in text
        assert "*R" in message or "[psu] max_" in text  # the limit and its profile key
    with pytest.raises(LimitError):
        psu.query("VOLT 5;VOLT?" if psu.model != "DP832" else ":SOUR1:VOLT 5;:SOUR1:VOLT?")
    assert len(server.device.commands) == sent, "a refused message reached the instrument"


def test_messages_within_the_limits_pass(supply) -> None:
    psu, server = supply
    for message in WITHIN[psu.model]:
        if message.endswith("?") or "?" in message.split(",")[0]:
            psu.query(message)
        else:
            psu.write(message)
    assert server.device.outputs[1].volts <= LIMITS["max_voltage"]


def test_protection_is_set_from_the_profile_and_read_back(supply) -> None:
    psu, server = supply
    protection = psu.protect(1)
    out = server.device.outputs[1]
    if "ovp" not in psu.capabilities:
        assert protection == {}  # SPD3303X: none to set; the driver's guard is the only limit
        return
    assert protection["ovp_v"] == pytest.approx(4.4) and protection["ocp"] is True
    assert out.ovp == pytest.approx(4.4) and out.ocp and out.ovp_on


def test_reset_sets_the_protection_again(supply) -> None:
    psu, server = supply
    if "ovp" not in psu.capabilities:
        return
    psu.protect(1)
    psu.reset()
    assert server.device.outputs[1].ovp == pytest.approx(4.4) and server.device.outputs[1].ocp


def test_a_protection_that_does_not_read_back_is_an_error(supply) -> None:
    psu, _ = supply
    with pytest.raises(InstrumentError, match=r"VOLT:PROT set to 4\.4 .* reads back 6\.0"):
        psu.check_readback("VOLT:PROT", 4.4, 6.0)


def test_guard_follows_the_header_path_of_compound_messages() -> None:
    guard = E36300.limit_guard(LIMITS, "R", "[psu] ")
    with pytest.raises(LimitError, match="LEV, as an instrument that starts each unit at the root"):
        guard("SOUR:VOLT:PROT 4.4;LEV 4.3")  # `;` keeps SOUR:VOLT:PROT in SCPI-99, not everywhere
    with pytest.raises(LimitError, match=r"4\.5 V exceeds"):
        guard("SOUR:VOLT:PROT 4.4;LEV 4.5")
    with pytest.raises(LimitError, match="max_current"):
        guard("OUTP ON;:SOUR:CURR 1")
    guard("VOLT 4.4V;:VOLT? MAX")  # a query of the maximum is not a setting


def test_capabilities_known_from_the_profile_alone(tmp_path: Path) -> None:
    emulated = station_capabilities(load_station(DEFAULT_PROFILE))
    assert emulated is not None and {"current_profiler", "ovp", "ocp"} <= emulated
    desk = tmp_path / "desk.toml"
    desk.write_text('[station]\nid = "d"\n[dut]\nboard = "ws100"\nport = "/dev/null"\n'
                    '[psu]\nresource = "TCPIP0::h::5025::SOCKET"\n')
    assert station_capabilities(load_station(desk)) is None  # only *IDN? can tell
    desk.write_text(desk.read_text() + 'model = "SPD3303X"\n')
    assert station_capabilities(load_station(desk)) == {"supply", "readback"}
    desk.write_text(desk.read_text().replace("SPD3303X", "N6705C"))
    assert "current_profiler" in station_capabilities(load_station(desk))
    profile = write_profile(tmp_path, [], name="spd.toml")
    profile.write_text(profile.read_text().replace("[emulator]\n",
                                                   '[emulator]\npsu_model = "SPD3303X"\n'))
    assert "ovp" not in station_capabilities(load_station(profile))
