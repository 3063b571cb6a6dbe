"""The codec round-trips every frame and rejects a bad checksum with its byte offset."""

from ${name}_kit.codec import Codec, Frame
from ${name}_kit.protocol import PING


def test_round_trip() -> None:
    codec = Codec()
    raw = codec.encode(Frame(PING, b"abc"))
    assert raw == bytes([0x7E, 0x02, 0x03]) + b"abc" + bytes([(0x02 + 0x03 + sum(b"abc")) & 0xFF])
    assert codec.decoder().feed(b"boot\n" + raw)[1] == Frame(PING, b"abc", offset=5)


def test_bad_checksum_names_the_offset() -> None:
    raw = bytearray(Codec().encode(Frame(PING, b"abc")))
    raw[-1] ^= 0xFF
    events = Codec().decoder().feed(bytes(raw))
    assert "at byte offset 6" in str(events[0])
