"""The tracker's framing: golden byte vectors, rejections with offsets, and a check from outside
(a decoder written here with the standard library alone reads what the emulator sends)."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import threading
import time
import tty
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.errors import NackError, ReplyMismatchError
from drivers.serial_link import SerialLink
from drivers.tracker_codec import TrackerCodec
from emulators.interfaces import BoardSettings
from emulators.serial_transport import open_transport
from emulators.tracker import TrackerEmulator
from protocols.errors import PayloadError
from protocols.tracker_frames import (
    CobsError,
    CrcError,
    Frame,
    FrameDecoder,
    LengthError,
    cobs_decode,
    cobs_encode,
    decode_frame,
    encode_frame,
)
from protocols.tracker_messages import (
    PAYLOADS,
    MsgType,
    Status,
    build_payload,
    parse_payload,
)

# COBS examples of Cheshire & Baker's paper as Wikipedia tabulates them (delimiter left out)
COBS_VECTORS = [
    ("", "01"),
    ("00", "01 01"),
    ("00 00", "01 01 01"),
    ("00 11 00", "01 02 11 01"),
    ("11 22 00 33", "03 11 22 02 33"),
    ("11 22 33 44", "05 11 22 33 44"),
    ("11 00 00 00", "02 11 01 01 01"),
    (bytes(range(1, 255)).hex(), "ff" + bytes(range(1, 255)).hex()),
    (bytes(range(0, 255)).hex(), "01 ff" + bytes(range(1, 255)).hex()),
    (bytes(range(1, 256)).hex(), "ff" + bytes(range(1, 255)).hex() + "02 ff"),
    (bytes(range(2, 256)).hex() + "00", "ff" + bytes(range(2, 256)).hex() + "01 01"),
]

# Whole frames on the wire, worked out by hand: 00 | COBS(type status payload crc32le) | 00
FRAME_VECTORS = [
    # IDENTIFY request: 01 00 + crc32(01 00) = 0x58c223be
    (MsgType.IDENTIFY, b"", Status.OK, "00 02 01 05 be 23 c2 58 00"),
    # SET_INTERVAL 500 ms: 04 00 f4 01 00 00 + crc32 = 0x22950872
    (MsgType.SET_INTERVAL, bytes.fromhex("f4 01 00 00"), Status.OK,
     "00 02 04 03 f4 01 01 05 72 08 95 22 00"),
    # a refusal: ff 04 (BAD_VALUE) + crc32 = 0xd5902b94, no zero to stuff
    (MsgType.REFUSED, b"", Status.BAD_VALUE, "00 07 ff 04 94 2b 90 d5 00"),
]


@pytest.mark.parametrize(("raw", "stuffed"), COBS_VECTORS)
def test_cobs_golden_vectors(raw: str, stuffed: str) -> None:
    assert cobs_encode(bytes.fromhex(raw)).hex(" ") == bytes.fromhex(stuffed).hex(" ")
    assert cobs_decode(bytes.fromhex(stuffed)) == bytes.fromhex(raw)


@pytest.mark.parametrize(("kind", "payload", "status", "wire"), FRAME_VECTORS)
def test_frame_golden_vectors(kind: int, payload: bytes, status: int, wire: str) -> None:
    body = bytes([kind, status]) + payload
    assert _unstuff_outside(bytes.fromhex(wire)[1:-1]) == body + struct.pack("<I",
                                                                             zlib.crc32(body))
    assert encode_frame(kind, payload, status).hex(" ") == wire
    assert FrameDecoder().feed(bytes.fromhex(wire)) == [Frame(kind, status, payload, 1)]


@given(st.binary(max_size=600))
def test_cobs_round_trip_and_no_zero(data: bytes) -> None:
    stuffed = cobs_encode(data)
    assert 0 not in stuffed
    assert cobs_decode(stuffed) == data
    assert len(stuffed) <= len(data) + 1 + len(data) // 254


@given(st.sampled_from(list(MsgType)), st.one_of(
    st.tuples(st.just(0), st.binary(max_size=200)),
    st.tuples(st.integers(1, 255), st.just(b""))))  # a refusal carries no payload
def test_frames_round_trip_in_any_chunking(kind: int, content: tuple[int, bytes]) -> None:
    status, payload = content
    wire = encode_frame(kind, payload, status) * 2
    decoder = FrameDecoder()
    events = [event for i in range(len(wire)) for event in decoder.feed(wire[i:i + 1])]
    assert [(f.type, f.status, f.payload) for f in events] == [(kind, status, payload)] * 2


def test_bad_crc_is_rejected_with_its_offset() -> None:
    wire = bytearray(encode_frame(MsgType.SET_INTERVAL, bytes.fromhex("f4 01 00 00")))
    wire[4] ^= 0x01  # a payload bit flipped on the line
    (error,) = FrameDecoder().feed(b"\x00" * 3 + bytes(wire))
    assert isinstance(error, CrcError)
    assert error.offset == 4 + 6 and "CRC-32 0x22950872 != computed 0x9a296f17" in str(error)


def test_bad_cobs_is_rejected_with_its_offset() -> None:
    # code byte 0x09 promises eight bytes, three arrive before the delimiter
    (error,) = FrameDecoder().feed(bytes.fromhex("00 09 01 02 03 00"))
    assert isinstance(error, CobsError)
    assert error.offset == 1 and "runs 5 byte(s) past the end" in str(error)
    with pytest.raises(CobsError, match="zero byte inside a COBS block at byte offset 2"):
        cobs_decode(bytes.fromhex("03 01 00 02"))


def test_truncated_frame_is_rejected() -> None:
    # whole COBS, but five bytes unstuffed: shorter than type, status and CRC
    with pytest.raises(LengthError, match="shorter than the minimum 6"):
        decode_frame(cobs_encode(b"\x01\x00\x00\x00\x00"))
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(MsgType.IDENTIFY)[:-3]) == []
    assert decoder.pending == 5
    (error,) = decoder.drop_partial()  # the link's inter-byte timeout gives it up
    assert isinstance(error, LengthError) and "truncated" in str(error) and error.offset == 1
    assert decoder.feed(encode_frame(MsgType.IDENTIFY)) == [Frame(MsgType.IDENTIFY, 0, b"", 7)]


def test_garbage_between_frames_loses_no_frame() -> None:
    first, second = encode_frame(MsgType.READ_ACCEL), encode_frame(MsgType.READ_GNSS)
    noise = bytes.fromhex("13 37 fe 02 00 ff 80")  # line noise, one zero inside
    events = FrameDecoder().feed(first + noise + second)
    kinds = [type(e).__name__ if not isinstance(e, Frame) else e.name for e in events]
    assert kinds == ["READ_ACCEL", "CobsError", "CobsError", "READ_GNSS"]
    assert [e.offset for e in events] == [1, 9, 14, 17]


def test_noise_without_delimiter_is_given_up_not_kept() -> None:
    decoder = FrameDecoder()
    (error,) = decoder.feed(b"\x01\xff" * 600)
    assert isinstance(error, LengthError) and decoder.pending == 0
    assert decoder.feed(encode_frame(MsgType.IDENTIFY))[0].name == "IDENTIFY"


def test_text_lines_and_frames_share_the_line() -> None:
    wire = b"[boot] ok\r\n" + encode_frame(MsgType.IDENTIFY) + b"tracker: ready\r\n"
    events = FrameDecoder().feed(wire)
    assert events == ["[boot] ok\r\n", Frame(MsgType.IDENTIFY, 0, b"", 12), "tracker: ready\r\n"]


def test_a_refusal_with_a_payload_cannot_be_built() -> None:
    # it would start with a printable COBS code byte and could read as a console line
    with pytest.raises(LengthError, match=r"a refusal \(status 4\) carries no payload"):
        encode_frame(MsgType.SET_INTERVAL, b"abc", Status.BAD_VALUE)


def test_codec_check_reply_refusal_and_mismatch() -> None:
    codec, request = TrackerCodec(), Frame(MsgType.SET_INTERVAL, payload=bytes(4))
    with pytest.raises(NackError, match="refused SET_INTERVAL with BAD_VALUE") as refused:
        codec.check_reply(request, Frame(MsgType.REFUSED, Status.BAD_VALUE))
    assert refused.value.code == Status.BAD_VALUE
    with pytest.raises(ReplyMismatchError, match=r"type 0x81 \(IDENTIFY_RSP\), expected 0x84"):
        codec.check_reply(request, Frame(MsgType.IDENTIFY | 0x80))
    codec.check_reply(request, Frame(MsgType.SET_INTERVAL | 0x80, payload=bytes(4)))
    assert codec.is_unsolicited(Frame(MsgType.MOTION)) and not codec.sequenced


# --- from outside: the standard library alone, against the emulator on a real pty -------------
def _unstuff_outside(block: bytes) -> bytes:
    """COBS decoding as the paper describes it, written apart from protocols/tracker_frames."""
    out, i = b"", 0
    while i < len(block):
        run = block[i]
        out += block[i + 1:i + run]
        i += run
        if run < 0xFF and i < len(block):
            out += b"\x00"
    return out


def _read_frames(fd: int, want: int, timeout: float = 3.0) -> tuple[list[bytes], bytes]:
    """Read until `want` frames arrived; returns them unstuffed, and every byte read."""
    stream = b""
    while True:
        frames = [_unstuff_outside(chunk) for chunk in stream.split(b"\x00")[1:-1]
                  if chunk and chunk[0] < 0x08]
        if len(frames) >= want:
            return frames, stream
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"emulator sent {stream!r} and then nothing for {timeout} s"
        stream += os.read(fd, 4096)


def test_plain_decoder_reads_what_the_emulator_sends() -> None:
    emulator = TrackerEmulator(BoardSettings(seed=3, unique_id="00c0ffee12345678"))
    face = emulator.serial_face(open_transport("pty")).start()
    fd = os.open(face.port, os.O_RDWR | os.O_NOCTTY)  # already raw; setraw would flush the log
    try:
        # IDENTIFY, READ_GNSS, then 3 self-test pulses: stuffed by hand from the golden vector
        os.write(fd, bytes.fromhex("00 02 01 05 be 23 c2 58 00"))
        body = bytes([0x03, 0x00])
        os.write(fd, b"\x00\x02\x03" + _stuff_short(struct.pack("<I", zlib.crc32(body)))
                 + b"\x00")
        body = bytes([0x09, 0x00, 0x03])
        os.write(fd, b"\x00\x02\x09" + _stuff_short(b"\x03" + struct.pack("<I",
                                                                          zlib.crc32(body)))
                 + b"\x00")
        frames, stream = _read_frames(fd, 6)
    finally:
        os.close(fd)
        face.close()
        emulator.shutdown()
    assert b"tracker-fw v2.1.0 uid=00c0ffee12345678 hw=3\r\ntracker: ready\r\n" in stream
    for frame in frames:
        assert zlib.crc32(frame[:-4]) == struct.unpack("<I", frame[-4:])[0], frame.hex(" ")
    identify, gnss, *motions, self_test = frames
    assert identify[:2] == b"\x81\x00"
    unique_id, hw_revision, length = struct.unpack_from("<QBB", identify, 2)
    assert (unique_id, hw_revision) == (0x00C0FFEE12345678, 3)
    assert identify[12:12 + length] == b"2.1.0" and len(identify) == 12 + length + 4
    assert gnss[:2] == b"\x83\x00"
    lat, lon, fix, sats, age_ms = struct.unpack("<iiBBI", gnss[2:-4])
    assert abs(lat / 1e7 - 48.85837) < 1e-3 and abs(lon / 1e7 - 2.294481) < 1e-3
    assert (fix, age_ms < 1000, 7 <= sats <= 10) == (3, True, True)
    assert [m[0] for m in motions] == [0x60] * 3
    assert [struct.unpack_from("<H", m, 2)[0] for m in motions] == [1, 2, 3]
    assert self_test[:3] == b"\x89\x00\x03"


def _stuff_short(rest: bytes) -> bytes:
    """The COBS of a frame whose status zero comes second: what follows it, led by its code
    (frames under 254 bytes; a zero inside `rest` becomes a code byte)."""
    runs = rest.split(b"\x00")
    return b"".join(bytes([len(run) + 1]) + run for run in runs)


# one example of every declared payload: requests, replies (type | 0x80) and events
EXAMPLES = {
    MsgType.SET_INTERVAL: {"interval_ms": 500},
    MsgType.ACCEL_SELF_TEST: {"pulses": 5},
    MsgType.IDENTIFY | 0x80: {"unique_id": 0x1EAFC0DE00002A17, "hw_revision": 3,
                              "firmware": "2.1.0-rc.1+build.7"},
    MsgType.READ_ACCEL | 0x80: {"x_mg": -12, "y_mg": 7, "z_mg": 1003},
    MsgType.READ_GNSS | 0x80: {"latitude_e7": 488583700, "longitude_e7": -22944810, "fix": 3,
                               "satellites": 9, "age_ms": 420},
    MsgType.SET_INTERVAL | 0x80: {"interval_ms": 86_400_000},
    MsgType.GET_STATUS | 0x80: {"interval_ms": 60_000, "uptime_ms": 123_456,
                                "motion_events": 2, "boot_count": 7},
    MsgType.ACCEL_SELF_TEST | 0x80: {"pulses": 5},
    MsgType.MOTION: {"count": 1, "peak_mg": 1800, "uptime_ms": 99},
    MsgType.REPORT: {"counter": 65535, "uptime_ms": 4_000_000_000, "fix": 0, "satellites": 0},
}


def test_every_declared_payload_has_an_example() -> None:
    assert sorted(EXAMPLES) == sorted(PAYLOADS)


@pytest.mark.parametrize("kind", list(EXAMPLES), ids=lambda k: f"0x{k:02x}")
def test_every_message_round_trips_through_a_frame(kind: int) -> None:
    wire = encode_frame(kind, build_payload(kind, EXAMPLES[kind]))
    (frame,) = FrameDecoder().feed(wire)
    fields = parse_payload(frame.type, frame.payload)
    assert {k: v for k, v in fields.items() if not k.startswith("_")} == EXAMPLES[kind]


@pytest.mark.parametrize(("kind", "payload", "reason"), [
    (MsgType.IDENTIFY | 0x80, bytes(8) + b"\x03\x052.1.0!", "firmware of 5 bytes declared, 6 "
                                                            "follow"),
    (MsgType.IDENTIFY | 0x80, bytes(5), "expected at least 10 bytes, got 5"),
    # a firmware string shorter than its length byte says: truncated, not a shorter version
    (MsgType.IDENTIFY | 0x80, bytes(8) + b"\x03\x052.1.", "firmware of 5 bytes declared, 4 "
                                                          "follow"),
    (MsgType.IDENTIFY | 0x80, bytes(9) + b"\x01", "firmware of 1 bytes declared, 0 follow"),
    (MsgType.IDENTIFY | 0x80, bytes(8) + b"\x03\x02\xff\xfe",
     "'ascii' codec can't decode byte 0xff"),
    (MsgType.READ_ACCEL | 0x80, bytes(7), "expected 6 bytes, got 7"),
    (MsgType.IDENTIFY, b"\x01", "expected 0 bytes, got 1"),
])
def test_payload_of_the_wrong_size_is_refused(kind: int, payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=f"0x{kind:02x} payload .* does not parse: {reason}"):
        parse_payload(kind, payload)


def test_payload_declarations_build_what_the_plain_decoder_reads() -> None:
    payload = build_payload(MsgType.MOTION, {"count": 7, "peak_mg": 1800, "uptime_ms": 123456})
    assert struct.unpack("<HHI", payload) == (7, 1800, 123456)


# --- a reply of the right type whose status byte says it failed ---------------------------------
def test_a_reply_of_the_right_type_with_a_failed_status_is_refused() -> None:
    """Only REFUSED may carry a status: the right reply type with status 4 is no answer."""
    codec, request = TrackerCodec(), Frame(MsgType.SET_INTERVAL, payload=bytes(4))
    with pytest.raises(NackError, match="answered SET_INTERVAL with SET_INTERVAL_RSP and failed "
                                        "status BAD_VALUE; sent 00 02 04") as failed:
        codec.check_reply(request, Frame(MsgType.SET_INTERVAL | 0x80, Status.BAD_VALUE, bytes(4)))
    assert failed.value.code == Status.BAD_VALUE
    with pytest.raises(NackError, match="failed status 0x63"):
        codec.check_reply(request, Frame(MsgType.SET_INTERVAL | 0x80, 0x63))


def test_a_failed_status_on_the_wire_is_a_dut_error_and_not_retried() -> None:
    """The same through the serial link on a real pty: a raw peer answers the request with its
    own reply type and status BAD_LENGTH; the link raises, re-asks nothing."""
    master, slave = os.openpty()
    tty.setraw(slave)
    requests: list[bytes] = []

    def board() -> None:
        stream = b""
        while not stream.endswith(b"\x00") or stream.count(b"\x00") < 2:
            if not select.select([master], [], [], 5.0)[0]:
                return
            stream += os.read(master, 4096)
        requests.append(stream)
        os.write(master, encode_frame(MsgType.GET_STATUS | 0x80, status=Status.BAD_LENGTH))

    peer = threading.Thread(target=board, daemon=True)
    peer.start()
    try:
        with SerialLink(os.ttyname(slave), TrackerCodec(), timeout_s=2.0, retries=2) as link:
            with pytest.raises(NackError, match="GET_STATUS_RSP and failed status BAD_LENGTH"):
                link.request(Frame(MsgType.GET_STATUS))
            assert link.stats.retries == 0 and link.stats.requests == 1
        peer.join(5)
        assert requests == [encode_frame(MsgType.GET_STATUS)]
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("kind", ["pty", "socket"])
def test_a_damaged_reply_is_re_asked_at_once(kind: str) -> None:
    """Tracker frames carry no sequence number, so a damaged reply is damage of unknown origin;
    it is still re-asked at once, on a pty (read by the caller) as over socket:// (read by the
    link's reader thread). Behaviour, not speed: with no timeout retry (retries=0), an answer
    well before the 5 s timeout."""
    status = build_payload(MsgType.GET_STATUS | 0x80, EXAMPLES[MsgType.GET_STATUS | 0x80])
    requests: list[Frame] = []
    decoder = FrameDecoder()

    def answer(data: bytes) -> bytes:
        replies = b""
        for request in decoder.feed(data):
            requests.append(request)
            wire = bytearray(encode_frame(MsgType.GET_STATUS | 0x80, status))
            if len(requests) == 1:
                wire[-2] ^= 0x01  # a CRC bit flipped on the line (no zero made)
            replies += wire
        return bytes(replies)

    if kind == "pty":
        master, slave = os.openpty()
        tty.setraw(slave)
        port, ends = os.ttyname(slave), (master, slave)

        def board() -> None:
            with contextlib.suppress(OSError):  # EIO once the link has closed its end
                while select.select([master], [], [], 10)[0]:
                    os.write(master, answer(os.read(master, 4096)))
    else:
        server = socket.create_server(("127.0.0.1", 0))
        port, ends = f"socket://127.0.0.1:{server.getsockname()[1]}", ()

        def board() -> None:
            conn, _ = server.accept()
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(answer(data))

    threading.Thread(target=board, daemon=True).start()
    try:
        with SerialLink(port, TrackerCodec(), timeout_s=5.0, retries=0) as link:
            started = time.monotonic()
            reply = link.request(Frame(MsgType.GET_STATUS))
            assert time.monotonic() - started < 2.5
            assert parse_payload(reply.type, reply.payload).boot_count == 7
            assert (len(requests), link.stats.corrupt_replies, link.stats.retries) == (2, 1, 1)
    finally:
        if kind == "socket":
            server.close()
        for end in ends:
            os.close(end)
