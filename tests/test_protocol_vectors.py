"""Golden byte vectors and a rejection test for every decoding path of the WS-100 protocol.

The vectors were computed apart from the code under test (struct + binascii.crc_hqx by hand), so a
change to the layout, the CRC or a payload declaration shows here as a byte difference, not as a
round trip that agrees with itself. Each rejection names the error class and its byte offset.
"""

import re
from pathlib import Path

import pytest

from protocols.errors import CrcError, LengthError, PayloadError, ProtocolError, VersionError
from protocols.ws100_frames import (
    CRC_SIZE,
    HEADER_SIZE,
    MAX_PAYLOAD,
    Frame,
    FrameDecoder,
    crc16,
    decode_frame,
    encode_frame,
)
from protocols.ws100_messages import (
    DECLARATIONS,
    RESPONSE_BIT,
    Mode,
    MsgType,
    NackCode,
    SelfTest,
    SensorReading,
    build_payload,
    parse_payload,
)

# name, frame bytes, and the fields its payload must parse to
GOLDEN = [
    ("PING", "a5 5a 01 01 00 02 00 68 69 6b 9e", {"data": b"hi"}),
    ("PING_RSP", "a5 5a 01 81 ff 02 00 a5 5a dc 76", {"data": b"\xa5\x5a"}),
    ("GET_INFO", "a5 5a 01 02 01 00 00 05 61", {}),
    ("GET_INFO_RSP", "a5 5a 01 82 01 20 00 0d 43 42 2d 57 53 31 2d 30 30 30 31 32 33 06 57 53 2d "
     "31 30 30 01 42 01 04 02 c0 ff ee 00 01 23 35 d5",
     {"serial": "CB-WS1-000123", "part_number": "WS-100", "hw_revision": "B", "fw_major": 1,
      "fw_minor": 4, "fw_patch": 2, "ble_address": bytes.fromhex("c0ffee000123")}),
    ("READ_SENSORS", "a5 5a 01 03 02 00 00 e1 4e", {}),
    ("READ_SENSORS_RSP", "a5 5a 01 83 02 0a 00 2e fb c6 11 02 76 0f 00 74 0e 33 13",
     {"temperature_cdeg": -1234, "humidity_cpct": 4550, "pressure_dpa": 1013250,
      "battery_mv": 3700}),
    ("SET_MODE", "a5 5a 01 04 03 01 00 02 18 4e", {"mode": 2}),
    ("SET_MODE_RSP", "a5 5a 01 84 03 01 00 02 c8 6c", {"mode": 2}),
    ("SELF_TEST", "a5 5a 01 05 04 00 00 d8 db", {}),
    ("SELF_TEST_RSP", "a5 5a 01 85 04 02 00 12 00 f1 df", {"failed": 0x12}),
    ("SET_STREAM", "a5 5a 01 06 05 03 00 01 32 00 dc 2e", {"enabled": 1, "rate_hz": 50}),
    ("SET_STREAM_RSP", "a5 5a 01 86 05 03 00 01 32 00 25 85", {"enabled": 1, "rate_hz": 50}),
    ("FACTORY_WRITE_SERIAL", "a5 5a 01 07 06 0e 00 0d 43 42 2d 57 53 31 2d 30 30 30 39 39 39 "
     "7d 9e", {"serial": "CB-WS1-000999"}),
    ("FACTORY_WRITE_SERIAL_RSP", "a5 5a 01 87 06 0e 00 0d 43 42 2d 57 53 31 2d 30 30 30 39 39 "
     "39 62 79", {"serial": "CB-WS1-000999"}),
    ("RESET", "a5 5a 01 08 07 00 00 0e bb", {}),
    ("RESET_RSP", "a5 5a 01 88 07 00 00 36 66", {}),
    ("TELEMETRY", "a5 5a 01 40 00 12 00 07 00 00 00 d2 04 00 00 2e fb c6 11 02 76 0f 00 74 0e "
     "eb 71", {"counter": 7, "uptime_ms": 1234, "temperature_cdeg": -1234,
               "humidity_cpct": 4550, "pressure_dpa": 1013250, "battery_mv": 3700}),
    ("NACK", "a5 5a 01 7f 09 02 00 02 05 e3 ba", {"request_type": 2, "code": 5}),
]
# fixed payload sizes of every (wire type): None where the size varies
FIXED_SIZES = {
    MsgType.GET_INFO: 0, MsgType.READ_SENSORS: 0, MsgType.READ_SENSORS | RESPONSE_BIT: 10,
    MsgType.SET_MODE: 1, MsgType.SET_MODE | RESPONSE_BIT: 1, MsgType.SELF_TEST: 0,
    MsgType.SELF_TEST | RESPONSE_BIT: 2, MsgType.SET_STREAM: 3,
    MsgType.SET_STREAM | RESPONSE_BIT: 3, MsgType.RESET: 0, MsgType.RESET | RESPONSE_BIT: 0,
    MsgType.TELEMETRY: 18, MsgType.TELEMETRY | RESPONSE_BIT: 18, MsgType.NACK: 2,
    MsgType.NACK | RESPONSE_BIT: 2,
}
WIRE_TYPES = sorted({int(t) for t in DECLARATIONS} | {int(t) | RESPONSE_BIT for t in DECLARATIONS})


def _wire_type(name: str) -> int:
    base = name.removesuffix("_RSP")
    return MsgType[base] | (RESPONSE_BIT if name.endswith("_RSP") else 0)


def _raw(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


def _with_crc(body: bytes) -> bytes:
    """A frame body (sync..payload) completed by its correct CRC, for header-field tests."""
    return body + crc16(body[2:]).to_bytes(2, "little")


def test_golden_vectors_cover_every_wire_type_but_the_unused_responses() -> None:
    covered = {_wire_type(name) for name, _, _ in GOLDEN}
    # a board never answers TELEMETRY or NACK: their response forms are declared, not spoken
    assert set(WIRE_TYPES) - covered == {MsgType.TELEMETRY | RESPONSE_BIT,
                                         MsgType.NACK | RESPONSE_BIT}


@pytest.mark.parametrize(("name", "hex_text", "fields"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_vector_decodes_parses_and_rebuilds_byte_for_byte(name, hex_text, fields) -> None:
    raw = _raw(hex_text)
    frame = decode_frame(raw, offset=100)
    assert (frame.type, frame.seq, frame.version, frame.offset) == (
        _wire_type(name), raw[4], 1, 100)
    assert frame.name == name
    assert frame.payload == raw[HEADER_SIZE:-CRC_SIZE]
    parsed = parse_payload(frame.type, frame.payload)
    assert {k: v for k, v in parsed.items() if not k.startswith("_")} == fields
    assert build_payload(frame.type, fields) == frame.payload
    assert encode_frame(frame.type, frame.seq, frame.payload) == raw


@pytest.mark.parametrize(("name", "hex_text", "fields"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_vector_comes_out_of_the_stream_decoder_byte_by_byte(name, hex_text,
                                                                    fields) -> None:
    raw = _raw(hex_text)
    decoder = FrameDecoder()
    events = [event for byte in raw for event in decoder.feed(bytes([byte]))]
    assert events == [Frame(_wire_type(name), raw[4], raw[HEADER_SIZE:-CRC_SIZE])]  # at 0, v1
    assert decoder.pending == 0


def test_encode_wraps_the_sequence_number_and_refuses_oversized_payloads() -> None:
    assert encode_frame(MsgType.PING, 256 + 7)[4] == 7
    assert len(encode_frame(MsgType.PING, 0, bytes(MAX_PAYLOAD))) == HEADER_SIZE + MAX_PAYLOAD + 2
    with pytest.raises(LengthError, match=f"513 bytes exceeds {MAX_PAYLOAD}"):
        encode_frame(MsgType.PING, 0, bytes(MAX_PAYLOAD + 1))


# --- decode_frame: every rejection ---------------------------------------------------------------
def test_shortest_frame_is_accepted_and_one_byte_less_is_rejected() -> None:
    raw = _raw("a5 5a 01 02 01 00 00 05 61")
    assert len(raw) == HEADER_SIZE + CRC_SIZE
    assert decode_frame(raw).payload == b""
    with pytest.raises(LengthError, match="8 bytes is shorter than the minimum at byte offset 0"):
        decode_frame(raw[:-1])


@pytest.mark.parametrize("sync", [b"\x00\x5a", b"\xa5\x00", b"\x5a\xa5", b"\xa5\xa5"])
def test_sync_bytes_are_checked(sync: bytes) -> None:
    raw = sync + _raw("a5 5a 01 02 01 00 00 05 61")[2:]
    with pytest.raises(ProtocolError, match="missing sync bytes a5 5a at byte offset 3") as error:
        decode_frame(raw, offset=3)
    assert error.value.raw == sync


@pytest.mark.parametrize("version", [0, 2, 0x81, 0xFF])
def test_any_other_protocol_version_is_rejected_even_with_a_good_crc(version: int) -> None:
    raw = _with_crc(bytes([0xA5, 0x5A, version, 0x01, 0x2A, 0, 0]))
    with pytest.raises(VersionError, match=f"version {version} .expected 1. at byte offset 12"
                       ) as error:
        decode_frame(raw, offset=10)
    assert error.value.seq == 0x2A


def test_version_golden_vectors() -> None:
    """The same PING seq 0 with version 2 and 0 (computed apart): only version 1 decodes."""
    for hex_text in ("a5 5a 02 01 00 00 00 3b 23", "a5 5a 00 01 00 00 00 b8 67"):
        with pytest.raises(VersionError):
            decode_frame(_raw(hex_text))


def test_length_above_maximum_is_rejected_before_the_crc() -> None:
    raw = _with_crc(_raw("a5 5a 01 01 00") + (MAX_PAYLOAD + 1).to_bytes(2, "little")
                    + bytes(MAX_PAYLOAD + 1))
    with pytest.raises(LengthError,
                       match=f"length field 513 exceeds {MAX_PAYLOAD} at byte offset 5"):
        decode_frame(raw)


def test_payload_of_exactly_the_maximum_decodes_whole_and_in_pieces() -> None:
    raw = encode_frame(MsgType.PING, 0, b"\x5a" * MAX_PAYLOAD)
    assert decode_frame(raw).payload == b"\x5a" * MAX_PAYLOAD
    assert FrameDecoder().feed(raw) == [decode_frame(raw)]
    decoder = FrameDecoder()
    assert decoder.feed(raw[:HEADER_SIZE]) == []
    assert decoder.feed(raw[HEADER_SIZE:]) == [decode_frame(raw)]


@pytest.mark.parametrize("extra", [b"\x00", b"\xa5\x5a", b"garbage"])
def test_trailing_bytes_after_the_crc_are_rejected(extra: bytes) -> None:
    raw = _raw("a5 5a 01 01 00 02 00 68 69 6b 9e") + extra
    with pytest.raises(LengthError, match=f"length field 2 disagrees with {11 + len(extra)} bytes "
                                          "given at byte offset 5"):
        decode_frame(raw)


def test_a_missing_payload_byte_is_rejected() -> None:
    raw = _raw("a5 5a 01 01 00 02 00 68 69 6b 9e")
    with pytest.raises(LengthError, match="length field 2 disagrees with 10 bytes"):
        decode_frame(raw[:7] + raw[8:])


@pytest.mark.parametrize("seq", [0, 1, 255])
def test_crc_is_checked_for_every_sequence_number_including_zero(seq: int) -> None:
    raw = bytearray(encode_frame(MsgType.PING, seq, b"hi"))
    raw[-2] ^= 0x01
    with pytest.raises(CrcError, match="at byte offset 9") as error:
        decode_frame(bytes(raw))
    assert error.value.seq == seq


@pytest.mark.parametrize("position", range(2, 11))
def test_a_flipped_bit_anywhere_after_the_sync_is_caught(position: int) -> None:
    """One flipped bit in version, type, seq, length, payload or CRC: never a wrong frame."""
    raw = bytearray(_raw("a5 5a 01 01 00 02 00 68 69 6b 9e"))
    raw[position] ^= 0x04
    with pytest.raises(ProtocolError):
        decode_frame(bytes(raw))


def test_crc_error_reports_both_values_and_the_stream_offset() -> None:
    raw = _raw("a5 5a 01 01 00 02 00 68 69 00 00")
    with pytest.raises(CrcError, match="CRC 0x0000 != computed 0x9e6b at byte offset 59"):
        decode_frame(raw, offset=50)


# --- FrameDecoder: rejection paths in a stream ---------------------------------------------------
def test_stream_decoder_reports_a_bad_crc_on_seq_zero_and_keeps_the_next_frame() -> None:
    bad = bytearray(encode_frame(MsgType.PING, 0, b"hi"))
    bad[-1] ^= 0x80
    good = encode_frame(MsgType.PING, 0, b"ok")
    events = FrameDecoder().feed(bytes(bad) + good)
    assert isinstance(events[0], CrcError) and events[0].seq == 0
    # one byte is given up and the rest rescanned: it holds no sync, so it is text
    assert events[1:] == [bytes(bad[1:]).decode("utf-8", "replace"),
                          Frame(MsgType.PING, 0, b"ok", offset=len(bad))]


def test_stream_decoder_rejects_a_foreign_version_and_resynchronizes() -> None:
    foreign = _raw("a5 5a 02 01 00 00 00 3b 23")
    good = _raw("a5 5a 01 02 01 00 00 05 61")
    events = FrameDecoder().feed(foreign + good)
    assert isinstance(events[0], VersionError)
    assert [e for e in events if isinstance(e, Frame)] == [decode_frame(good, len(foreign))]


def test_a_whole_frame_with_a_bad_crc_in_one_read_is_reported_not_dropped() -> None:
    """The one-frame-per-read fast path must fall back to the checking path, not skip it."""
    raw = bytearray(_raw("a5 5a 01 01 00 02 00 68 69 6b 9e"))
    raw[7] ^= 0x20
    events = FrameDecoder().feed(bytes(raw))
    assert isinstance(events[0], CrcError)
    assert not [e for e in events if isinstance(e, Frame)]


def test_stream_offsets_count_every_byte_before_a_frame() -> None:
    decoder = FrameDecoder()
    first = encode_frame(MsgType.PING, 1, b"a")
    assert decoder.feed(first)[0].offset == 0
    events = decoder.feed(b"boot\r\n" + encode_frame(MsgType.PING, 2, b"b"))
    assert events[0] == "boot\r\n"
    assert events[1].offset == len(first) + 6


def test_a_lone_first_sync_byte_waits_for_its_partner() -> None:
    decoder = FrameDecoder()
    raw = encode_frame(MsgType.PING, 3, b"z")
    assert decoder.feed(b"text" + raw[:1]) == ["text"]
    assert decoder.pending == 1
    assert decoder.feed(raw[1:]) == [decode_frame(raw, 4)]


def test_a_stray_sync_byte_held_back_comes_out_before_the_next_frame() -> None:
    """A whole frame arriving while a byte is held back is not decoded on its own: the held
    byte is text that came first, and the frame's offset counts it."""
    decoder = FrameDecoder()
    assert decoder.feed(b"text\xa5") == ["text"]
    raw = encode_frame(MsgType.PING, 4, b"w")
    events = decoder.feed(raw)
    assert events == ["\ufffd", decode_frame(raw, 5)]


def test_a_partial_header_waits_and_an_empty_drop_is_a_no_op() -> None:
    decoder = FrameDecoder()
    assert decoder.drop_partial() == []
    raw = encode_frame(MsgType.PING, 3, b"z")
    assert decoder.feed(raw[:HEADER_SIZE - 1]) == []
    assert decoder.pending == HEADER_SIZE - 1
    assert decoder.feed(raw[HEADER_SIZE - 1:]) == [decode_frame(raw)]


def test_an_oversized_length_in_a_whole_read_is_reported_at_its_offset() -> None:
    header = _raw("a5 5a 01 01 00") + (MAX_PAYLOAD + 1).to_bytes(2, "little")
    events = FrameDecoder().feed(b"xy" + header)
    assert events[0] == "xy"
    assert isinstance(events[1], LengthError) and events[1].offset == 2 + 5
    assert events[2:] == [header[1:].decode("utf-8", "replace")]  # one byte given up, no more


def test_drop_partial_names_the_size_and_offset_and_keeps_the_text() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"ab")
    partial = encode_frame(MsgType.PING, 1, b"abc")[:8]
    decoder.feed(partial)
    events = decoder.drop_partial()
    assert isinstance(events[0], LengthError)
    assert "incomplete frame of 8 bytes timed out at byte offset 2" in str(events[0])
    # only the sync's first byte is given up: everything after it is rescanned (here, text)
    assert "".join(e for e in events[1:] if isinstance(e, str)) == partial[1:].decode(
        "utf-8", "replace")
    assert decoder.pending == 0


# --- payloads: every type's size, unknown types, variable-length bodies ------------------------
@pytest.mark.parametrize("wire_type", list(FIXED_SIZES), ids=lambda t: f"0x{t:02x}")
def test_every_fixed_payload_size_is_enforced_both_ways(wire_type: int) -> None:
    size = FIXED_SIZES[wire_type]
    parse_payload(wire_type, bytes(size))
    for wrong in (size + 1, size - 1):
        if wrong < 0:
            continue
        with pytest.raises(PayloadError, match=f"payload is {wrong} bytes, expected {size} at "
                                               f"byte offset {min(size, wrong)}"):
            parse_payload(wire_type, bytes(wrong))


def test_fixed_size_table_is_complete() -> None:
    variable = {MsgType.PING, MsgType.PING | RESPONSE_BIT, MsgType.GET_INFO | RESPONSE_BIT,
                MsgType.FACTORY_WRITE_SERIAL, MsgType.FACTORY_WRITE_SERIAL | RESPONSE_BIT}
    assert set(FIXED_SIZES) | variable == set(WIRE_TYPES)


@pytest.mark.parametrize("wire_type", [0x00, 0x09, 0x3F, 0x41, 0x7E, 0x80, 0x89, 0xC1, 0xFE])
def test_unknown_types_are_rejected_by_parse_and_build(wire_type: int) -> None:
    with pytest.raises(PayloadError, match=f"unknown message type 0x{wire_type:02x} at byte "
                                           "offset 0: 01"):
        parse_payload(wire_type, b"\x01")
    with pytest.raises(ValueError, match=f"unknown message type 0x{wire_type:02x}"):
        build_payload(wire_type, {})


def test_unknown_type_still_frames_and_is_named_by_its_number() -> None:
    frame = decode_frame(encode_frame(0x3F, 1, b""))
    assert frame.name == "0x3f"
    assert Frame(0xC1, 0, b"").name == "0xc1"


def test_echo_accepts_any_length_including_empty() -> None:
    assert parse_payload(MsgType.PING, b"").data == b""
    assert parse_payload(MsgType.PING | RESPONSE_BIT, bytes(range(256))).data == bytes(range(256))


@pytest.mark.parametrize("wire_type", [MsgType.FACTORY_WRITE_SERIAL,
                                       MsgType.FACTORY_WRITE_SERIAL | RESPONSE_BIT])
def test_length_prefixed_serial_rejects_short_long_and_non_ascii(wire_type: int) -> None:
    good = b"\x03abc"
    assert parse_payload(wire_type, good).serial == "abc"
    with pytest.raises(PayloadError,
                       match=r"(?s)does not parse .*expected 5, found 3.* at byte offset 0"):
        parse_payload(wire_type, b"\x05abc")
    with pytest.raises(PayloadError, match="1 trailing bytes at byte offset 4"):
        parse_payload(wire_type, good + b"\x00")
    with pytest.raises(PayloadError, match="does not parse"):
        parse_payload(wire_type, b"\x02\xc3\xa9")
    with pytest.raises(PayloadError, match="does not parse"):
        parse_payload(wire_type, b"")


def test_info_rejects_truncation_and_trailing_bytes() -> None:
    payload = _raw(GOLDEN[3][1])[HEADER_SIZE:-CRC_SIZE]
    with pytest.raises(PayloadError, match="GET_INFO payload does not parse"):
        parse_payload(MsgType.GET_INFO | RESPONSE_BIT, payload[:-1])
    with pytest.raises(PayloadError, match=f"2 trailing bytes at byte offset {len(payload)}"):
        parse_payload(MsgType.GET_INFO | RESPONSE_BIT, payload + b"\x00\x00")


def test_payload_errors_are_protocol_errors_never_construct_errors() -> None:
    for wire_type in WIRE_TYPES:
        for payload in (b"\xff", b"\xff" * 40):
            try:
                parse_payload(wire_type, payload)
            except PayloadError:
                pass


# --- the numbers on the wire are the ones docs/protocol.md documents ----------------------------
PROTOCOL_DOC = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()


def _doc_rows(first_header: str) -> list[list[str]]:
    """The cells of the markdown table whose first column header is `first_header`."""
    lines = PROTOCOL_DOC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} "))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_message_types_are_the_documented_numbers() -> None:
    documented = {row[1].split()[0]: int(row[0], 16) for row in _doc_rows("type")}
    assert documented == {t.name: t.value for t in MsgType}


def test_nack_codes_are_the_documented_numbers() -> None:
    documented = {row[1]: int(row[0]) for row in _doc_rows("NACK code")}
    assert documented == {c.name: c.value for c in NackCode}


def test_modes_and_self_test_bits_are_the_documented_numbers() -> None:
    rows = {row[1]: row for row in _doc_rows("type")}
    modes = re.findall(r"(\d) ([a-z ]+?)(?:,|$)", rows["SET_MODE"][2].split(":", 1)[1])
    assert {name.strip().upper().replace(" ", "_"): int(n) for n, name in modes} == {
        m.name: m.value for m in Mode}
    bits = re.findall(r"(0x[0-9a-f]+) (\w+)", rows["SELF_TEST"][3])
    assert {name.upper(): int(bit, 16) for bit, name in bits} == {
        b.name: b.value for b in SelfTest}


def test_sensor_values_clamp_to_the_edges_of_their_wire_fields() -> None:
    """A reading out of a field's range is sent as that range's edge, never wrapped round."""
    high = SensorReading(327.68, 655.36, 429496729.6, 65.536).to_wire()
    assert high == {"temperature_cdeg": 0x7FFF, "humidity_cpct": 0xFFFF,
                    "pressure_dpa": 0xFFFFFFFF, "battery_mv": 0xFFFF}
    edge = SensorReading(327.67, 655.35, 429496729.5, 65.535).to_wire()
    assert edge == high  # exactly the largest values, not clamped one below
    low = SensorReading(-327.69, -0.01, -0.1, -0.001).to_wire()
    assert low == {"temperature_cdeg": -0x8000, "humidity_cpct": 0, "pressure_dpa": 0,
                   "battery_mv": 0}
    assert SensorReading(-327.68, 0.0, 0.0, 0.0).to_wire()["temperature_cdeg"] == -0x8000
    payload = build_payload(MsgType.READ_SENSORS | RESPONSE_BIT, high)
    assert SensorReading.from_wire(parse_payload(MsgType.READ_SENSORS | RESPONSE_BIT,
                                                 payload)) == SensorReading(
        327.67, 655.35, 429496729.5, 65.535)
