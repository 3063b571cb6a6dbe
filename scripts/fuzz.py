"""Long fuzzing, apart from CI: every decoder of every board and SCPI, 100,000 examples each.

    scripts/fuzz                          # every target, 100,000 examples each
    scripts/fuzz --examples 2000 tracker-frame-decoder scpi-parser
    scripts/fuzz --list

Each target feeds Hypothesis-generated input to one decoder and checks what must hold whatever
arrives, beyond "does not raise": a decoded frame re-encodes to exactly the bytes it came from (so
nothing was read that is not there); a valid frame after garbage is never lost, however the stream
is chunked; a payload that parses rebuilds byte for byte; the SCPI parser answers every message
and files any error under a standard code, never the -200 it uses for its own bugs. The count of
examples run and every crash (the minimal input Hypothesis shrank it to, and the traceback) are
printed; the exit status is 1 when anything crashed.

CI runs every target with a few dozen seeded examples (tests/test_fuzz_tool.py), and the same
kinds of properties in tests/test_protocol.py, tests/test_tracker_codec.py and
tests/test_scpi_parser.py under the deterministic profile of tests/conftest.py.
"""

from __future__ import annotations

import argparse
import binascii
import itertools
import re
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kits import installed_kits
from drivers.errors import DutError
from drivers.scpi import CommandError, Identity, Instrument, InstrumentError
from emulators.scpi import ERRORS, Call, ScpiDevice, fmt_number, scpi
from protocols import gatt, tracker_frames, tracker_messages
from protocols.errors import PayloadError, ProtocolError
from protocols.ws100_frames import (
    CRC_SIZE,
    HEADER_SIZE,
    MAX_PAYLOAD,
    SYNC,
    Frame,
    FrameDecoder,
    decode_frame,
    encode_frame,
)
from protocols.ws100_messages import (
    DECLARATIONS,
    RESPONSE_BIT,
    build_payload,
    parse_payload,
)

WIRE_TYPES = sorted({int(t) for t in DECLARATIONS} | {int(t) | RESPONSE_BIT for t in DECLARATIONS})


class Counter:
    """Counts the examples a target really ran (Hypothesis may stop early on a small space)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def _frames() -> st.SearchStrategy[tuple[int, int, bytes]]:
    return st.tuples(st.sampled_from([*WIRE_TYPES, 0x00, 0x3C, 0xFF]), st.integers(0, 255),
                     st.binary(max_size=64) | st.binary(min_size=MAX_PAYLOAD - 2,
                                                        max_size=MAX_PAYLOAD))


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def target_frame_decoder(tick: Counter) -> Callable[..., None]:
    """FrameDecoder.feed over any chunking: frames come out whole, at their true offsets."""

    @given(st.lists(st.one_of(_frames(), st.binary(max_size=40)), max_size=10),
           st.lists(st.integers(0, 1 << 16), max_size=30))
    def run(pieces: list, cuts: list[int]) -> None:
        tick()
        stream = b"".join(encode_frame(*p) if isinstance(p, tuple) else p for p in pieces)
        decoder = FrameDecoder()
        events = [e for chunk in _chunked(stream, cuts) for e in decoder.feed(chunk)]
        while decoder.pending:
            before = decoder.pending
            events += decoder.drop_partial()
            assert decoder.pending < before, "drop_partial did not consume a byte"
        for event in events:
            assert isinstance(event, Frame | ProtocolError | str), type(event)
            if isinstance(event, Frame):
                size = HEADER_SIZE + len(event.payload) + CRC_SIZE
                raw = stream[event.offset:event.offset + size]
                assert decode_frame(raw, event.offset) == event, "frame offset points elsewhere"
        # a valid frame that follows bytes holding no sync byte is never lost
        clean = b"".join(p.replace(SYNC[:1], b"") for p in pieces if isinstance(p, bytes))
        framed = [p for p in pieces if isinstance(p, tuple)]
        stream = clean + b"".join(encode_frame(*p) for p in framed)
        decoder = FrameDecoder()
        got = [e for chunk in _chunked(stream, cuts) for e in decoder.feed(chunk)]
        assert [(f.type, f.seq, f.payload) for f in got if isinstance(f, Frame)] == \
            [(t, s, p) for t, s, p in framed]

    return run


def target_decode_frame(tick: Counter) -> Callable[..., None]:
    """decode_frame: a frame or a ProtocolError; an accepted frame is exactly its bytes."""

    @given(st.one_of(st.binary(max_size=600),
                     st.binary(max_size=80).map(lambda b: SYNC + b"\x01" + b),
                     _frames().flatmap(lambda f: st.tuples(st.just(encode_frame(*f)),
                                                           st.integers(0, 600),
                                                           st.integers(0, 255)))
                     .map(lambda t: _flip(*t))))
    def run(raw: bytes) -> None:
        tick()
        try:
            frame = decode_frame(raw)
        except ProtocolError:
            return
        assert encode_frame(frame.type, frame.seq, frame.payload, frame.version) == raw

    return run


def _flip(raw: bytes, position: int, mask: int) -> bytes:
    """One byte of a valid frame changed (or none, when mask is 0)."""
    data = bytearray(raw)
    data[position % len(data)] ^= mask
    return bytes(data)


def target_parse_payload(tick: Counter) -> Callable[..., None]:
    """parse_payload for every wire type: a PayloadError, or fields that rebuild the bytes."""

    @given(st.sampled_from([*WIRE_TYPES, 0x00, 0x09, 0x7E, 0xC1]),
           st.one_of(st.binary(max_size=64),
                     st.builds(lambda n, body: bytes([n]) + body, st.integers(0, 255),
                               st.text("ABC-019", max_size=40).map(str.encode))))
    def run(wire_type: int, payload: bytes) -> None:
        tick()
        try:
            fields = parse_payload(wire_type, payload)
        except PayloadError:
            return
        values = {k: v for k, v in fields.items() if not k.startswith("_")}
        assert build_payload(wire_type, values) == payload, "parsed fields do not rebuild"

    return run


class FuzzMeter(ScpiDevice):
    """A device with every parameter kind the emulators use (numbers, booleans, choices,
    channel lists), so the parser's every path is reached."""

    idn = "citebench,fuzz,0,1"

    def reset(self) -> None:
        self.volts, self.on, self.source = 0.0, False, "IMM"

    @scpi("[SOURce]:VOLTage[:LEVel][:IMMediate]")
    def voltage(self, call: Call) -> str | None:
        if call.query:
            return fmt_number(self.volts)
        call.no_more_than(2)
        self.volts = call.number(0, low=0, high=6, default=1.5)
        if len(call.args) > 1:
            call.channels(1, [1, 2, 3])
        return None

    @scpi("OUTPut[:STATe]")
    def output(self, call: Call) -> str | None:
        if call.query:
            return "1" if self.on else "0"
        self.on = call.boolean(0)
        return None

    @scpi("TRIGger:SOURce")
    def trigger(self, call: Call) -> str | None:
        if call.query:
            return self.source
        self.source = call.choice(0, ["IMMediate", "BUS", "EXTernal"])
        return None


_SCPI_TOKENS = ["VOLT", "volt", "SOUR", ":SOUR", "VOLTage", ":LEV", "LEVel", "IMM", "OUTP",
                "outp:stat", "TRIG:SOUR", "*IDN?", "*RST", "*CLS", "*OPC?", "SYST:ERR?", "?",
                ";", ";:", ":", ",", " ", "\t", "1.5", "-1", "9e9", "3300mV", "3.3V", "MIN", "MAX",
                "DEF", "ON", "OFF", "BUS", "(@1)", "(@1,3)", "(@1:3)", "(@", "(@:)", "#", "\"",
                "nan", "inf", "1e-400", "0x10"]


def target_scpi_parser(tick: Counter) -> Callable[..., None]:
    """ScpiDevice.execute: any message is answered, and its errors carry standard codes."""

    @given(st.one_of(st.text(max_size=60),
                     st.lists(st.sampled_from(_SCPI_TOKENS), max_size=12).map("".join)))
    def run(message: str) -> None:
        tick()
        device = FuzzMeter()
        reply = device.execute(message)
        assert reply is None or isinstance(reply, bytes)
        for code, text in device.errors:
            assert code in ERRORS and code != -200, f"{code},{text!r} for {message!r}"
            assert '"' not in text and text.isascii()
        assert device.execute("*IDN?") == b"citebench,fuzz,0,1", "parser state damaged"

    return run


# --- the tracker: COBS frames with CRC-32 ---------------------------------------------------------
TRACKER_TYPES = sorted({int(t) for t in tracker_messages.MsgType}
                       | {int(t) | tracker_messages.RESPONSE_BIT for t in tracker_messages.MsgType})


def _tracker_frames() -> st.SearchStrategy[bytes]:
    """Wire bytes of valid tracker frames: any type, a status (refusals carry no payload)."""
    body = tracker_frames.MAX_FRAME - tracker_frames.HEADER_SIZE - tracker_frames.CRC_SIZE
    return st.one_of(
        st.tuples(st.sampled_from([*TRACKER_TYPES, 0x00, 0x3C]),
                  st.binary(max_size=48) | st.binary(min_size=body - 2, max_size=body))
        .map(lambda t: tracker_frames.encode_frame(t[0], t[1])),
        st.tuples(st.sampled_from(TRACKER_TYPES), st.integers(1, 255))
        .map(lambda t: tracker_frames.encode_frame(t[0], b"", t[1])))


def target_tracker_cobs(tick: Counter) -> Callable[..., None]:
    """cobs_encode/cobs_decode: any bytes round-trip with no zero on the wire; any block decodes
    or raises CobsError, and what it decodes to round-trips in turn."""

    @given(st.binary(max_size=700) | st.lists(st.sampled_from([b"\x00", b"\x01", b"\xff" * 254,
                                                               b"x" * 253]), max_size=6)
           .map(b"".join))
    def run(data: bytes) -> None:
        tick()
        stuffed = tracker_frames.cobs_encode(data)
        assert 0 not in stuffed, "a zero byte on the wire"
        assert len(stuffed) <= len(data) + 1 + len(data) // 254, "COBS overhead exceeded"
        assert tracker_frames.cobs_decode(stuffed) == data
        try:
            plain = tracker_frames.cobs_decode(data, 5)
        except tracker_frames.CobsError as error:
            assert 5 <= error.offset < 5 + len(data), error
            return
        assert tracker_frames.cobs_decode(tracker_frames.cobs_encode(plain)) == plain

    return run


def target_tracker_decode_frame(tick: Counter) -> Callable[..., None]:
    """tracker decode_frame: a Frame or a ProtocolError; an accepted frame holds exactly the
    unstuffed bytes, CRC-32 included."""

    @given(st.one_of(st.binary(max_size=300),
                     st.tuples(_tracker_frames(), st.integers(0, 300), st.integers(0, 255))
                     .map(lambda t: _flip(*t))))
    def run(wire: bytes) -> None:
        tick()
        stuffed = wire.strip(b"\x00") if wire[:1] == b"\x00" else wire
        try:
            frame = tracker_frames.decode_frame(stuffed, 3)
        except ProtocolError as error:
            assert error.offset >= 3, error
            return
        raw = tracker_frames.cobs_decode(stuffed)
        body = bytes([frame.type, frame.status]) + frame.payload
        assert raw == body + binascii.crc32(body).to_bytes(4, "little"), "frame is not its bytes"
        assert frame.offset == 3 and len(raw) <= tracker_frames.MAX_FRAME

    return run


def target_tracker_frame_decoder(tick: Counter) -> Callable[..., None]:
    """tracker FrameDecoder.feed over any chunking, with boot-log lines and garbage between
    frames: frames come out at their offsets, and none after zero-free garbage is lost."""

    text = st.text("abc XYZ:=.\t", max_size=30).map(lambda t: (t + "\n").encode())
    garbage = st.binary(max_size=40)

    @given(st.lists(st.one_of(_tracker_frames(), text, garbage.map(bytearray)), max_size=10),
           st.lists(st.integers(0, 1 << 16), max_size=30))
    def run(pieces: list, cuts: list[int]) -> None:
        tick()
        stream = b"".join(bytes(p) for p in pieces)
        decoder = tracker_frames.FrameDecoder()
        events = [e for chunk in _chunked(stream, cuts) for e in decoder.feed(chunk)]
        events += decoder.drop_partial()
        assert decoder.pending == 0
        for event in events:
            assert isinstance(event, tracker_frames.Frame | ProtocolError | str), type(event)
            if isinstance(event, tracker_frames.Frame):
                end = stream.index(b"\x00", event.offset)
                assert tracker_frames.decode_frame(stream[event.offset:end], event.offset) == \
                    event, "frame offset points elsewhere"
        # every frame survives garbage without zeros and text lines before it
        framed = [p for p in pieces if isinstance(p, bytes) and p[:1] == b"\x00"]
        noise = b"".join(bytes(p).replace(b"\x00", b"") for p in pieces if p[:1] != b"\x00")
        decoder = tracker_frames.FrameDecoder()
        got = [e for chunk in _chunked(noise + b"".join(framed), cuts)
               for e in decoder.feed(chunk)]
        want = [tracker_frames.decode_frame(f[1:-1]) for f in framed]
        assert [(f.type, f.status, f.payload) for f in got
                if isinstance(f, tracker_frames.Frame)] == \
            [(f.type, f.status, f.payload) for f in want]

    return run


def target_tracker_parse_payload(tick: Counter) -> Callable[..., None]:
    """tracker parse_payload for every type: a PayloadError, or fields that rebuild the bytes."""

    @given(st.sampled_from([*TRACKER_TYPES, 0x00, 0x0A, 0x7F, 0xE1]),
           st.one_of(st.binary(max_size=40),
                     st.builds(lambda head, n, body: head + bytes([n]) + body,
                               st.binary(min_size=9, max_size=9), st.integers(0, 255),
                               st.text("ab1.-", max_size=20).map(str.encode))))
    def run(msg_type: int, payload: bytes) -> None:
        tick()
        try:
            fields = tracker_messages.parse_payload(msg_type, payload)
        except PayloadError:
            return
        values = {k: v for k, v in fields.items() if not k.startswith("_")}
        assert tracker_messages.build_payload(msg_type, values) == payload, "does not rebuild"

    return run


# --- each board's codec, as the serial link drives it ---------------------------------------------
def _ws100_wire_frames() -> st.SearchStrategy[bytes]:
    return _frames().map(lambda f: encode_frame(*f))


# board -> wire bytes of its valid frames (a kit without an entry is fuzzed with raw bytes only)
KIT_FRAMES: dict[str, Callable[[], st.SearchStrategy[bytes]]] = {
    "ws100": _ws100_wire_frames,
    "tracker": _tracker_frames,
}


def codec_target(board: str) -> Callable[[Counter], Callable[..., None]]:
    def target(tick: Counter) -> Callable[..., None]:
        codec_class = installed_kits()[board].load("codec")
        frames = KIT_FRAMES.get(board, lambda: st.nothing())()

        @given(st.lists(st.one_of(frames, st.binary(max_size=40)), max_size=8),
               st.lists(st.integers(0, 1 << 16), max_size=20))
        def run(pieces: list[bytes], cuts: list[int]) -> None:
            tick()
            codec = codec_class()
            decoder = codec.decoder()
            stream = b"".join(pieces)
            events = [e for chunk in _chunked(stream, cuts) for e in decoder.feed(chunk)]
            events += decoder.drop_partial()
            decoded = [e for e in events if not isinstance(e, ProtocolError | str)]
            for event in events:
                assert isinstance(codec.describe(event), str)
            for frame in decoded:
                codec.is_unsolicited(frame)
                hash(codec.key(frame))
                for request in decoded[:3]:
                    try:
                        codec.check_reply(request, frame)
                    except DutError:
                        pass
                    except ProtocolError:  # a WS-100 NACK whose own payload does not parse:
                        pass  # a PayloadError today, so ERROR where the board is at fault

        return run

    target.__doc__ = (f"the {board} kit's codec: its decoder over any bytes and chunking, then "
                      "describe, key and check_reply on every frame: a DutError at most")
    return target


# --- the WS-100's radio: GATT value formats and the advertising payload ---------------------------
def _radio_formats() -> dict[str, object]:
    """Every construct a kit's radio protocol decodes notifications and adverts with."""
    found: dict[str, object] = {}
    for board, kit in sorted(installed_kits().items()):
        if kit.radio_protocol:
            module = kit.load("radio_protocol")
            found |= {f"{board}:{uuid}": fmt for uuid, fmt in module.FORMATS.items()}
            found[f"{board}:manufacturer"] = module.MANUFACTURER_PAYLOAD
    # the control service's reply (a plan parses it) and request (the emulator parses it);
    # ES_TRIGGER_MIN_INTERVAL is only ever built, so it is no decoder
    found |= {"gatt:control-reply": gatt.CONTROL_REPLY,
              "gatt:control-request": gatt.CONTROL_REQUEST}
    return found


def target_gatt_formats(tick: Counter) -> Callable[..., None]:
    """Each GATT value format and advertising payload: a parse error (construct's) or a value
    that builds back to the bytes it was read from."""
    formats = _radio_formats()

    @given(st.sampled_from(sorted(formats)), st.binary(max_size=24))
    def run(name: str, data: bytes) -> None:
        tick()
        fmt = formats[name]
        try:
            value = fmt.parse(data)
        except gatt.PARSE_ERRORS:
            return
        built = fmt.build(value)
        assert built == data[:len(built)], f"{name}: {data.hex()} read as {value!r}"

    return run


# --- the driver's side of SCPI: replies of *IDN? and SYST:ERR? ------------------------------------
class _Replies:
    """A pyvisa resource that answers every query with the next scripted line."""

    resource_name = "TCPIP0::192.0.2.9::5025::SOCKET"

    def __init__(self, lines: list[str]) -> None:
        self.lines, self.timeout = list(lines), 2000

    def write(self, text: str) -> None:
        pass

    def read(self) -> str:
        return self.lines.pop(0) if self.lines else '+0,"No error"'


_REPLY_TOKENS = ["+0", "0", "-113", "-222", "+1", "12", ",", " ", '"', "No error", "Undefined",
                 "header", "\t", ";", "-", "+", "x", "1.5", "e"]


def target_scpi_replies(tick: Counter) -> Callable[..., None]:
    """drivers.scpi: an `*IDN?` answer is an Identity or an InstrumentError; `SYST:ERR?`
    answers are read until a 0 code, and anything else is a CommandError or InstrumentError
    naming the resource, never taken as "no error"."""

    @given(st.lists(st.one_of(st.text(max_size=30),
                              st.lists(st.sampled_from(_REPLY_TOKENS), max_size=8).map("".join)),
                    min_size=1, max_size=4))
    def run(replies: list[str]) -> None:
        tick()
        try:
            identity = Identity.parse(replies[0], "psu")
        except InstrumentError as error:
            assert str(error).startswith("psu: ")
        else:
            assert ",".join(str(v) for v in vars(identity).values()).count(",") >= 3
        instrument = Instrument(_Replies(replies))
        try:
            instrument.check_errors("VOLT 1")
        except CommandError as error:
            assert error.errors and all(code != 0 for code, _ in error.errors)
        except InstrumentError as error:
            assert _Replies.resource_name in str(error)
        else:
            assert re.match(r"\s*[+-]?0+\b", replies[0]), f"{replies[0]!r} taken as no error"

    return run


TARGETS: dict[str, Callable[[Counter], Callable[..., None]]] = {
    "ws100-frame-decoder": target_frame_decoder,
    "ws100-decode-frame": target_decode_frame,
    "ws100-parse-payload": target_parse_payload,
    "tracker-cobs": target_tracker_cobs,
    "tracker-decode-frame": target_tracker_decode_frame,
    "tracker-frame-decoder": target_tracker_frame_decoder,
    "tracker-parse-payload": target_tracker_parse_payload,
    **{f"{board}-codec": codec_target(board) for board in sorted(installed_kits())},
    "gatt-formats": target_gatt_formats,
    "scpi-parser": target_scpi_parser,
    "scpi-replies": target_scpi_replies,
}


def fuzz(name: str, examples: int, seed: int, out=sys.stdout) -> tuple[int, str | None]:
    """Run one target; returns (examples run, crash report or None)."""
    tick = Counter()
    test = TARGETS[name](tick)
    configured = settings(max_examples=examples, database=None, deadline=None,
                          derandomize=False, phases=[Phase.generate, Phase.shrink],
                          suppress_health_check=list(HealthCheck), print_blob=True)(test)
    started = time.monotonic()
    try:
        hypothesis_seed(seed)(configured)()
    except Exception:
        crash = traceback.format_exc()
    else:
        crash = None
    rate = tick.count / max(time.monotonic() - started, 1e-9)
    print(f"{name:22} {tick.count:>9,} examples  {rate:>8,.0f}/s  "
          f"{'CRASH' if crash else 'ok'}", file=out, flush=True)
    return tick.count, crash


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--examples", type=int, default=100_000, help="per target")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed (same seed, "
                        "same examples)")
    parser.add_argument("--list", action="store_true", help="name the targets, run nothing")
    args = parser.parse_args(argv)
    if args.list:
        for name, factory in TARGETS.items():
            print(f"{name:22} {factory.__doc__}")
        return 0
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s) {', '.join(sorted(unknown))}; known: "
                     f"{', '.join(TARGETS)}")
    total, crashes = 0, []
    for name in args.targets or TARGETS:
        count, crash = fuzz(name, args.examples, args.seed)
        total += count
        if crash:
            crashes.append((name, crash))
    for name, crash in crashes:
        print(f"\n== crash in {name} ==\n{crash}")
    print(f"{total:,} examples in all, {len(crashes)} crash(es), seed {args.seed}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
