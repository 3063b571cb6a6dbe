"""Protocol robustness: the firmware refuses what is broken and recovers from garbage."""

from bench.kits import ProductSpec
from drivers.ws100 import Ws100Driver
from protocols.ws100_frames import encode_frame
from protocols.ws100_messages import MsgType, NackCode, build_payload, parse_payload

REPLY_TIMEOUT_S = 1.0  # how long a NACK is awaited (the spec's limit for a ping is its own)


def _exchange(dut: Ws100Driver, raw: bytes, seq: int):
    dut.link.send_raw(raw)
    return dut.link.wait_reply(seq, REPLY_TIMEOUT_S)


def _nack_code(frame) -> int:
    if frame is None or frame.type != MsgType.NACK:
        return -1  # no NACK at all: the board answered normally, or not at all
    return parse_payload(MsgType.NACK, frame.payload).code


def test_bad_crc_is_nacked(dut: Ws100Driver, spec: ProductSpec, measure) -> None:
    """A SET_MODE frame with a corrupted CRC is NACKed with BAD_CRC and not executed."""
    seq = dut.link.next_seq()
    frame = bytearray(encode_frame(MsgType.SET_MODE, seq, build_payload(MsgType.SET_MODE,
                                                                        {"mode": 3})))
    frame[-1] ^= 0x5A
    reply = _exchange(dut, bytes(frame), seq)
    measure(spec.limit("nack_bad_crc"), _nack_code(reply), nominal=int(NackCode.BAD_CRC))


def test_unknown_command_is_nacked(dut: Ws100Driver, spec: ProductSpec, measure) -> None:
    """An unassigned message type is NACKed with UNKNOWN_TYPE."""
    seq = dut.link.next_seq()
    reply = _exchange(dut, encode_frame(0x3C, seq), seq)
    measure(spec.limit("nack_unknown_type"), _nack_code(reply),
            nominal=int(NackCode.UNKNOWN_TYPE))


def test_wrong_payload_length_is_nacked(dut: Ws100Driver, spec: ProductSpec, measure) -> None:
    """SET_MODE with three payload bytes instead of one is NACKed with BAD_LENGTH."""
    seq = dut.link.next_seq()
    reply = _exchange(dut, encode_frame(MsgType.SET_MODE, seq, b"\x01\x02\x03"), seq)
    measure(spec.limit("nack_bad_length"), _nack_code(reply), nominal=int(NackCode.BAD_LENGTH))


def test_garbage_then_valid_frame(dut: Ws100Driver, spec: ProductSpec, measure) -> None:
    """Line noise (including a fake sync and a lying length) before a PING: the PING is answered."""
    dut.link.send_raw(b"\x00\xff noise \xa5\xa5\x5a\x01\x01\x02\xff\x01" + bytes(range(40)))
    measure(spec.limit("ping_after_garbage"), dut.ping())
    measure(spec.limit("info_after_garbage"), dut.get_info().part_number)
