"""Faults of the bench itself: a noisy line never turns into a wrong value or a wrong verdict."""

import random
from pathlib import Path

import pytest
from construct import Container

from bench.exitcodes import ExitCode
from bench.record import load_record
from bench.station import DEFAULT_PROFILE, StationError, load_station, with_faults
from drivers.serial_link import LineNoiseError, SerialLink
from drivers.ws100 import Ws100Driver
from drivers.ws100_codec import Ws100Codec
from emulators.faults import FaultyTransport
from emulators.serial_transport import open_transport
from emulators.ws100_board import BoardModel
from emulators.ws100_serial import SerialFace
from protocols.ws100_messages import SensorReading
from tests.plan_runner import bench_run

EXCHANGES = 10_000


class GroundTruthBoard(BoardModel):
    """The emulated board, keeping every reading it sent: what the bench must have received."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sent: list[SensorReading] = []

    def read_sensors(self) -> SensorReading:
        reading = super().read_sensors()
        self.sent.append(reading)
        return reading


@pytest.mark.timeout(600)
def test_no_wrong_value_accepted_under_a_bit_error_rate_of_1e_4() -> None:
    board = GroundTruthBoard(seed=5)
    line = FaultyTransport(open_transport("pty"), {"serial.bit_error_rate": 1e-4}, seed=5)
    rng = random.Random(5)
    wrong = accepted = noise_errors = 0
    with SerialFace(board, line) as face, SerialLink(face.port, Ws100Codec(),
                                                     timeout_s=0.5) as link:
        driver = Ws100Driver(link)
        for n in range(EXCHANGES):
            try:
                if n % 10 == 0:
                    got = driver.read_sensors()
                    truth = SensorReading.from_wire(Container(board.sent[-1].to_wire()))
                    wrong += got != truth
                elif n % 10 == 1:
                    wrong += driver.get_info().serial != board.identity.serial
                else:
                    driver.ping(rng.randbytes(rng.randint(0, 64)))  # the echo is compared
            except LineNoiseError:
                noise_errors += 1  # a named ERROR is allowed; a wrong value is not
                continue
            accepted += 1
        stats = link.stats
    board.shutdown()
    assert line.injected["bits_flipped"] > 100, line.injected  # the line really was noisy
    assert wrong == 0
    assert accepted + noise_errors == EXCHANGES and noise_errors <= EXCHANGES // 1000
    assert stats.corrupt_replies > 0 and stats.retries >= stats.corrupt_replies


def test_fault_names_and_values_are_checked() -> None:
    profile = load_station(DEFAULT_PROFILE)
    with pytest.raises(StationError, match=r"--fault: unknown fault\(s\) serial\.gremlins"):
        with_faults(profile, ["serial.gremlins=1"], "--fault")
    with pytest.raises(StationError, match=r"serial\.bit_error_rate = 2\.0 is outside 0\.\.1"):
        with_faults(profile, ["serial.bit_error_rate=2"], "--fault")
    with pytest.raises(StationError, match="expected NAME=NUMBER"):
        with_faults(profile, ["serial.bit_error_rate"], "--fault")
    noisy = with_faults(profile, ["serial.drop_rate=1e-3"], "--fault")
    assert noisy.emulator.faults == {"serial.drop_rate": 1e-3}


def test_profile_faults_table_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text(DEFAULT_PROFILE.read_text().replace(
        'serial = "pty"', 'serial = "pty"\nfaults = { "serial.bit_error_rate" = "lots" }'))
    with pytest.raises(StationError, match=r"\[emulator\]\.faults\.serial\.bit_error_rate must be"):
        load_station(path)


def test_a_stall_longer_than_the_timeout_is_retried_and_the_value_is_right() -> None:
    board = BoardModel(seed=9)
    line = FaultyTransport(open_transport("pty"), {"serial.stall_ms": 400}, seed=9)
    rng = random.Random(9)
    with SerialFace(board, line) as face, SerialLink(face.port, Ws100Codec(), timeout_s=0.2,
                                                     retries=2) as link:
        driver = Ws100Driver(link)
        for _ in range(200):
            driver.ping(rng.randbytes(rng.randint(0, 32)))  # a wrong echo raises
        retries = link.stats.retries
        log = link.traffic.text()
    board.shutdown()
    assert line.injected["stalls"] >= 3, line.injected
    assert retries >= 1 and "retry 1/2 after no reply" in log


def test_a_stalling_line_never_fails_a_healthy_board_on_timing(tmp_path: Path) -> None:
    """Replies held back 80 ms look like a slow board (the ping limits are 30 and 60 ms): the
    station declares the stall, so a timing step it spoils is ERROR naming it, never FAIL."""
    done, record = bench_run(tmp_path, "--fault", "serial.stall_ms=80",
                             "--plan", "testplans/ws100/test_link.py")
    steps = load_record(record).steps
    assert done.returncode == ExitCode.ERROR, done.stdout[-3000:]
    assert "fail" not in {step["outcome"] for step in steps}
    assert any("serial.stall_ms" in step["message"] for step in steps if step["outcome"] == "error")


def _traffic_text(record: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in (record.parent / "attachments").iterdir())


@pytest.mark.parametrize("fault", ["serial.bit_error_rate=3e-4", "serial.drop_rate=2e-3",
                                   "serial.garbage_rate=0.05"])
def test_serial_plans_pass_on_a_noisy_line_with_the_retries_recorded(tmp_path: Path,
                                                                      fault: str) -> None:
    plans = [arg for plan in ("test_link.py", "test_identification.py", "test_telemetry.py")
             for arg in ("--plan", f"testplans/ws100/{plan}")]
    done, record = bench_run(tmp_path, "--fault", fault, *plans)
    assert done.returncode == ExitCode.PASS, done.stdout[-3000:] + done.stderr[-2000:]
    traffic = _traffic_text(record)  # the traffic logs are attachments of the record
    assert " !! " in traffic  # the damage the line did, on record
    assert "retry after a damaged reply" in traffic or fault.startswith("serial.garbage")


def test_a_line_too_noisy_to_test_is_an_error_that_names_it(tmp_path: Path) -> None:
    done, record = bench_run(tmp_path, "--fault", "serial.bit_error_rate=3e-3", "--plan",
                        "testplans/ws100/test_link.py")
    assert done.returncode == ExitCode.ERROR, done.stdout[-3000:]
    messages = " ".join(step["message"] for step in load_record(record).steps)
    assert "LineNoiseError" in messages and "damaged replies in a row" in messages
