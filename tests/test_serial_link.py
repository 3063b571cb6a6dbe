"""The serial driver against the emulated board over a real pty and a real TCP socket."""

import os
import tty
from collections.abc import Iterator

import pytest

from drivers.errors import NackError
from drivers.serial_link import (
    ExpectTimeoutError,
    PortLostError,
    ResponseTimeoutError,
    SerialLink,
)
from drivers.ws100 import Ws100Driver
from drivers.ws100_codec import Ws100Codec
from emulators.serial_transport import open_transport
from emulators.ws100_board import BoardModel, Identity
from emulators.ws100_serial import SerialFace
from protocols.ws100_frames import Frame, encode_frame
from protocols.ws100_messages import Mode, MsgType, NackCode, SelfTest


@pytest.fixture(params=["pty", "socket"])
def emulated(request) -> Iterator[tuple[BoardModel, SerialFace]]:
    board = BoardModel(seed=3)
    with SerialFace(board, open_transport(request.param)) as face:
        yield board, face
    board.shutdown()


@pytest.fixture
def driver(emulated) -> Iterator[Ws100Driver]:
    with SerialLink(emulated[1].port, Ws100Codec(), timeout_s=1.0) as link:
        yield Ws100Driver(link)


def test_every_message_is_answered(driver: Ws100Driver, emulated) -> None:
    board, _ = emulated
    assert driver.reset()["firmware"] == "1.4.2"
    info = driver.get_info()
    assert (info.serial, info.ble_address) == ("CB-WS1-000123", "C0:FF:EE:00:01:23")
    assert 0 < driver.ping(b"\x00\xa5\x5a") < 1.0
    driver.set_mode(Mode.SLEEP)
    assert board.mode is Mode.SLEEP
    assert driver.self_test() == SelfTest(0)
    assert 20 < driver.read_sensors().temperature_c < 25
    frames = driver.collect_telemetry(0.3, 50)
    assert len(frames) >= 5
    assert [f.counter for f in frames] == list(range(frames[0].counter,
                                                     frames[0].counter + len(frames)))


def test_provisioning_is_write_once() -> None:
    board = BoardModel(Identity(serial=""), seed=1)
    with SerialFace(board) as face, SerialLink(face.port, Ws100Codec()) as link:
        driver = Ws100Driver(link)
        driver.write_serial("CB-WS1-000777")
        assert driver.get_info().serial == "CB-WS1-000777"
        with pytest.raises(NackError, match="ALREADY_PROVISIONED") as error:
            driver.write_serial("CB-WS1-000778")
        assert error.value.code == NackCode.ALREADY_PROVISIONED
    board.shutdown()


def test_timeout_retries_are_counted_and_the_error_says_what_and_where() -> None:
    board = BoardModel(seed=1, defects=["slow-response"])
    with SerialFace(board) as face, SerialLink(face.port, Ws100Codec(), timeout_s=0.02,
                                               retries=2) as link:
        with pytest.raises(ResponseTimeoutError) as error:
            link.request(Frame(MsgType.GET_INFO, 0, b""))
        assert link.stats.retries == 2
        message = str(error.value)
        assert face.port in message and "GET_INFO" in message and "3 attempt(s)" in message
        assert "a5 5a 01 02" in message  # what was sent, in hex
    board.shutdown()


def test_unplugged_port_is_one_clear_error(driver: Ws100Driver, emulated) -> None:
    driver.ping()
    emulated[1].unplug()
    with pytest.raises(PortLostError, match=f"{emulated[1].port}.*vanished"):
        driver.get_info()
        driver.get_info()  # a socket may take one more exchange to notice


def test_opening_a_missing_port_names_it() -> None:
    with pytest.raises(PortLostError, match="/dev/ttyACM99"):
        SerialLink("/dev/ttyACM99", Ws100Codec()).open()


def test_expect_timeout_shows_the_tail_and_the_log(driver: Ws100Driver, tmp_path) -> None:
    driver.link.traffic.begin(tmp_path / "traffic.log")
    driver.reset()
    driver.link.send_raw(b"")
    with pytest.raises(ExpectTimeoutError, match=r"'never printed'.*traffic log: .*traffic\.log"):
        driver.link.expect("never printed", timeout=0.05)


def test_traffic_log_has_hex_and_decoded_frames(driver: Ws100Driver, tmp_path) -> None:
    driver.link.traffic.begin(tmp_path / "t.log")
    driver.get_info()
    assert driver.link.traffic.text().count("\n") >= 3
    text = (tmp_path / "t.log").read_text()
    assert "TX 9 bytes: a5 5a 01 02" in text
    assert ">> GET_INFO seq=" in text and "<< GET_INFO_RSP seq=" in text
    assert "serial='CB-WS1-000123'" in text


def test_garbage_from_the_board_is_survived_and_counted() -> None:
    """A real pty with a raw peer: line noise, a broken frame, then a good reply."""
    master, slave = os.openpty()
    tty.setraw(slave)
    with SerialLink(os.ttyname(slave), Ws100Codec()) as link:
        seq = link.next_seq()
        broken = bytearray(encode_frame(MsgType.PING | 0x80, seq, b"x"))
        broken[-1] ^= 0xFF
        os.write(master, b"\x00\xffnoise\xa5" + bytes(broken) + encode_frame(0x81, seq, b"ok"))
        reply = link.wait_reply(seq, 1.0)
        assert reply is not None and reply.payload == b"ok"
        assert link.stats.protocol_errors >= 1
        assert "CRC" in str(link.errors[0])
    os.close(master)
    os.close(slave)
