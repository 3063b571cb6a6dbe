"""The port vanishing and coming back (USB re-enumeration): reopened at the same path with the
retry on record, or a named ERROR; never a wrong value, never a FAIL of the board."""

import os
import random
import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.exitcodes import ExitCode
from bench.record import load_record
from drivers.serial_link import PortLostError, SerialLink
from drivers.ws100 import Ws100Driver
from drivers.ws100_codec import Ws100Codec
from emulators.serial_transport import UsbPty, open_transport
from emulators.ws100_board import BoardModel
from emulators.ws100_serial import SerialFace
from protocols.ws100_frames import Frame, FrameDecoder, encode_frame
from protocols.ws100_messages import RESPONSE_BIT, MsgType
from tests.plan_runner import bench_run

REPLUG_AFTER_S = 0.3


@contextmanager
def _board(reconnect_s: float, **usb: bool) -> Iterator[tuple[UsbPty, Ws100Driver]]:
    board = BoardModel(seed=3)
    transport = UsbPty(replug_after_s=REPLUG_AFTER_S, **usb)
    try:
        with SerialFace(board, transport), SerialLink(transport.port, Ws100Codec(), timeout_s=0.5,
                                                      reconnect_s=reconnect_s) as link:
            yield transport, Ws100Driver(link)
    finally:
        board.shutdown()


def _ping_through_the_replug(transport: UsbPty, driver: Ws100Driver) -> int:
    """PING with random payloads until the port has come back and answered 20 more; every echo
    is compared (a wrong one raises). Returns the pings answered."""
    rng = random.Random(11)
    answered = after = 0
    while after < 20 and answered < 200_000:  # a bound against a hang (the pytest timeout too)
        driver.ping(rng.randbytes(rng.randint(0, 64)))
        answered += 1
        after += transport.replugs > 0
    return answered


def test_a_port_that_comes_back_at_the_same_path_is_reopened_and_the_request_resent() -> None:
    with _board(reconnect_s=2.0) as (transport, driver):
        answered = _ping_through_the_replug(transport, driver)
        link = driver.link
        assert transport.replugs == 1 and link.stats.reconnects == 1
        assert answered >= 20
        log = link.traffic.text()
    assert "port vanished" in log and "reopened (reconnect 1)" in log
    assert link.stats.retries >= 1  # the request in flight was sent again, and counted


def test_a_frame_cut_by_the_replug_does_not_swallow_the_reply_on_the_new_port() -> None:
    """The board is mid-way through a long reply when the port vanishes. The bytes of it that
    came are gone with the old port: the link decodes the reopened port afresh, so the re-sent
    request's reply is read whole, with no damage on the line after the reopen.

    A raw board trickles the first reply a byte at a time, well inside the inter-byte timeout,
    so the cut frame is still in the decoder when the port vanishes."""
    transport = UsbPty(replug_after_s=0.15)
    stop_r, stop_w = os.pipe()
    stopped = threading.Event()
    served: list[Frame] = []

    def board() -> None:
        decoder, cut = FrameDecoder(), iter(())
        while not stopped.is_set():
            if transport.wait_readable(0.002, stop_r):
                for event in decoder.feed(transport.read()):
                    if not isinstance(event, Frame):
                        continue
                    served.append(event)
                    if len(served) == 1:  # 409 bytes: about 1 s at one byte per loop
                        cut = iter(encode_frame(event.type | RESPONSE_BIT, event.seq, bytes(400)))
                    else:
                        transport.write(encode_frame(event.type | RESPONSE_BIT, event.seq,
                                                     event.payload))
                        return
            elif transport.replugs == 0 and (byte := next(cut, None)) is not None:
                transport.write(bytes([byte]))

    peer = threading.Thread(target=board, daemon=True)
    peer.start()
    try:
        with SerialLink(transport.port, Ws100Codec(), timeout_s=5.0, retries=0,
                        reconnect_s=2.0) as link:
            reply = link.request(Frame(MsgType.PING, 0, b"whole"))
            log = link.traffic.text()
        assert (reply.payload, reply.seq) == (b"whole", served[-1].seq)
        assert (transport.replugs, link.stats.reconnects, link.stats.retries) == (1, 1, 1)
        before, after = log.split("reopened (reconnect 1)")
        assert "port vanished" in before and " !! " not in after, after
    finally:
        stopped.set()
        os.write(stop_w, b"x")
        peer.join(5)
        transport.close()
        for end in (stop_r, stop_w):
            os.close(end)


def test_a_port_back_under_a_new_name_is_an_error_that_says_so() -> None:
    with _board(reconnect_s=0.5, new_path=True) as (transport, driver):
        with pytest.raises(PortLostError, match=r"did not come back at .*ttyACM0 within 0.5 s.*"
                                                r"by-id"):
            _ping_through_the_replug(transport, driver)
        assert transport.replugs == 1 and transport.node.endswith("ttyACM1")


def test_the_by_id_link_follows_a_device_back_under_a_new_name() -> None:
    with _board(reconnect_s=2.0, new_path=True, by_id=True) as (transport, driver):
        _ping_through_the_replug(transport, driver)
        assert driver.link.stats.reconnects == 1 and transport.node.endswith("ttyACM1")
        assert "/by-id/" in driver.link.port


def test_without_reconnect_the_vanished_port_is_an_error_naming_the_setting() -> None:
    with _board(reconnect_s=0.0) as (transport, driver), pytest.raises(
            PortLostError, match=r"vanished .*\[dut\] reconnect_s = 0"):
        _ping_through_the_replug(transport, driver)


def test_the_emulated_usb_port_really_vanishes_for_a_third_party_client() -> None:
    """What a plain `open()` of the names sees: gone during the gap, back afterwards."""
    transport = UsbPty(replug_after_s=0.0, new_path=True)
    try:
        node, by_id = transport.node, transport.by_id
        stop_r, stop_w = os.pipe()
        fd = os.open(node, os.O_RDWR | os.O_NOCTTY)
        os.write(fd, b"x")
        transport.wait_readable(0.1, stop_r)
        assert transport.read() == b"x"  # the first bytes from the bench arm the replug
        transport.wait_readable(0.01, stop_r)  # the replug is due: it vanishes
        assert select.select([fd], [], [], 1.0)[0]  # the hang-up wakes whoever waits on it
        try:  # the old descriptor is dead, as after a pulled cable: end of file, or EIO
            assert os.read(fd, 1) == b""
        except OSError:
            pass
        assert not os.path.exists(node) and not os.path.exists(by_id)
        while transport.replugs == 0:
            transport.wait_readable(0.1, stop_r)
        assert not os.path.exists(node) and os.path.exists(transport.node)  # ttyACM1 now
        os.close(os.open(by_id, os.O_RDWR | os.O_NOCTTY))
        os.close(fd)
        for end in (stop_r, stop_w):
            os.close(end)
    finally:
        transport.close()


def test_a_tcp_serial_server_cannot_re_enumerate() -> None:
    with pytest.raises(ValueError, match="replug_after_s needs a pty"):
        open_transport("socket", replug_after_s=1.0)




def _traffic(record: Path) -> str:
    """Every serial traffic log the run archived (per step, and the session's set-up)."""
    return "".join(p.read_text(errors="replace") for p in (record.parent / "traffic").iterdir())


@pytest.mark.plan_run
def test_a_replug_between_requests_passes_with_the_reconnect_on_record(tmp_path: Path) -> None:
    done, record = bench_run(tmp_path, "--fault", "serial.replug_after_s=0.1",
                        "--plan", "testplans/ws100/test_link.py",
                        "--plan", "testplans/ws100/test_identification.py")
    assert done.returncode == ExitCode.PASS, done.stdout[-3000:] + done.stderr[-2000:]
    assert "reopened (reconnect 1)" in _traffic(record)


@pytest.mark.plan_run
def test_a_replug_inside_a_telemetry_window_is_an_error_not_a_fail(tmp_path: Path) -> None:
    """Frames lost in the gap were lost by the bench: the steps judging the stream end in ERROR
    naming the re-enumeration, never FAIL."""
    done, record = bench_run(tmp_path, "--fault", "serial.replug_after_s=0.8",
                        "--plan", "testplans/ws100/test_telemetry.py")
    view = load_record(record)
    outcomes = {step["name"].rsplit("::", 1)[1]: step["outcome"] for step in view.steps}
    assert done.returncode == ExitCode.ERROR, done.stdout[-3000:]
    assert outcomes["test_telemetry_has_no_gaps"] == "error", outcomes
    assert "fail" not in outcomes.values(), outcomes
    message = next(s["message"] for s in view.steps if s["outcome"] == "error")
    assert "USB re-enumeration" in message and "bench fault" in message
