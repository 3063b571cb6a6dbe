"""Long fuzzing, apart from CI: every WS-100 decoder and the SCPI parser, 100,000 examples each.

    scripts/fuzz                          # every target, 100,000 examples each
    scripts/fuzz --examples 2000 frame-decoder scpi-parser
    scripts/fuzz --seed 7 --list

Each target feeds Hypothesis-generated input to one decoder and checks what must hold whatever
arrives, beyond "does not raise": a decoded frame re-encodes to exactly the bytes it came from (so
nothing was read that is not there); a valid frame after garbage is never lost, however the stream
is chunked; a payload that parses rebuilds byte for byte; the SCPI parser answers every message
and files any error under a standard code, never the -200 it uses for its own bugs. The count of
examples run and every crash (the minimal input Hypothesis shrank it to, and the traceback) are
printed; the exit status is 1 when anything crashed.

CI runs the same properties, fewer examples, in tests/test_protocol.py and
tests/test_scpi_parser.py under the deterministic profile of tests/conftest.py.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulators.scpi import ERRORS, Call, ScpiDevice, fmt_number, scpi
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


TARGETS: dict[str, Callable[[Counter], Callable[..., None]]] = {
    "frame-decoder": target_frame_decoder,
    "decode-frame": target_decode_frame,
    "parse-payload": target_parse_payload,
    "scpi-parser": target_scpi_parser,
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
    print(f"{name:14} {tick.count:>9,} examples  {rate:>8,.0f}/s  "
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
            print(f"{name:14} {factory.__doc__}")
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
