"""Instrument faults of the bench: a dropped connection, a late reply, a device error in the queue.

Real pyvisa + pyvisa-py sessions over loopback TCP to the SCPI emulators, with the faults of
emulators/faults.py switched on in the server. Each is either recovered (counted, in the traffic
log) or ends in an ERROR naming it; no value the driver accepts differs from the emulator's own.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvisa

from bench.exitcodes import ExitCode
from bench.record import load_record
from bench.station import DEFAULT_PROFILE, StationError, load_station
from drivers.dmm import Multimeter
from drivers.errors import ResourceLostError
from drivers.psu import PowerSupply, open_supply
from drivers.scpi import (
    DeviceError,
    InstrumentError,
    InstrumentLostError,
    InstrumentTimeout,
    open_resource,
)
from emulators.dmm import DmmEmulator
from emulators.scpi_server import ScpiServer
from emulators.supplies import emulated_supply
from emulators.ws100_board import BoardModel
from tests.plan_runner import bench_run

LIMITS = {"max_voltage": 4.4, "max_current": 0.5}
TIMEOUT_MS = 150
LATE_MS = 250  # past the timeout, within the resync's patience (3 timeouts)


@pytest.fixture
def board() -> Iterator[BoardModel]:
    board = BoardModel(powered=False, seed=3)
    yield board
    board.shutdown()


@contextlib.contextmanager
def supply(board: BoardModel, faults: dict[str, float], *, reconnects: int = 0,
           timeout_ms: int = TIMEOUT_MS, seed: int = 3
           ) -> Iterator[tuple[ScpiServer, PowerSupply]]:
    with ScpiServer(emulated_supply("E36312A", board, 1, seed), faults=faults,
                    seed=seed) as server, \
            open_supply(server.resource, limits=LIMITS, timeout_ms=timeout_ms,
                        reconnects=reconnects, section="[psu] ") as psu:
        yield server, psu


# --- a dropped connection ---------------------------------------------------------------------
def test_a_drop_with_no_reconnect_allowed_stops_the_run_naming_the_key(board):
    with supply(board, {"instrument.drop_after": 3}) as (server, psu):
        out = psu.channel(1)
        out.voltage = 3.0  # messages 2 and 3 (*IDN? was 1)
        with pytest.raises(InstrumentLostError) as lost:
            out.voltage = 3.1
        assert isinstance(lost.value, ResourceLostError)  # the kind that stops the run
        message = str(lost.value)
        assert server.resource in message and "connection lost during 'VOLT 3.1,(@1)'" in message
        assert "[psu] reconnects = 0" in message
        assert server.faults.injected["drops"] == 1 and psu.recovery.reconnects == 0


def test_a_drop_is_recovered_by_a_reconnect_that_rechecks_identity(board):
    with supply(board, {"instrument.drop_after": 3}, reconnects=1) as (server, psu):
        out = psu.channel(1)
        out.voltage = 3.0
        out.voltage = 3.1  # dropped: reconnect, *IDN? again, the value set again
        assert server.device.outputs[1].volts == 3.1 and out.voltage == 3.1
        assert psu.recovery.reconnects == 1 and psu.recovery.repeats == 1
        log = psu.traffic.text()
        assert "reconnect 1/1 after" in log and "'VOLT 3.1,(@1)' sent again (1/2)" in log
        assert log.count(">> *IDN?") == 2  # at open, and on the new session
        assert server.faults.injected["drops"] == 1


def test_a_command_with_an_effect_is_not_sent_again_after_a_drop(board):
    with ScpiServer(DmmEmulator(board, "vbat", seed=3), faults={"instrument.drop_after": 3}) \
            as server, Multimeter.open(server.resource, timeout_ms=TIMEOUT_MS,
                                       reconnects=1) as meter:
        meter.trigger_source = "BUS"  # messages 1 and 2
        with pytest.raises(InstrumentError, match=r"'INIT' is not safe to repeat.*not sent again"):
            meter.initiate()
        assert meter.traffic.text().count(">> INIT") == 1 and meter.recovery.reconnects == 1
        assert meter.identity.model == "34465A"  # the new session works


def test_another_instrument_behind_the_address_is_refused(board):
    with supply(board, {"instrument.drop_after": 2}, reconnects=1) as (_, psu):
        psu.__dict__["identity"] = psu.identity.__class__("Keysight Technologies", "E36312A",
                                                          "OTHER-UNIT", "1.0")
        with pytest.raises(InstrumentLostError, match="another instrument answers there"):
            psu.channel(1).voltage = 3.0


# --- a reply later than the timeout ----------------------------------------------------------
def test_a_naive_session_reads_a_late_reply_as_the_next_answer(board):
    """The fault is real: a plain pyvisa session that goes on after a timeout reads the late
    reply as the answer to its next query (what the driver's resync must make impossible)."""
    with ScpiServer(emulated_supply("E36312A", board, 1, 3),
                    faults={"instrument.late_reply_ms": LATE_MS}, seed=3) as server:
        session = open_resource(server.resource, timeout_ms=TIMEOUT_MS)
        wrong = 0
        for i in range(40):
            volts = round(3.0 + 0.01 * i, 2)
            session.write(f"VOLT {volts},(@1)")
            with contextlib.suppress(pyvisa.errors.VisaIOError):
                wrong += float(session.query("VOLT? (@1)")) != volts
        session.close()
    assert server.faults.injected["late_replies"] > 0 and wrong > 0


def test_late_replies_and_drops_never_give_a_wrong_value(board):
    """Ground truth: every setting, readback and measurement the driver accepted equals what the
    emulated supply really had, with late replies and a drop switched on."""
    faults = {"instrument.late_reply_ms": LATE_MS, "instrument.drop_after": 50}
    accepted = wrong = 0
    with supply(board, faults, reconnects=1) as (server, psu):
        out = psu.channel(1)
        out.voltage, out.output = 3.0, True
        truth = server.device.outputs[1]
        for i in range(50):
            volts = round(3.0 + 0.02 * i, 2)  # 20 mV apart: any misplaced reply shows
            out.voltage = volts
            wrong += truth.volts != volts
            wrong += out.voltage != truth.volts
            wrong += abs(out.measured_voltage - truth.volts) > 1e-3
            accepted += 3
    assert wrong == 0, f"{wrong} of {accepted} accepted values differ from the emulator's"
    injected = server.faults.injected
    assert injected["late_replies"] >= 10 and injected["drops"] == 1, injected
    assert psu.recovery.late_replies + psu.recovery.repeats >= injected["late_replies"] - 2
    assert psu.recovery.reconnects == 1
    assert "taken for" in psu.traffic.text() and "resynchronising" in psu.traffic.text()


def test_a_reply_too_late_even_for_the_resync_stops_the_run_naming_query_and_timeout(board):
    with supply(board, {"instrument.late_reply_ms": 2000}, seed=1) as (server, psu):
        with pytest.raises(InstrumentLostError) as lost:
            for _ in range(30):  # one query reply in ten is held back
                psu.channel(1).voltage  # noqa: B018 - the read is the test
        message = str(lost.value)
        assert "no reply to 'VOLT? (@1)' within 150 ms" in message and server.resource in message
        assert "could not be brought back in step" in message and "reconnects = 0" in message
        with pytest.raises(InstrumentLostError, match="out of step"):
            psu.channel(1).voltage  # noqa: B018 - nothing more is asked on that session


def test_a_reply_too_late_for_the_resync_is_recovered_by_a_reconnect(board):
    with supply(board, {"instrument.late_reply_ms": 1000}, reconnects=10, seed=1) as (server,
                                                                                       psu):
        readings = [psu.channel(1).voltage for _ in range(20)]
        assert readings == [0.0] * 20  # the *RST setpoint, every time
        assert psu.recovery.reconnects >= 1 and psu.recovery.repeats >= 1
        assert psu.recovery.reconnects <= server.faults.injected["late_replies"]


def test_a_read_and_clear_query_is_never_asked_twice(board):
    with supply(board, {"instrument.late_reply_ms": 1000}, reconnects=2, seed=1) as (_, psu):
        with pytest.raises(InstrumentTimeout, match=r"'\*ESR\?' is not safe to repeat"):
            for _ in range(30):
                psu.query("*ESR?")
        assert psu.traffic.text().count("'*ESR?' sent again") == 0


# --- a device error in the queue ---------------------------------------------------------------
def test_a_device_error_is_an_error_naming_instrument_code_text_and_command(board):
    with supply(board, {"instrument.device_error_after": 4}) as (server, psu):
        out = psu.channel(1)
        out.voltage = 3.0  # messages 2, 3
        with pytest.raises(DeviceError) as caught:
            out.current_limit = 0.2  # message 4, then the error, then its SYST:ERR? (5)
        message = str(caught.value)
        assert server.resource in message and "after 'CURR 0.2,(@1)'" in message
        (code, text), = caught.value.errors
        assert -400 < code <= -300 and "instrument.device_error_after" in text
        assert f"{code} {text}" in message
        assert not isinstance(caught.value, ResourceLostError)  # one step's ERROR
        out.current_limit = 0.2  # once: the queue is empty again


def test_a_device_error_before_clear_is_reported_not_drained(board):
    with supply(board, {"instrument.device_error_after": 1}) as (_, psu), \
            pytest.raises(DeviceError, match=r"before \*CLS -> -3\d\d .*device_error_after"):
        psu.clear()


# --- the station profile and whole runs ---------------------------------------------------------
def test_profile_recovery_keys_are_checked(tmp_path: Path):
    path = tmp_path / "station.toml"
    path.write_text(DEFAULT_PROFILE.read_text().replace(
        "max_current = 0.5", "max_current = 0.5\nreconnects = -1"))
    with pytest.raises(StationError, match=r"\[psu\]\.reconnects must be >= 0"):
        load_station(path)
    assert load_station(DEFAULT_PROFILE).psu.reconnects == 0  # no reconnect unless asked


def _station(tmp_path: Path, reconnects: int) -> Path:
    path = tmp_path / "station.toml"
    text = DEFAULT_PROFILE.read_text().replace(
        "calibration_due = 2027-11-30", f"calibration_due = 2027-11-30\nreconnects = "
                                        f"{reconnects}\ntimeout_ms = 400")
    path.write_text(text)
    return path


def _attachments(record: Path) -> str:
    return "".join(p.read_text(errors="replace")
                   for p in (record.parent / "attachments").iterdir())


PLAN = "testplans/ws100/test_power_meter.py"


@pytest.mark.plan_run
@pytest.mark.timeout(180)
def test_a_run_with_drops_and_late_replies_passes_with_the_recovery_in_the_record(tmp_path):
    station = _station(tmp_path, reconnects=2)
    done, record = bench_run(tmp_path, "--station", str(station), "--plan", PLAN,
                        "--fault", "instrument.drop_after=20",
                        "--fault", "instrument.late_reply_ms=600")
    assert done.returncode == ExitCode.PASS, done.stdout[-3000:] + done.stderr[-2000:]
    steps = load_record(record).steps
    names = {a["name"] for step in steps for a in step["attachments"]}
    assert {"psu traffic", "dmm traffic"} <= names  # each step's instrument log, as serial's
    trail = _attachments(record)
    assert "reconnect 1/2 after" in trail and "connection lost during" in trail
    assert "resynchronising" in trail


@pytest.mark.plan_run
@pytest.mark.timeout(180)
def test_a_run_with_a_device_error_ends_in_an_error_naming_it(tmp_path):
    done, record = bench_run(tmp_path, "--plan", PLAN,
                             "--fault", "instrument.device_error_after=12")
    assert done.returncode == ExitCode.ERROR, done.stdout[-3000:]
    steps = load_record(record).steps
    assert [s["outcome"] for s in steps].count("error") >= 1
    assert "fail" not in {s["outcome"] for s in steps}  # a bench fault is no verdict on the board
    messages = " ".join(step["message"] for step in steps)
    assert "DeviceError" in messages and "instrument.device_error_after" in messages


@pytest.mark.plan_run
@pytest.mark.timeout(180)
def test_a_drop_with_no_reconnect_allowed_ends_the_run_as_a_lost_resource(tmp_path):
    done, record = bench_run(tmp_path, "--plan", PLAN, "--fault", "instrument.drop_after=20")
    assert done.returncode == ExitCode.ERROR, done.stdout[-3000:]
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    ending = lines[-1]["ending"]
    assert ending["cause"] == "resource_lost" and "InstrumentLostError" in ending["detail"]
    assert "reconnects = 0" in ending["detail"]

