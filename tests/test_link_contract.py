"""The serial link's contract, held against a raw peer on a real pty and a real TCP socket.

The peer is no emulator: a thread that reads the other end of the port, decodes each request and
answers with whatever bytes the test scripts (late, twice, of another type, never). So each rule
of the link is tested on the wire, with both of its read paths (a tty the caller reads itself, a
socket:// URL read by the reader thread):
a stale reply whose sequence number comes round again is never the answer; a reply of another type
is ReplyMismatchError and a NACK is NackError (both DutError: FAIL); unsolicited frames never
answer a request; retries are counted; a vanished port is one PortLostError, not a timeout.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import tty
from collections.abc import Callable, Iterator

import pytest

from drivers.errors import DutError, NackError, ReplyMismatchError
from drivers.serial_link import PortLostError, ResponseTimeoutError, SerialLink
from drivers.ws100_codec import Ws100Codec
from protocols.ws100_frames import Frame, FrameDecoder, encode_frame
from protocols.ws100_messages import RESPONSE_BIT, MsgType, NackCode, build_payload

Answer = Callable[[Frame], bytes]


def echo(frame: Frame) -> bytes:
    """The healthy board: the request's type with bit 7, its seq, its payload echoed."""
    return encode_frame(frame.type | RESPONSE_BIT, frame.seq, frame.payload)


class Peer:
    """The board's end of the port: decodes requests and writes what `answer` returns."""

    def __init__(self, kind: str) -> None:
        self.answer: Answer = echo
        self.requests: list[Frame] = []
        self._stop = threading.Event()
        self._fd = -1
        self._sock: socket.socket | None = None
        self._connected = threading.Event()
        if kind == "pty":
            master, slave = os.openpty()
            tty.setraw(slave)
            self.port, self._fd, self._slave = os.ttyname(slave), master, slave
            self._connected.set()
        else:
            self._server = socket.create_server(("127.0.0.1", 0))
            self.port = f"socket://127.0.0.1:{self._server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _read(self) -> bytes:
        if self._sock is None and self._fd < 0:
            self._sock, _ = self._server.accept()
            self._sock.settimeout(0.05)
            self._connected.set()
        try:
            return self._sock.recv(4096) if self._sock else os.read(self._fd, 4096)
        except (TimeoutError, OSError):
            return b""

    def write(self, data: bytes) -> None:
        self._connected.wait(2)
        if self._sock is not None:
            self._sock.sendall(data)
        else:
            os.write(self._fd, data)

    def _serve(self) -> None:
        decoder = FrameDecoder()
        while not self._stop.is_set():
            for event in decoder.feed(self._read()):
                if isinstance(event, Frame):
                    self.requests.append(event)
                    reply = self.answer(event)
                    if reply and not self._stop.is_set():
                        with contextlib.suppress(OSError):  # unplugged meanwhile
                            self.write(reply)

    def unplug(self) -> None:
        """The cable is pulled: the board's end closes under the open port."""
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
        else:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            with contextlib.suppress(OSError):
                os.close(self._slave)

    def close(self) -> None:
        self.unplug()
        if self._fd < 0:
            self._server.close()
        self._thread.join(2)


@pytest.fixture(params=["pty", "socket"])
def peer(request) -> Iterator[Peer]:
    peer = Peer(request.param)
    yield peer
    peer.close()


@pytest.fixture
def link(peer: Peer) -> Iterator[SerialLink]:
    with SerialLink(peer.port, Ws100Codec(), timeout_s=0.5, retries=0) as link:
        link.request(Frame(MsgType.PING, 0, b"sync"))  # connected both ways
        yield link


def test_the_healthy_peer_is_answered_with_its_own_reply(link: SerialLink, peer: Peer) -> None:
    reply = link.request(Frame(MsgType.PING, 0, b"abc"))
    assert (reply.type, reply.payload) == (MsgType.PING | RESPONSE_BIT, b"abc")
    assert reply.seq == peer.requests[-1].seq
    assert link.stats.requests == 2 and link.stats.retries == 0


def test_a_stale_reply_whose_sequence_number_comes_round_is_never_the_answer(
        link: SerialLink, peer: Peer) -> None:
    """A reply arrives after its request timed out; 256 requests later its seq is reused."""
    late: list[Frame] = []
    peer.answer = lambda frame: late.append(frame) or b""
    with pytest.raises(ResponseTimeoutError):
        link.request(Frame(MsgType.PING, 0, b"first"), timeout=0.05)
    peer.answer = echo
    peer.write(encode_frame(MsgType.PING | RESPONSE_BIT, late[0].seq, b"stale"))
    for _ in range(link.codec.seq_space - 1):  # the seq space goes round once
        assert link.request(Frame(MsgType.PING, 0, b"n")).payload == b"n"
    reply = link.request(Frame(MsgType.PING, 0, b"fresh"))
    assert reply.seq == late[0].seq
    assert reply.payload == b"fresh"


def test_a_second_reply_to_a_request_is_not_taken_by_the_next(link: SerialLink,
                                                              peer: Peer) -> None:
    """A board that answers twice: the duplicate must not answer the next request."""
    peer.answer = lambda frame: echo(frame) * 2
    first = link.request(Frame(MsgType.PING, 0, b"one"))
    peer.answer = echo
    second = link.request(Frame(MsgType.PING, 0, b"two"))
    assert (first.payload, second.payload) == (b"one", b"two")
    assert second.seq == (first.seq + 1) % 256


def test_a_reply_of_another_type_is_a_mismatch_naming_both_types(link: SerialLink,
                                                                 peer: Peer) -> None:
    peer.answer = lambda frame: encode_frame(MsgType.GET_INFO | RESPONSE_BIT, frame.seq, b"")
    with pytest.raises(ReplyMismatchError, match=r"reply to PING \(seq \d+\) has type 0x82, "
                                                 r"expected 0x81; sent a5 5a 01 01") as error:
        link.request(Frame(MsgType.PING, 0, b"x"))
    assert isinstance(error.value, DutError)


def test_a_request_echoed_back_without_the_response_bit_is_a_mismatch(link: SerialLink,
                                                                      peer: Peer) -> None:
    peer.answer = lambda frame: encode_frame(frame.type, frame.seq, frame.payload)
    with pytest.raises(ReplyMismatchError, match="has type 0x03, expected 0x83"):
        link.request(Frame(MsgType.READ_SENSORS, 0, b""))


def test_a_nack_is_a_nack_error_with_the_board_code(link: SerialLink, peer: Peer) -> None:
    def nack(frame: Frame) -> bytes:
        payload = build_payload(MsgType.NACK, {"request_type": frame.type,
                                               "code": NackCode.BAD_VALUE})
        return encode_frame(MsgType.NACK, frame.seq, payload)

    peer.answer = nack
    with pytest.raises(NackError,
                       match="board NACKed SET_MODE with BAD_VALUE; sent a5 5a") as error:
        link.request(Frame(MsgType.SET_MODE, 0, b"\x09"))
    assert error.value.code == NackCode.BAD_VALUE
    assert link.stats.retries == 0  # a refusal is an answer: never retried


def test_a_nack_with_an_unknown_code_keeps_the_number(link: SerialLink, peer: Peer) -> None:
    peer.answer = lambda frame: encode_frame(MsgType.NACK, frame.seq, bytes([frame.type, 0x63]))
    with pytest.raises(NackError, match="with 99;") as error:
        link.request(Frame(0x3C, 0, b""))
    assert error.value.code == 0x63


def test_unsolicited_frames_never_satisfy_a_request(link: SerialLink, peer: Peer) -> None:
    """Telemetry carrying the very sequence number awaited, then the real reply."""
    telemetry = bytes(18)

    def telemetry_first(frame: Frame) -> bytes:
        return encode_frame(MsgType.TELEMETRY, frame.seq, telemetry) + echo(frame)

    peer.answer = telemetry_first
    reply = link.request(Frame(MsgType.PING, 0, b"real"))
    assert (reply.type, reply.payload) == (MsgType.PING | RESPONSE_BIT, b"real")
    assert [f.seq for _, f in link.unsolicited] == [reply.seq]


def test_only_unsolicited_frames_is_a_timeout_not_an_answer(link: SerialLink, peer: Peer) -> None:
    peer.answer = lambda frame: encode_frame(MsgType.TELEMETRY, frame.seq, bytes(18))
    with pytest.raises(ResponseTimeoutError, match="no reply to PING"):
        link.request(Frame(MsgType.PING, 0, b""), timeout=0.1)
    assert len(link.unsolicited) == 1


def test_retries_are_counted_and_the_last_attempt_answers(link: SerialLink, peer: Peer) -> None:
    attempts: list[int] = []

    def third_time(frame: Frame) -> bytes:
        attempts.append(frame.seq)
        return echo(frame) if len(attempts) == 3 else b""

    peer.answer = third_time
    reply = link.request(Frame(MsgType.PING, 0, b"r"), timeout=0.05, retries=2)
    assert reply.seq == attempts[2]
    assert len(set(attempts)) == 3  # every attempt carries a new sequence number
    assert (link.stats.requests, link.stats.retries) == (1 + 3, 2)
    log = link.traffic.text()
    assert "retry 1/2" in log and "retry 2/2" in log


def test_a_late_answer_to_an_earlier_attempt_is_not_taken(link: SerialLink, peer: Peer) -> None:
    """Attempt 1 is answered only once attempt 2 is on the wire, with attempt 1's seq: the
    request returns attempt 2's own answer."""
    attempts: list[Frame] = []

    def answer_late(frame: Frame) -> bytes:
        attempts.append(frame)
        if len(attempts) == 1:
            return b""
        return (encode_frame(MsgType.PING | RESPONSE_BIT, attempts[0].seq, b"late")
                + encode_frame(MsgType.PING | RESPONSE_BIT, frame.seq, b"own"))

    peer.answer = answer_late
    reply = link.request(Frame(MsgType.PING, 0, b"p"), timeout=0.1, retries=1)
    assert (reply.seq, reply.payload) == (attempts[1].seq, b"own")


def test_all_attempts_unanswered_is_one_timeout_naming_the_count(link: SerialLink,
                                                                 peer: Peer) -> None:
    peer.answer = lambda frame: b""
    with pytest.raises(ResponseTimeoutError, match=r"within 0.03 s after 3 attempt\(s\)"):
        link.request(Frame(MsgType.GET_INFO, 0, b""), timeout=0.03, retries=2)
    assert link.stats.retries == 2 and len(peer.requests) == 1 + 3


def test_port_loss_during_a_request_is_one_port_lost_error(link: SerialLink, peer: Peer) -> None:
    peer.answer = lambda frame: peer.unplug() or b""
    with pytest.raises(PortLostError, match=f"{peer.port} vanished"):
        link.request(Frame(MsgType.PING, 0, b""), timeout=2.0, retries=3)
    assert link.stats.retries == 0  # a lost port is not retried into a timeout
    with pytest.raises(PortLostError, match="vanished"):
        link.request(Frame(MsgType.PING, 0, b""))


def test_port_loss_while_idle_is_reported_at_the_next_request(link: SerialLink,
                                                               peer: Peer) -> None:
    peer.unplug()
    with pytest.raises(PortLostError, match="vanished"):
        for _ in range(3):  # a socket may need one more write to notice its peer is gone
            link.request(Frame(MsgType.PING, 0, b""), timeout=0.3)


def test_console_text_between_frames_does_not_disturb_a_reply(link: SerialLink,
                                                              peer: Peer) -> None:
    peer.answer = lambda frame: b"log: hello\r\n" + echo(frame) + b"log: bye\r\n"
    assert link.request(Frame(MsgType.PING, 0, b"t")).payload == b"t"
    assert link.expect("log: bye", timeout=1.0)
    assert link.stats.protocol_errors == 0
