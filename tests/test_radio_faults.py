"""Faults of the radio link (emulators/faults.py `radio.*`): each recovered or a named ERROR.

Through bleak's public API (the Bumble backend) to the emulated peripheral, whose link carries the
faults; then whole plan runs with a fault switched on in the station profile.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.kits import board_kit
from bench.record import load_record
from drivers.ble import BleError, BleLinkLost, BleRadio, sequence_report
from drivers.errors import ResourceLostError
from drivers.tracker import TrackerDriver
from drivers.tracker_nus import NusLink
from emulators.radio import RadioFace
from emulators.tracker_board import TrackerBoard
from emulators.tracker_radio import NusFace
from emulators.ws100 import radio_identity
from emulators.ws100_board import BoardModel
from protocols import gatt
from protocols.tracker_messages import MsgType
from tests.plan_runner import DEFAULT_PROFILE, run_plan

RADIO_SPEC = radio_identity(board_kit("ws100").product_spec().data)
ADDRESS = "C0:FF:EE:00:01:23"
DECODERS = {"formats": gatt.FORMATS, "manufacturer_payload": gatt.MANUFACTURER_PAYLOAD}


@pytest.fixture
def station(board: BoardModel):
    """`station(faults, **radio)`: the WS-100's radio with these faults on its air, and the
    bench's radio (told of them, as the fixture tells it of a profile's faults)."""
    opened: list = []

    def open_station(faults: dict[str, float], known: bool = True,
                     **radio: object) -> tuple[RadioFace, BleRadio]:
        face = RadioFace(board, **RADIO_SPEC)
        face.set_air_faults(faults, seed=3)
        face.start()
        opened.append(face)
        ble = BleRadio("bumble", face.resource, connect_timeout_s=2.0, **DECODERS,
                       bench_faults=faults if known else None, **radio)
        opened.append(ble)
        return face, ble

    yield open_station
    for part in reversed(opened):
        part.close()


def test_a_refused_first_connection_is_retried_and_logged(station) -> None:
    face, ble = station({"radio.refuse_first_connect": 1}, connect_retries=1)
    with ble.connect(ADDRESS) as link:
        assert link.attempts == 2
        assert link.read(gatt.SERIAL_NUMBER)
    assert face.link.injected["connects_refused"] == 1
    log = ble.log.text()
    assert "CONNECTION_FAILED_TO_BE_ESTABLISHED" in log and "retrying" in log
    assert f"CONNECT {ADDRESS} attempt 2/2" in log


def test_a_refused_connection_without_retries_is_an_error_naming_it(station) -> None:
    _face, ble = station({"radio.refuse_first_connect": 1}, connect_retries=0)
    with pytest.raises(BleError, match=r"connection refused or failed.*1 attempt.*"
                                       r"CONNECTION_FAILED_TO_BE_ESTABLISHED.*"
                                       r"radio\.refuse_first_connect = 1"):
        ble.connect(ADDRESS)


def test_a_window_cut_by_a_lost_link_is_collected_again_after_a_reconnect(station) -> None:
    face, ble = station({"radio.link_loss_after": 4}, reconnects=1)
    with ble.connect(ADDRESS) as link:
        link.subscribe(gatt.CONTROL_TELEMETRY)
        notes = link.collect(gatt.CONTROL_TELEMETRY, 1.0)
        assert link.reconnects == 1 and face.link.injected["links_lost"] == 1
        report = sequence_report([note.value.seq for note in notes])
        assert report.received >= 5 and report.lost == 0  # one unbroken window, not the cut one
        assert notes[0].value.seq > 4  # all of it after the cut notification
    log = ble.log.text()
    assert "window cut by the lost link" in log and "RECONNECT" in log
    assert "ATT subscribe " + gatt.CONTROL_TELEMETRY + " (renewed)" in log


def test_a_wait_interrupted_by_a_lost_link_is_resumed_after_a_reconnect(station) -> None:
    _face, ble = station({"radio.link_loss_after": 3}, reconnects=1)
    with ble.connect(ADDRESS) as link:
        link.subscribe(gatt.CONTROL_TELEMETRY)
        note = link.expect(gatt.CONTROL_TELEMETRY, lambda n: n.value.seq >= 6, timeout=3.0)
        assert note.value.seq >= 6 and link.reconnects == 1
        assert link.read(gatt.SERIAL_NUMBER)  # and the link works on


def test_a_lost_link_without_a_reconnect_left_is_a_lost_resource(station) -> None:
    _face, ble = station({"radio.link_loss_after": 3})  # [radio] reconnects = 0
    with ble.connect(ADDRESS) as link:
        link.subscribe(gatt.CONTROL_TELEMETRY)
        with pytest.raises(BleLinkLost, match=r"radio link lost during collecting "
                                              r"notifications.*reason 0x08.*reconnects = 0.*"
                                              r"radio\.link_loss_after = 3") as lost:
            link.collect(gatt.CONTROL_TELEMETRY, 2.0)
    assert isinstance(lost.value, ResourceLostError)  # the run stops, as for a lost port


def test_dropped_notifications_are_counted_and_never_judged(station) -> None:
    faults = {"radio.notify_drop_rate": 0.3}
    face, unaware = station(faults, known=False)  # a desk that does not know its radio's loss
    with unaware.connect(ADDRESS) as link:
        link.subscribe(gatt.CONTROL_TELEMETRY)
        notes = link.collect(gatt.CONTROL_TELEMETRY, 1.0)
        # the gaps are visible in the counts (for the plan to judge: the board's, on a desk)
        assert sequence_report([n.value.seq for n in notes]).lost > 0
        assert face.link.injected["notifications_dropped"] > 0
    _face, aware = station(faults)  # the station knows: no window of its is judged
    with aware.connect(ADDRESS) as link:
        link.subscribe(gatt.CONTROL_TELEMETRY)
        link.subscribe(gatt.TEMPERATURE_UUID)
        with pytest.raises(BleError, match=r"radio\.notify_drop_rate = 0\.3.*counted "
                                           r"notifications missing"):
            link.collect(gatt.CONTROL_TELEMETRY, 1.0)
        with pytest.raises(BleError, match=r"radio\.notify_drop_rate = 0\.3.*not counted"):
            link.collect(gatt.TEMPERATURE_UUID, 0.5)


@pytest.fixture
def tracker_radio() -> Iterator[tuple[NusFace, BleRadio]]:
    board = TrackerBoard(seed=4)
    face = NusFace(board, seed=4)
    face.set_air_faults({"radio.notify_drop_rate": 0.15}, seed=4)
    face.start()
    with BleRadio("bumble", face.resource, connect_timeout_s=2.0,
                  bench_faults={"radio.notify_drop_rate": 0.15}) as ble:
        yield face, ble
    face.close()
    board.shutdown()


def test_nus_replies_broken_by_the_bench_are_asked_again_never_blamed_on_the_board(
        tracker_radio) -> None:
    face, ble = tracker_radio
    with ble.connect(face.address) as link:
        nus = NusLink(link, timeout_s=0.5, retries=4).open()
        driver = TrackerDriver(nus)
        for _ in range(8):  # IDENTIFY spans two notifications: some replies lose one
            try:
                assert driver.identify().unique_id
            except BleError as error:  # too many in a row: the ERROR names the bench's loss
                assert "radio.notify_drop_rate = 0.15" in str(error)
        assert not nus.errors  # what the bench broke is not counted against the board
        with pytest.raises(BleError, match="events over NUS cannot be counted"):
            driver.events(MsgType.MOTION)
    assert face.link.injected["notifications_dropped"] > 0
    assert "reply lost to notifications lost by the bench" in ble.log.text()


# --- whole plan runs with a radio fault on ------------------------------------------------
BLE_PLAN = "testplans/ws100/test_ble.py"


def _profile_with(tmp_path: Path, faults: str, radio: str = "") -> Path:
    text = DEFAULT_PROFILE.read_text().replace('serial = "pty"', f'serial = "pty"\n{faults}')
    base = tmp_path / "base.toml"
    base.write_text(text.replace("connect_retries = 2", f"connect_retries = 2\n{radio}"))
    return base


def _ble_logs(record: Path, step: str) -> str:
    view = load_record(record)
    found = [s for s in view.steps if s["name"].endswith(step)]
    return "".join(view.attachment(a) for s in found for a in s["attachments"]
                   if a["name"] == "BLE log")


def test_plan_passes_with_a_refused_first_connection_and_the_retry_on_record(
        tmp_path: Path) -> None:
    base = _profile_with(tmp_path, 'faults = { "radio.refuse_first_connect" = 1 }')
    step = "test_device_information_equals_serial_identity"
    outcomes = run_plan([f"{BLE_PLAN}::{step}"], [], tmp_path, base=base)
    assert outcomes == {f"{BLE_PLAN}::{step}": "passed"}
    log = _ble_logs(tmp_path / "record.jsonl", step)
    assert "CONNECTION_FAILED_TO_BE_ESTABLISHED" in log and "attempt 2/3" in log


def test_plan_stops_on_a_lost_link_with_an_error_naming_it(tmp_path: Path) -> None:
    base = _profile_with(tmp_path, 'faults = { "radio.link_loss_after" = 3 }')
    steps = ["test_counted_notifications_lose_nothing",
             "test_battery_level_follows_battery_voltage"]
    outcomes = run_plan([f"{BLE_PLAN}::{s}" for s in steps], [], tmp_path, base=base)
    assert outcomes[f"{BLE_PLAN}::{steps[0]}"] == "error"
    assert outcomes[f"{BLE_PLAN}::{steps[1]}"] == "skipped"  # not run: the resource is gone
    view = load_record(tmp_path / "record.jsonl")
    assert view.ending["cause"] == "resource_lost" and "BleLinkLost" in view.ending["detail"]
    assert "radio.link_loss_after = 3" in view.ending["detail"]


def test_plan_passes_across_a_lost_link_where_the_profile_allows_a_reconnect(
        tmp_path: Path) -> None:
    base = _profile_with(tmp_path, 'faults = { "radio.link_loss_after" = 3 }', "reconnects = 1")
    step = "test_counted_notifications_lose_nothing"
    outcomes = run_plan([f"{BLE_PLAN}::{step}"], [], tmp_path, base=base)
    assert outcomes == {f"{BLE_PLAN}::{step}": "passed"}
    log = _ble_logs(tmp_path / "record.jsonl", step)
    assert "RECONNECT" in log and "window cut by the lost link" in log


def test_plan_with_dropped_notifications_errs_naming_the_fault_never_fails(
        tmp_path: Path) -> None:
    base = _profile_with(tmp_path, 'faults = { "radio.notify_drop_rate" = 0.2 }')
    steps = ["test_notification_interval", "test_counted_notifications_lose_nothing"]
    outcomes = run_plan([f"{BLE_PLAN}::{s}" for s in steps], [], tmp_path, base=base)
    assert set(outcomes.values()) == {"error"}, outcomes
    messages = " ".join(s["message"] for s in load_record(tmp_path / "record.jsonl").steps)
    assert messages.count("radio.notify_drop_rate = 0.2") == 2
