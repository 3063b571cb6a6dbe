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
import select
import socket
import termios
import threading
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from drivers.errors import DutError, NackError, ReplyMismatchError
from drivers.serial_link import (
    INTERBYTE_TIMEOUT_S,
    ExpectTimeoutError,
    LineNoiseError,
    PortLostError,
    ResponseTimeoutError,
    SerialLink,
)
from drivers.ws100_codec import Ws100Codec
from protocols.ws100_frames import Frame, FrameDecoder, encode_frame
from protocols.ws100_messages import RESPONSE_BIT, MsgType, NackCode, build_payload

Answer = Callable[[Frame], bytes]
SEQ_VALUES = 256  # the seq field is one byte (docs/protocol.md)


def echo(frame: Frame) -> bytes:
    """The healthy board: the request's type with bit 7, its seq, its payload echoed."""
    return encode_frame(frame.type | RESPONSE_BIT, frame.seq, frame.payload)


class Peer:
    """The board's end of the port: decodes requests and writes what `answer` returns.

    It reads with a short timeout, so `unplug` from any thread closes a descriptor that no
    blocked read still holds (a pty master closed under a blocked read stays open).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.answer: Answer = echo
        self.requests: list[Frame] = []
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._connected = threading.Event()
        if kind == "pty":
            self._fd, self._slave = os.openpty()
            tty.setraw(self._slave)
            self.port = os.ttyname(self._slave)
            self._connected.set()
        else:
            self._server = socket.create_server(("127.0.0.1", 0))
            self._server.settimeout(0.05)
            self.port = f"socket://127.0.0.1:{self._server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _read(self) -> bytes:
        try:
            if self.kind == "pty":
                ready = select.select([self._fd], [], [], 0.05)[0]
                return os.read(self._fd, 4096) if ready else b""
            if self._sock is None:
                self._sock, _ = self._server.accept()
                self._sock.settimeout(0.05)
                self._connected.set()
            return self._sock.recv(4096)
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
        if threading.current_thread() is not self._thread:
            self._thread.join(2)
        if self.kind == "pty":
            for fd in (self._fd, self._slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
        elif self._sock is not None:
            self._sock.close()

    def close(self) -> None:
        self.unplug()
        if self.kind == "socket":
            self._server.close()


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
    for _ in range(SEQ_VALUES - 1):  # the one-byte seq field goes round once
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
    with pytest.raises(NackError, match="board NACKed 0x3c with 99; sent a5 5a 01 3c") as error:
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


def damaged(frame: Frame) -> bytes:
    """The healthy reply with its CRC broken on the line (the decoder knows its seq)."""
    wire = bytearray(echo(frame))
    wire[-1] ^= 0xFF
    return bytes(wire)


def test_a_damaged_reply_is_re_asked_at_once_not_after_the_timeout(link: SerialLink,
                                                                   peer: Peer) -> None:
    """Behaviour, not speed: with no timeout retry allowed (retries=0), a request answered well
    before its 5 s timeout was re-asked when the damaged reply came, not when time ran out."""
    answers = [damaged, echo]
    peer.answer = lambda frame: answers.pop(0)(frame)
    started = time.monotonic()
    reply = link.request(Frame(MsgType.PING, 0, b"again"), timeout=5.0, retries=0)
    assert time.monotonic() - started < 2.5
    assert (reply.payload, reply.seq) == (b"again", peer.requests[-1].seq)
    assert len(peer.requests) == 1 + 2 and peer.requests[1].seq != peer.requests[2].seq
    assert (link.stats.corrupt_replies, link.stats.retries) == (1, 1)
    assert "retry after a damaged reply (1/8)" in link.traffic.text()


def test_damaged_replies_are_re_asked_eight_times_then_line_noise(link: SerialLink,
                                                                  peer: Peer) -> None:
    """docs/serial.md: a damaged reply is re-asked up to 8 times; the ninth is LineNoiseError."""
    served: list[Frame] = []

    def damaged_eight_times(frame: Frame) -> bytes:
        served.append(frame)
        return echo(frame) if len(served) > 8 else damaged(frame)

    peer.answer = damaged_eight_times
    assert link.request(Frame(MsgType.PING, 0, b"9th"), timeout=2.0, retries=0).payload == b"9th"
    assert (link.stats.corrupt_replies, link.stats.retries, len(served)) == (8, 8, 9)
    peer.answer = damaged
    with pytest.raises(LineNoiseError, match=r"9 damaged replies in a row to PING .*CRC"):
        link.request(Frame(MsgType.PING, 0, b"never"), timeout=2.0, retries=0)
    assert len(peer.requests) == 1 + 9 + 9
    assert (link.stats.corrupt_replies, link.stats.retries) == (8 + 9, 8 + 8)


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


def test_a_lying_length_field_is_dropped_after_the_line_goes_quiet(link: SerialLink,
                                                                   peer: Peer) -> None:
    """A header claiming 500 bytes that never come, silence, then the real reply: the link
    gives up the partial frame after the inter-byte timeout and takes the reply."""
    late: list[threading.Timer] = []

    def liar_then_reply(frame: Frame) -> bytes:
        if late:  # one glitch on the line; the re-asked request is answered at once
            return echo(frame)
        liar = encode_frame(MsgType.PING | RESPONSE_BIT, frame.seq)[:5] + (500).to_bytes(2,
                                                                                    "little")
        peer.write(liar)
        late.append(threading.Timer(4 * INTERBYTE_TIMEOUT_S, peer.write, [echo(frame)]))
        late[0].start()
        return b""

    peer.answer = liar_then_reply
    reply = link.request(Frame(MsgType.PING, 0, b"after"), timeout=2.0)
    late[0].join()  # its write lands before the peer closes, not on a closed line
    assert reply.payload == b"after"
    assert any("incomplete frame of 7 bytes timed out" in str(e) for e in link.errors)
    log = link.traffic.text()
    assert "!! " in log and "incomplete frame" in log and "RX " in log


def test_the_port_is_opened_at_the_board_baud_rate(peer: Peer) -> None:
    if peer.kind != "pty":
        pytest.skip("a socket has no baud rate")
    with SerialLink(peer.port, Ws100Codec()) as link:
        link.request(Frame(MsgType.PING, 0, b""))
        speed = termios.tcgetattr(peer._slave)[4]  # the tty's output speed
    assert speed == termios.B115200


def test_by_default_two_retries_are_allowed(peer: Peer) -> None:
    attempts: list[int] = []
    peer.answer = lambda frame: (attempts.append(frame.seq) or
                                 (echo(frame) if len(attempts) == 3 else b""))
    with SerialLink(peer.port, Ws100Codec(), timeout_s=0.05) as link:
        assert link.request(Frame(MsgType.PING, 0, b"3rd")).payload == b"3rd"
        assert link.stats.retries == 2
        peer.answer = lambda frame: b""
        with pytest.raises(ResponseTimeoutError, match=r"after 3 attempt\(s\)"):
            link.request(Frame(MsgType.PING, 0, b"never"))
        assert link.stats.requests == 3 + 3


def test_close_leaves_no_thread_no_descriptor_and_may_be_repeated(peer: Peer) -> None:
    def readers() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name == f"reader {peer.port}"]

    fds_before = set(os.listdir("/proc/self/fd"))
    link = SerialLink(peer.port, Ws100Codec())
    with link:
        link.request(Frame(MsgType.PING, 0, b""))
        assert readers()
        peers = {str(peer._sock.fileno())} if peer._sock else set()  # the board's end
    assert readers() == []
    assert set(os.listdir("/proc/self/fd")) - peers <= fds_before
    link.close()  # a second close is harmless


def test_expect_consumes_what_it_matched(link: SerialLink, peer: Peer) -> None:
    peer.write(b"tick 1\r\n")
    assert link.expect(r"tick (\d)", timeout=2.0).group(1) == "1"
    with pytest.raises(ExpectTimeoutError, match=r"'tick' not seen within 0\.05 s"):
        link.expect("tick", timeout=0.05)
    peer.write(b"tock\r\n")
    link.request(Frame(MsgType.PING, 0, b""))  # the text has arrived by now
    link.clear_console()
    with pytest.raises(ExpectTimeoutError, match="tail of what arrived: ''"):
        link.expect("tock", timeout=0.05)


def test_expect_wakes_when_the_text_arrives_and_honours_its_own_timeout(peer: Peer) -> None:
    """Behaviour, not speed: a 5 s wait that returns well before 5 s was woken by the text."""
    with SerialLink(peer.port, Ws100Codec(), timeout_s=5.0) as link:
        threading.Timer(0.1, peer.write, [b"ready\r\n"]).start()
        started = time.monotonic()
        link.expect("ready")
        assert time.monotonic() - started < 2.5
        started = time.monotonic()
        with pytest.raises(ExpectTimeoutError):
            link.expect("never", timeout=0.05)
        assert time.monotonic() - started < 2.5


def test_expect_during_port_loss_is_a_port_lost_error_at_once(link: SerialLink,
                                                              peer: Peer) -> None:
    threading.Timer(0.1, peer.unplug).start()
    started = time.monotonic()
    with pytest.raises(PortLostError, match="while waiting for console text 'never'"):
        link.expect("never", timeout=5.0)
    assert time.monotonic() - started < 2.5


def test_port_loss_wakes_a_waiting_request_at_once(link: SerialLink, peer: Peer,
                                                   tmp_path) -> None:
    link.traffic.begin(tmp_path / "traffic.log")
    peer.answer = lambda frame: threading.Timer(0.1, peer.unplug).start() or b""
    started = time.monotonic()
    with pytest.raises(PortLostError, match=r"vanished .* traffic log: .*traffic\.log"):
        link.request(Frame(MsgType.PING, 0, b""), timeout=5.0)
    assert time.monotonic() - started < 2.5
    with pytest.raises(PortLostError, match="while sending a5 5a"):
        link.send_raw(encode_frame(MsgType.PING, 1))
    log = (tmp_path / "traffic.log").read_text()
    assert "!! port lost" in log and ">> PING" in log


def test_a_timeout_quotes_the_last_bytes_received(link: SerialLink, peer: Peer) -> None:
    telemetry = encode_frame(MsgType.TELEMETRY, 0, bytes(range(18)))
    peer.answer = lambda frame: telemetry * 3  # more than TAIL_BYTES after the sync ping
    with pytest.raises(ResponseTimeoutError) as error:
        link.request(Frame(MsgType.PING, 0, b""), timeout=0.05)
    tail = str(error.value).split("last bytes received: ")[1]
    assert tail.endswith(telemetry.hex(" "))  # at least the last frame, whole
    assert len(bytes.fromhex(tail)) == 64  # and no more than TAIL_BYTES of what came before


def test_the_codec_describes_frames_for_the_traffic_log() -> None:
    codec = Ws100Codec()
    assert codec.describe(Frame(MsgType.SET_MODE | RESPONSE_BIT, 4, b"\x02")) == \
        "SET_MODE_RSP seq=4 mode=2"
    info = codec.describe(Frame(MsgType.FACTORY_WRITE_SERIAL, 1, b"\x03abc"))
    assert info == "FACTORY_WRITE_SERIAL seq=1 serial='abc'"  # no construct internals (_io)
    assert codec.describe(Frame(MsgType.SET_MODE, 9, b"")).startswith(
        "SET_MODE seq=9 undecodable payload (SET_MODE payload is 0 bytes, expected 1")
    assert codec.describe("retry 1/2") == "retry 1/2"
    assert codec.is_unsolicited(Frame(MsgType.TELEMETRY, 0, b""))
    assert not codec.is_unsolicited(Frame(MsgType.TELEMETRY | RESPONSE_BIT, 0, b""))


def test_closing_the_link_writes_the_whole_traffic_log(link: SerialLink, tmp_path) -> None:
    link.traffic.begin(tmp_path / "traffic.log")
    link.request(Frame(MsgType.PING, 0, b"last"))
    link.close()
    assert "<< PING_RSP" in (tmp_path / "traffic.log").read_text()


# --- a codec without sequence numbers keeps one request in flight ---------------------------------
@dataclass(frozen=True)
class Line:
    text: str


class LineDecoder:
    def __init__(self) -> None:
        self._buf = b""

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[object]:
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        return [Line(line.decode()) for line in lines]

    def drop_partial(self) -> list[object]:
        self._buf = b""
        return []


class LineCodec:
    """An AT-command console in miniature: `CMD` is answered by `OK CMD`, nothing pairs them."""

    sequenced = False
    seq_space = 1

    def decoder(self) -> LineDecoder:
        return LineDecoder()

    def encode(self, frame: Line) -> bytes:
        return frame.text.encode() + b"\n"

    def stamp(self, request: Line, seq: int) -> Line:
        return request

    def key(self, frame: Line) -> int:
        return 0

    def is_unsolicited(self, frame: Line) -> bool:
        return False

    def check_reply(self, request: Line, reply: Line) -> None:
        if reply.text != f"OK {request.text}":
            raise ReplyMismatchError(f"{reply.text!r} answers {request.text!r}")

    def describe(self, item: object) -> str:
        return str(item)


def test_a_codec_without_sequence_numbers_gets_one_request_in_flight() -> None:
    """Two threads request at once over socket:// (read by the reader thread, so nothing else
    serializes them); the board answers each line late. Were two requests in flight, a reply
    would go to the wrong caller: nothing but order pairs them."""
    server = socket.create_server(("127.0.0.1", 0))
    outstanding: list[str] = []
    most = [0]

    def board() -> None:
        conn, _ = server.accept()
        buffer = b""
        while chunk := conn.recv(4096):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                outstanding.append(line.decode())
                most[0] = max(most[0], len(outstanding))
                threading.Timer(0.02, answer, [conn, line.decode()]).start()

    def answer(conn: socket.socket, text: str) -> None:
        outstanding.remove(text)
        with contextlib.suppress(OSError):
            conn.sendall(f"OK {text}\n".encode())

    threading.Thread(target=board, daemon=True).start()
    errors: list[Exception] = []
    port = f"socket://127.0.0.1:{server.getsockname()[1]}"
    with SerialLink(port, LineCodec(), timeout_s=2.0) as link:
        def client(name: str) -> None:
            try:
                for i in range(4):
                    link.request(Line(f"AT+{name}{i}"))
            except Exception as error:  # collected: an assertion in a thread is lost
                errors.append(error)

        clients = [threading.Thread(target=client, args=(n,)) for n in "AB"]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(10)
    server.close()
    assert errors == []
    assert most[0] == 1
