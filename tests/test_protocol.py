"""The serial protocol: every message round-trips, and no input makes the decoder misbehave."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.flat import flatten
from protocols.ws100_frames import (
    HEADER_SIZE,
    MAX_PAYLOAD,
    CrcError,
    Frame,
    FrameDecoder,
    LengthError,
    PayloadError,
    ProtocolError,
    crc16,
    decode_frame,
    encode_frame,
)
from protocols.ws100_messages import (
    DECLARATIONS,
    RESPONSE_BIT,
    MsgType,
    SensorReading,
    build_payload,
    parse_payload,
)

INFO = {"serial": "CB-WS1-000123", "part_number": "WS-100", "hw_revision": "B", "fw_major": 1,
        "fw_minor": 4, "fw_patch": 2, "ble_address": bytes.fromhex("c0ffee000123")}
SENSORS = {"temperature_cdeg": -1234, "humidity_cpct": 4550, "pressure_dpa": 1013250,
           "battery_mv": 3700}
# (request values, response values) for every declared message
EXAMPLES = {
    MsgType.PING: ({"data": b"hello"}, {"data": b"hello"}),
    MsgType.GET_INFO: ({}, INFO),
    MsgType.READ_SENSORS: ({}, SENSORS),
    MsgType.SET_MODE: ({"mode": 2}, {"mode": 2}),
    MsgType.SELF_TEST: ({}, {"failed": 0x12}),
    MsgType.SET_STREAM: ({"enabled": 1, "rate_hz": 50}, {"enabled": 1, "rate_hz": 50}),
    MsgType.FACTORY_WRITE_SERIAL: ({"serial": "CB-WS1-000999"}, {"serial": "CB-WS1-000999"}),
    MsgType.RESET: ({}, {}),
    MsgType.TELEMETRY: ({"counter": 7, "uptime_ms": 1234, **SENSORS},) * 2,
    MsgType.NACK: ({"request_type": 0x3C, "code": 2},) * 2,
}


def test_every_declared_message_has_an_example() -> None:
    assert set(EXAMPLES) == set(DECLARATIONS)


@pytest.mark.parametrize("msg_type", list(EXAMPLES), ids=lambda t: t.name)
@pytest.mark.parametrize("direction", ["request", "response"])
def test_message_round_trips_through_build_and_parse(msg_type: MsgType, direction: str) -> None:
    values = EXAMPLES[msg_type][direction == "response"]
    wire_type = msg_type | RESPONSE_BIT if direction == "response" else msg_type
    raw = encode_frame(wire_type, 42, build_payload(wire_type, values))
    frame = decode_frame(raw)
    assert (frame.type, frame.seq) == (wire_type, 42)
    parsed = parse_payload(frame.type, frame.payload)
    assert {k: parsed[k] for k in values} == values


def test_frame_layout_matches_docs() -> None:
    raw = encode_frame(MsgType.PING, 5, b"\x01\x02")
    assert raw[:7] == bytes([0xA5, 0x5A, 1, 0x01, 5, 2, 0])
    assert int.from_bytes(raw[-2:], "little") == crc16(raw[2:-2])
    assert crc16(b"123456789") == 0x29B1  # the CRC-16/CCITT-FALSE check value


def test_sensor_reading_round_trips_through_wire_units() -> None:
    reading = SensorReading(-12.34, 45.5, 101325.0, 3.7)
    assert SensorReading.from_wire(parse_payload(
        MsgType.READ_SENSORS | RESPONSE_BIT, build_payload(
            MsgType.READ_SENSORS | RESPONSE_BIT, reading.to_wire()))) == reading


def test_bad_crc_names_its_offset() -> None:
    raw = bytearray(encode_frame(MsgType.PING, 1, b"abc"))
    raw[-1] ^= 0xFF
    with pytest.raises(CrcError, match=f"at byte offset {HEADER_SIZE + 3}"):
        decode_frame(bytes(raw))


def test_wrong_payload_size_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="SET_MODE payload is 3 bytes, expected 1"):
        parse_payload(MsgType.SET_MODE, b"\x01\x02\x03")
    with pytest.raises(PayloadError, match="GET_INFO"):
        parse_payload(MsgType.GET_INFO | RESPONSE_BIT, b"\x09abc")


def test_decoder_separates_banner_text_frames_and_errors() -> None:
    good = encode_frame(MsgType.PING, 9, b"x")
    broken = bytearray(good)
    broken[-2] ^= 1
    events = FrameDecoder().feed(b"citebench-fw 1.4.2\r\nready\r\n" + bytes(broken) + good)
    assert "".join(e for e in events if isinstance(e, str)).startswith("citebench-fw 1.4.2")
    assert [type(e) for e in events if not isinstance(e, str)] == [CrcError, Frame]
    assert [e.seq for e in events if isinstance(e, Frame)] == [9]


def test_lying_length_field_gives_way_to_the_next_frame() -> None:
    """A header claiming 500 bytes that never come: drop_partial resynchronizes."""
    decoder = FrameDecoder()
    liar = encode_frame(MsgType.PING, 1)[:5] + (500).to_bytes(2, "little") + b"\x00" * 4
    good = encode_frame(MsgType.PING, 2, b"ok")
    assert not [e for e in decoder.feed(liar + good) if isinstance(e, Frame)]
    events = decoder.drop_partial()
    assert isinstance(events[0], LengthError)
    assert [e.seq for e in events if isinstance(e, Frame)] == [2]


def test_length_above_maximum_is_rejected_at_once() -> None:
    events = FrameDecoder().feed(b"\xa5\x5a\x01\x01\x01" + (MAX_PAYLOAD + 1).to_bytes(2, "little"))
    assert isinstance(events[0], LengthError) and "exceeds" in str(events[0])


def _drain(decoder: FrameDecoder, data: bytes, chunk: int) -> list:
    events = []
    for i in range(0, len(data), chunk):
        events += decoder.feed(data[i:i + chunk])
    while decoder.pending:  # each call consumes at least one byte: this loop ends
        events += decoder.drop_partial()
    return events


@given(st.binary(max_size=2048), st.integers(min_value=1, max_value=64))
def test_fuzz_any_bytes_give_frames_text_or_protocol_errors(data: bytes, chunk: int) -> None:
    for event in _drain(FrameDecoder(), data, chunk):
        assert isinstance(event, Frame | ProtocolError | str)
        if isinstance(event, Frame):
            try:
                parse_payload(event.type, event.payload)
            except ProtocolError:
                pass  # the protocol's own error is the allowed outcome


@given(st.lists(st.tuples(st.sampled_from(list(MsgType)), st.integers(0, 255),
                          st.binary(max_size=40)), max_size=8),
       st.binary(max_size=64), st.integers(min_value=1, max_value=32))
def test_fuzz_valid_frames_survive_garbage_and_chunking(frames, garbage, chunk) -> None:
    """Garbage first, then valid frames: every frame comes out, whatever the chunk size."""
    stream = garbage.replace(b"\xa5", b"") + b"".join(encode_frame(t, s, p) for t, s, p in frames)
    got = [(e.type, e.seq, e.payload) for e in _drain(FrameDecoder(), stream, chunk)
           if isinstance(e, Frame)]
    assert got == [(int(t), s, p) for t, s, p in frames]


@given(st.binary(min_size=HEADER_SIZE + 2, max_size=80))
def test_fuzz_decode_frame_raises_only_protocol_errors(raw: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_frame(b"\xa5\x5a" + raw)


@pytest.mark.parametrize("msg_type", list(EXAMPLES), ids=lambda t: t.name)
def test_flat_compilation_agrees_with_construct(msg_type: MsgType) -> None:
    """A declaration flattened to one struct.Struct parses and builds exactly like construct."""
    for declaration, values in zip(DECLARATIONS[msg_type], EXAMPLES[msg_type], strict=False):
        flat = flatten(declaration)
        if flat is None:
            continue
        raw = declaration.build(values)
        assert flat.build(values) == raw
        assert dict(flat.parse(raw)) == {k: v for k, v in declaration.parse(raw).items()
                                         if not k.startswith("_")}


def test_only_length_prefixed_strings_stay_on_construct() -> None:
    assert flatten(DECLARATIONS[MsgType.GET_INFO][1]) is None
    assert flatten(DECLARATIONS[MsgType.FACTORY_WRITE_SERIAL][0]) is None
    assert flatten(DECLARATIONS[MsgType.PING][0]).tail == "data"  # greedy echo bytes
    assert flatten(DECLARATIONS[MsgType.TELEMETRY][0]).size == 18
