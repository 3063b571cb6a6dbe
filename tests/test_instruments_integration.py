"""The drivers over real pyvisa + pyvisa-py sessions to the SCPI emulators on loopback TCP."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from bench.emulation import emulate
from bench.station import DEFAULT_PROFILE, load_station
from drivers.dmm import Multimeter
from drivers.psu import PowerSupply, open_supply
from drivers.scpi import CommandError, InstrumentError, InstrumentTimeout, LimitError
from emulators.dmm import DmmEmulator
from emulators.psu_n6700 import N6705C
from emulators.scpi_server import ScpiServer
from emulators.ws100_board import BoardModel
from protocols.ws100_messages import Mode

LIMITS = {"max_voltage": 4.4, "max_current": 0.5}


@pytest.fixture
def board() -> Iterator[BoardModel]:
    board = BoardModel(powered=False, seed=7)
    yield board
    board.shutdown()


@pytest.fixture
def psu_server(board: BoardModel) -> Iterator[ScpiServer]:
    with ScpiServer(N6705C(board, board_channel=1, seed=7)) as server:
        yield server


@pytest.fixture
def psu(psu_server: ScpiServer) -> Iterator[PowerSupply]:
    with open_supply(psu_server.resource, limits=LIMITS, timeout_ms=2000) as supply:
        yield supply


@pytest.fixture
def dmm(board: BoardModel) -> Iterator[Multimeter]:
    with ScpiServer(DmmEmulator(board, "vbat", seed=7)) as server, \
            Multimeter.open(server.resource, timeout_ms=2000) as meter:
        yield meter


def power_on(psu: PowerSupply, board: BoardModel, volts: float = 3.7) -> None:
    out = psu.channel(1)
    out.voltage = volts
    out.output = True
    assert board.supply_v == volts


def test_supply_output_powers_the_board_and_reads_its_current(psu, board):
    assert psu.identity.model == "N6705C" and psu.family == "N6700"
    power_on(psu, board)
    out = psu.channel(1)
    assert out.output is True and out.voltage == 3.7
    assert out.measured_voltage == pytest.approx(3.7, abs=1e-3)
    assert 10e-3 < out.current < 0.2  # booting: inrush decaying onto a 15 mA plateau
    out.output = False
    assert board.supply_v == 0.0 and not board.powered
    assert abs(out.current) < 5e-6


def test_capture_follows_the_boards_mode(psu, board):
    power_on(psu, board)
    booted = board.boot_count
    out = psu.channel(1)
    out.current_limit = 0.2
    while board.boot_count == booted:  # the supply only powered it; boot ends on a timer
        out.current  # noqa: B018 - poll the instrument, as a plan would
    board.set_mode(Mode.SLEEP)
    capture = out.capture(2_000, 1e-3)  # 2 s: two advertising bursts of 8 mA on 8 uA
    assert capture.median == pytest.approx(8e-6, abs=1e-6)
    assert len(capture.bursts(4e-3)) in (1, 2)  # a 1 ms grid may straddle a 2 ms burst
    assert len(capture.times) == 2_000 and capture.times[-1] == pytest.approx(1.999)


def test_capture_of_100k_points_in_one_binary_block(psu, board):
    power_on(psu, board)
    capture = psu.channel(1).capture(100_000, 10.24e-6)
    assert len(capture.amps) == 100_000
    assert psu.query("FORM?") == "REAL,32"


def test_limits_are_checked_before_sending_and_the_supply_trips_anyway(psu, board, psu_server):
    power_on(psu, board)
    out = psu.channel(1)
    out.ovp = 4.4
    sent = len(psu_server.device.commands)
    with pytest.raises(LimitError, match=psu_server.resource):
        out.voltage = 4.5
    assert len(psu_server.device.commands) == sent and board.supply_v == 3.7
    with pytest.raises(LimitError, match=r"'VOLT 5,\(@1\)' refused.*\[psu\] max_voltage"):
        psu.write("VOLT 5,(@1)")  # a raw write through the driver is checked too
    assert len(psu_server.device.commands) == sent and board.supply_v == 3.7
    psu.resource.write("VOLT 5,(@1)")  # around the driver, the supply's own OVP still holds
    assert psu.query("SYST:ERR?").startswith("-221") and psu.query("SYST:ERR?").startswith("+0")
    assert out.ovp_tripped and not out.output and board.supply_v == 0.0


def test_instrument_errors_carry_its_own_message(psu):
    with pytest.raises(CommandError, match=r"'SYST:BEEP' -> -113 Undefined header"):
        psu.write("SYST:BEEP")  # allowed by the limit guard, not modelled by the emulator
    with pytest.raises(CommandError) as caught:
        psu.write("VOLT 1,(@9)")
    assert caught.value.errors[0][0] == -222


def test_timeout_names_resource_and_reason(dmm):
    dmm.resource.timeout = 200
    with pytest.raises(InstrumentTimeout, match=rf"{dmm.resource_name}: no reply to 'FETC\?' "
                                                r"within 200 ms.*-230 Data corrupt or stale"):
        dmm.fetch()


def test_meter_reads_the_test_point_and_the_supply_lead(psu, dmm, board):
    power_on(psu, board, 3.3)
    assert dmm.measure_voltage() == pytest.approx(3.3, abs=1e-3)
    dmm.configure_voltage(10)
    dmm.sample_count = 4
    dmm.trigger_source = "BUS"
    dmm.initiate()
    dmm.trigger()
    assert dmm.fetch() == pytest.approx([3.3] * 4, abs=1e-3)
    assert dmm.function.startswith("VOLT +1.00000000E+01")
    assert dmm.measure_current() > 1e-3  # booting or idle: milliamps in the supply lead


def test_garbage_on_the_socket_never_hangs_the_instrument(psu_server, psu):
    with socket.create_connection(("127.0.0.1", psu_server.port)) as raw:
        raw.sendall(b"\x00\xff\xfe VOLT ((@@ \n;;;\n:\n" + b"A" * 5000 + b"\n*OPC?\n")
        assert raw.makefile("rb").readline() == b"1\n"
    codes = []
    while (reply := psu.query("SYST:ERR?")) != '+0,"No error"':
        codes.append(int(reply.split(",")[0]))
    assert codes == [-101, -102, -102, -113]
    assert psu.identity.vendor == "Keysight Technologies"


def test_commands_sent_before_the_client_vanished_still_run(psu_server, board):
    """The safety path: OUTP OFF right behind a capture, then the session drops at once."""
    with open_supply(psu_server.resource) as supply:
        power_on(supply, board)
        supply.send("SENS:SWE:POIN 2000,(@1);TINT 1e-4,(@1);:MEAS:ARR:CURR? (@1)")
        supply.all_off()
    assert psu_server.wait_connections(0, timeout=5)
    assert board.supply_v == 0.0 and not psu_server.device.outputs[1].on


def test_cannot_open_names_the_resource():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: refused
        with pytest.raises(InstrumentError, match=f"TCPIP0::127.0.0.1::{port}::SOCKET"):
            open_supply(f"TCPIP0::127.0.0.1::{port}::SOCKET", timeout_ms=500)


def test_emulated_station_serves_both_instruments_beside_an_unpowered_board():
    with emulate(load_station(DEFAULT_PROFILE)) as station:
        assert not station.board.power.powered
        for role, opener in (("psu", open_supply), ("dmm", Multimeter.open)):
            resource = station.resources[role]
            assert resource.startswith("TCPIP0::127.0.0.1::") and resource.endswith("::SOCKET")
            with opener(resource) as instrument:
                assert instrument.identity.vendor == "Keysight Technologies"


def test_a_dropped_instrument_connection_is_a_lost_resource():
    """The supply's TCP session vanishes: one error naming the resource, of the kind that
    stops the run (drivers.errors.ResourceLostError), not a step-by-step failure."""
    from drivers.errors import ResourceLostError
    from drivers.psu import open_supply
    from drivers.scpi import InstrumentLostError

    with emulate(load_station(DEFAULT_PROFILE)) as station:
        resource = station.resources["psu"]
        supply = open_supply(resource, timeout_ms=2000)
        supply.identity  # noqa: B018 - the session is up
        station.instruments["psu"].close()
        with pytest.raises(InstrumentLostError, match=re.escape(resource)) as error:
            for _ in range(3):  # the first write after the peer closed may still be buffered
                supply.channel(1).voltage  # noqa: B018
        assert isinstance(error.value, ResourceLostError)
        supply.close()
