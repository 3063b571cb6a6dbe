"""The BLE driver against the emulated radio, through bleak's public API and the Bumble backend."""

import itertools
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from bench.kits import board_kit
from drivers.ble import Advert, BleError, BleLink, BleRadio, BleTimeout, sequence_report
from emulators.radio import RadioFace
from emulators.ws100 import radio_identity
from emulators.ws100_board import ADV_INTERVAL_S, BoardModel
from protocols import gatt
from protocols.ws100_messages import Mode
from tests.plan_runner import ROOT, junit_outcomes

RADIO_SPEC = radio_identity(board_kit("ws100").product_spec().data)

ADDRESS = "C0:FF:EE:00:01:23"
DECODERS = {"formats": gatt.FORMATS, "manufacturer_payload": gatt.MANUFACTURER_PAYLOAD}


@pytest.fixture
def radio(board: BoardModel) -> Iterator[BleRadio]:
    face = RadioFace(board, **RADIO_SPEC).start()
    with BleRadio("bumble", face.resource, name="citebench-ws", connect_retries=1, **DECODERS,
                  connect_timeout_s=0.5, scan_timeout_s=1.0) as ble:
        yield ble
    face.close()


@pytest.fixture
def link(radio: BleRadio) -> Iterator[BleLink]:
    with radio.connect(ADDRESS) as link:
        yield link


def test_scan_by_name_address_and_service(radio: BleRadio) -> None:
    by_name = radio.find()
    assert by_name.address == ADDRESS
    assert radio.scan(address=ADDRESS.lower()).name == "citebench-ws"
    advert = radio.scan(service=gatt.ENVIRONMENTAL_SENSING)
    assert advert.service_uuids == [gatt.ENVIRONMENTAL_SENSING]
    assert advert.payload.fw_major == 1 and advert.payload.flags & gatt.AdvFlags.PROVISIONED


def test_scan_timeout_names_the_filter_and_what_was_seen(radio: BleRadio) -> None:
    with pytest.raises(BleTimeout) as error:
        radio.scan(name="no-such-board", timeout=0.2)
    assert "no-such-board" in str(error.value) and "citebench-ws" in str(error.value)


def test_malformed_manufacturer_data_decodes_to_none() -> None:
    advert = Advert(ADDRESS, "x", {0x0A3C: b"\x01"}, [], None, -50, 0.0,
                    gatt.MANUFACTURER_PAYLOAD)
    assert advert.payload is None and advert.company_id == 0x0A3C


def test_connect_retries_are_counted(radio: BleRadio) -> None:
    with pytest.raises(BleError, match=r"after 2 attempt\(s\)"):
        radio.connect("C0:00:00:00:00:01")
    assert sum("CONNECT C0:00:00:00:00:01 attempt" in line for line in radio.log.lines) == 2


def test_read_write_and_expect(link: BleLink, board: BoardModel) -> None:
    assert link.read(gatt.SERIAL_NUMBER) == board.identity.serial.encode()
    assert link.mtu == 247
    link.subscribe(gatt.CONTROL_RESPONSE)
    mark = link.now()
    link.write(gatt.CONTROL_COMMAND, gatt.CONTROL_REQUEST.build(dict(op=gatt.ControlOp.SET_MODE,
                                                                     value=Mode.SLEEP)))
    reply = gatt.CONTROL_REPLY.parse(link.expect(gatt.CONTROL_RESPONSE, after=mark).data)
    assert (reply.status, reply.mode, board.mode) == (gatt.ControlStatus.OK, Mode.SLEEP,
                                                      Mode.SLEEP)
    link.write(gatt.CONTROL_COMMAND, b"\x01\x09")  # no mode 9
    reply = gatt.CONTROL_REPLY.parse(link.expect(gatt.CONTROL_RESPONSE, after=mark,
                                                 predicate=lambda n: n.data[1] != 0).data)
    assert reply.status == gatt.ControlStatus.BAD_VALUE


def test_expect_waits_for_a_matching_notification(link: BleLink) -> None:
    link.subscribe(gatt.TEMPERATURE_UUID)
    note = link.expect(gatt.TEMPERATURE_UUID, lambda n: 0 < n.value < 50, timeout=1.0)
    assert note.uuid == gatt.TEMPERATURE_UUID
    with pytest.raises(BleTimeout) as error:
        link.expect(gatt.TEMPERATURE_UUID, lambda n: n.value > 100, timeout=0.3)
    assert gatt.TEMPERATURE_UUID in str(error.value) and "last received" in str(error.value)


def test_notifications_follow_the_board_rate(link: BleLink, board: BoardModel) -> None:
    board.set_stream(False, 20)
    link.subscribe(gatt.HUMIDITY_UUID)
    link.expect(gatt.HUMIDITY_UUID)
    notes = link.collect(gatt.HUMIDITY_UUID, 0.5)
    intervals = [b.at - a.at for a, b in itertools.pairwise(notes)]
    assert statistics.median(intervals) == pytest.approx(0.05, abs=0.01)


def test_log_has_every_exchange_with_a_timestamp(link: BleLink, radio: BleRadio) -> None:
    radio.log.begin("t")
    link.read(gatt.BATTERY_LEVEL)
    link.subscribe(gatt.PRESSURE_UUID)
    link.expect(gatt.PRESSURE_UUID)
    text = radio.log.text()
    assert text.startswith("# BLE log t")
    for kind in ("ATT read  " + gatt.BATTERY_LEVEL, "ATT value " + gatt.BATTERY_LEVEL,
                 "ATT subscribe", "NTF " + gatt.PRESSURE_UUID):
        line = next(line for line in text.splitlines() if kind in line)
        float(line.split()[0])  # seconds since the log began


def test_unexpected_disconnect_is_detected_and_clean_one_is_not(link: BleLink,
                                                                board: BoardModel) -> None:
    board.reset()
    assert link.wait_disconnected(2.0) and link.unexpected_disconnect
    with pytest.raises(BleError, match="see the BLE log"):
        link.read(gatt.SERIAL_NUMBER)
    board.set_mode(Mode.RADIO_TEST)  # the reset went back to IDLE, slower than the 0.5 s timeout
    again = link.reconnect()
    again.disconnect()
    assert again.wait_disconnected(1.0) and not again.unexpected_disconnect


def test_advertising_stops_when_off_and_resumes_at_boot(radio: BleRadio,
                                                        board: BoardModel) -> None:
    board.supply(0.0)
    with pytest.raises(BleTimeout):
        radio.find(timeout=0.3)
    board.supply(3.7)
    assert radio.find(timeout=2.0).address == ADDRESS


def test_advertising_interval_follows_the_mode(radio: BleRadio, board: BoardModel) -> None:
    board.set_mode(Mode.ACTIVE)
    radio.find()  # the new interval is in force once the next advertisement is out
    adverts = radio.adverts(0.65, lambda a: a.address == ADDRESS)
    intervals = [b.at - a.at for a, b in itertools.pairwise(adverts)]
    assert statistics.median(intervals) == pytest.approx(ADV_INTERVAL_S[Mode.ACTIVE], abs=0.02)


def test_missing_manufacturer_data_defect() -> None:
    board = BoardModel(defects=["adv-missing-manufacturer-data"])
    face = RadioFace(board, **RADIO_SPEC).start()
    try:
        with BleRadio("bumble", face.resource, name="citebench-ws", **DECODERS) as ble:
            advert = ble.find(timeout=2.0)
        assert advert.manufacturer_data == {} and advert.payload is None
    finally:
        face.close()
        board.shutdown()


def test_backend_choice_is_checked() -> None:
    with pytest.raises(BleError, match="tcp-client"):
        BleRadio("bumble", "")
    with pytest.raises(BleError, match="backend must be one of"):
        BleRadio("bluez")


def test_native_backend_calls_bleak_without_a_backend_argument() -> None:
    """No Bluetooth stack here: bleak's own platform backend fails, and says so through us."""
    with BleRadio("native") as ble, pytest.raises(BleError, match="native backend: cannot scan"):
        ble.scan(name="x", timeout=0.2)


def test_unreachable_bumble_transport_names_the_resource() -> None:
    with pytest.raises(BleError, match=r"tcp-client:127\.0\.0\.1:1"):
        BleRadio("bumble", "tcp-client:127.0.0.1:1")


def test_plan_meets_bench_emulate_across_processes(tmp_path) -> None:
    """`bench emulate` in one process, the BLE plan in another: they meet over loopback TCP."""
    emulate = subprocess.Popen([sys.executable, "-m", "bench", "emulate"], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        resources = {}
        for line in emulate.stdout:
            if line.startswith("  ") and line.split()[0] in ("dut", "radio"):
                role, resource = line.split()
                resources[role] = resource
            if line.startswith("Ctrl-C"):
                break
        profile = tmp_path / "remote.toml"
        profile.write_text(f'[station]\nid = "remote"\n\n[dut]\nboard = "ws100"\n'
                           f'port = "{resources["dut"]}"\n\n'
                           f'[radio]\nresource = "{resources["radio"]}"\nbackend = "bumble"\n'
                           f'name = "citebench-ws"\n')
        junit = tmp_path / "junit.xml"
        subprocess.run([sys.executable, "-m", "pytest", "testplans/ws100/test_ble.py", "--station",
                        str(profile), f"--junitxml={junit}", "-q", "-p", "no:cacheprovider",
                        "--record", str(tmp_path / "record.jsonl")], cwd=ROOT, timeout=100,
                       capture_output=True)
        outcomes = junit_outcomes(junit)
    finally:
        emulate.terminate()
        emulate.wait(timeout=10)
    assert len(outcomes) >= 8
    assert {node: o for node, o in outcomes.items() if o != "passed"} == {}


def test_reset_is_reported_as_a_supervision_timeout(link: BleLink, board: BoardModel) -> None:
    """The driver sees the drop within the negotiated supervision timeout, with its reason."""
    assert link.connection_parameters == {"interval_ms": 30.0, "latency": 0,
                                          "supervision_timeout_ms": 420.0}
    reset_at = time.monotonic()
    board.reset()
    assert link.wait_disconnected(2.0) and link.unexpected_disconnect
    assert link.disconnect_reason == 0x08
    assert link.supervision_timeout_s <= link.disconnected_at - reset_at < (
        link.supervision_timeout_s + 0.5)
    assert any("DISCONNECTED" in line and "reason=0x08" in line for line in link.radio.log.lines)


def test_counted_telemetry_reaches_the_driver(link: BleLink) -> None:
    link.subscribe(gatt.CONTROL_TELEMETRY)
    link.expect(gatt.CONTROL_TELEMETRY)
    notes = link.collect(gatt.CONTROL_TELEMETRY, 0.35)
    report = sequence_report([note.value.seq for note in notes])
    assert report.received >= 2 and (report.lost, report.reordered, report.duplicated) == (0, 0, 0)


@pytest.mark.parametrize(("numbers", "expected"), [
    ([], (0, 0, 0, 0)),
    ([0, 1, 2, 3], (4, 0, 0, 0)),
    ([0, 1, 3, 4], (4, 1, 0, 0)),  # 2 lost
    ([0, 2, 1, 3], (4, 0, 1, 0)),  # 1 late
    ([0, 1, 1, 2], (4, 0, 0, 1)),  # 1 twice
    ([65534, 65535, 0, 2], (4, 1, 0, 0)),  # across the wrap, 1 lost
    ([5, 4, 6], (3, 0, 1, 0)),  # the first to arrive was not the first sent
])
def test_sequence_report(numbers: list[int], expected: tuple[int, int, int, int]) -> None:
    report = sequence_report(numbers)
    assert (report.received, report.lost, report.reordered, report.duplicated) == expected
