"""The emulated firmware's protocol handler: one frame (or protocol error) in, response frames out.

    >>> from protocols.ws100_frames import decode_frame
    >>> fw = Firmware(BoardModel(seed=1))
    >>> [decode_frame(out).name for out in fw.handle(decode_frame(encode_frame(MsgType.PING, 3)))]
    ['PING_RSP']

It builds every payload with the same construct declarations the driver parses with.
"""

from __future__ import annotations

from emulators.ws100_board import BoardModel
from protocols.ws100_frames import (
    HEADER_SIZE,
    CrcError,
    Frame,
    ProtocolError,
    VersionError,
    encode_frame,
)
from protocols.ws100_messages import (
    RESPONSE_BIT,
    Mode,
    MsgType,
    NackCode,
    build_payload,
    parse_payload,
)


def ble_address_bytes(address: str) -> bytes:
    return bytes.fromhex(address.replace(":", ""))


class Firmware:
    """Answers requests from the board model's state; the serial face owns the byte stream."""

    def __init__(self, board: BoardModel) -> None:
        self.board = board
        self.reset_pending = False

    def handle(self, event: Frame | ProtocolError) -> list[bytes]:
        """Answer one decoded frame or decoding error; a RESET is carried out by `reset_pending`."""
        if isinstance(event, ProtocolError):
            return self._handle_error(event)
        try:
            msg_type = MsgType(event.type)
        except ValueError:
            return [self._nack(event.type, event.seq, NackCode.UNKNOWN_TYPE)]
        if msg_type in (MsgType.TELEMETRY, MsgType.NACK):
            return [self._nack(event.type, event.seq, NackCode.UNKNOWN_TYPE)]
        try:
            request = parse_payload(msg_type, event.payload)
        except ProtocolError:
            return [self._nack(event.type, event.seq, NackCode.BAD_LENGTH)]
        return self._dispatch(msg_type, event.seq, request)

    def _handle_error(self, error: ProtocolError) -> list[bytes]:
        raw = error.raw
        if isinstance(error, CrcError) and "crc-ignored" in self.board.defects:
            # the defect: the firmware never checks the CRC and executes the frame anyway
            return self.handle(Frame(raw[3], raw[4], raw[HEADER_SIZE:-2], raw[2], error.offset))
        if len(raw) < HEADER_SIZE:
            return []  # garbage without a header: nothing to answer, just resynchronize
        code = {CrcError: NackCode.BAD_CRC, VersionError: NackCode.UNSUPPORTED_VERSION}.get(
            type(error), NackCode.BAD_LENGTH
        )
        return [self._nack(raw[3], raw[4], code)]

    @staticmethod
    def _nack(request_type: int, seq: int, code: NackCode) -> bytes:
        payload = build_payload(MsgType.NACK, {"request_type": request_type, "code": code})
        return encode_frame(MsgType.NACK, seq, payload)

    def _dispatch(self, msg_type: MsgType, seq: int, request) -> list[bytes]:
        board = self.board
        values: dict = {}
        if msg_type is MsgType.PING:
            values = {"data": request.data}
        elif msg_type is MsgType.GET_INFO:
            ident = board.identity
            major, minor, patch = board.firmware_tuple
            values = {
                "serial": ident.serial, "part_number": ident.part_number,
                "hw_revision": ident.hw_revision, "fw_major": major, "fw_minor": minor,
                "fw_patch": patch, "ble_address": ble_address_bytes(ident.ble_address),
            }
        elif msg_type is MsgType.READ_SENSORS:
            values = board.read_sensors().to_wire()
        elif msg_type is MsgType.SET_MODE:
            if request.mode not in Mode._value2member_map_:
                return [self._nack(msg_type, seq, NackCode.BAD_VALUE)]
            board.set_mode(Mode(request.mode))
            values = {"mode": request.mode}
        elif msg_type is MsgType.SELF_TEST:
            values = {"failed": int(board.self_test())}
        elif msg_type is MsgType.SET_STREAM:
            if request.enabled and not 1 <= request.rate_hz <= 200:
                return [self._nack(msg_type, seq, NackCode.BAD_VALUE)]
            board.set_stream(bool(request.enabled), request.rate_hz)
            values = {"enabled": request.enabled, "rate_hz": request.rate_hz}
        elif msg_type is MsgType.FACTORY_WRITE_SERIAL:
            if not board.write_serial(request.serial):
                return [self._nack(msg_type, seq, NackCode.ALREADY_PROVISIONED)]
            values = {"serial": request.serial}
        elif msg_type is MsgType.RESET:
            # the ack leaves before the reboot: the face sends it, then calls board.reset()
            self.reset_pending = True
        return [encode_frame(msg_type | RESPONSE_BIT, seq,
                             build_payload(msg_type | RESPONSE_BIT, values))]
