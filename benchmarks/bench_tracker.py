"""Tracker kit benchmarks, each figure beside a reference measured in the same run.

    python benchmarks/bench_tracker.py               # about 15 s on 2 cores
    python benchmarks/bench_tracker.py --requests 500

1. IDENTIFY round trip through TrackerDriver (one request in flight, COBS, CRC-32, traffic log
   to a file) vs a bare pyserial write/read of the same frame bytes on the same pty (goal: driver
   median at most 1.5x). The emulated tracker runs in its own process, away from the client's GIL.
2. REPORT frame decode rate on the driver's real path (`FrameDecoder.feed` over a stream, then
   `parse_payload`) vs a hand-written COBS + `struct` + `binascii.crc32` decoder making the same
   checks (goal: at least 0.2x), and vs the frame rate of a saturated 3 Mbaud line (at least 1x).

Always exits 0 when the measurements ran: the figures are the product; missed goals are shouted.
"""

from __future__ import annotations

import argparse
import binascii
import multiprocessing
import statistics
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import serial

from drivers.serial_link import SerialLink
from drivers.tracker import TrackerDriver
from drivers.tracker_codec import TrackerCodec
from protocols.tracker_frames import FrameDecoder, encode_frame
from protocols.tracker_messages import MsgType, build_payload, parse_payload

ROUNDS = 10  # driver and bare blocks alternate, so drift in machine load hits both alike
LINE_BAUD, BITS_PER_BYTE = 3_000_000, 10


def _serve_board(conn) -> None:
    from emulators.serial_transport import open_transport
    from emulators.tracker_board import TrackerBoard
    from emulators.tracker_serial import SerialFace

    board = TrackerBoard(seed=1)
    with SerialFace(board, open_transport("pty")) as face:
        conn.send(face.port)
        conn.recv()  # any message (or the pipe closing) stops the board
    board.shutdown()


def _timed(call: Callable[[], object], count: int, into: list[float]) -> None:
    for _ in range(50):  # warm-up
        call()
    for _ in range(count):
        start = time.perf_counter()
        call()
        into.append(time.perf_counter() - start)


def round_trips(count: int) -> tuple[list[float], list[float]]:
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    emulator = ctx.Process(target=_serve_board, args=(theirs,), daemon=True)
    emulator.start()
    driver_times: list[float] = []
    bare_times: list[float] = []
    request = encode_frame(MsgType.IDENTIFY)
    try:
        if not ours.poll(30):
            raise RuntimeError("the emulated tracker did not report its pty within 30 s")
        port = ours.recv()
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(ROUNDS):
                link = SerialLink(port, TrackerCodec())
                link.traffic.begin(Path(tmp) / "traffic.log")
                with link:
                    _timed(TrackerDriver(link).identify, count // ROUNDS, driver_times)
                with serial.Serial(port, 115200, timeout=1.0) as ser:
                    reply = b""
                    ser.write(request)
                    while not reply.endswith(b"\x00") or len(reply) < 3:
                        reply += ser.read(1)
                    size = len(reply)

                    def bare(ser: serial.Serial = ser, size: int = size) -> None:
                        ser.write(request)
                        if len(ser.read(size)) != size:
                            raise RuntimeError(f"{port}: IDENTIFY reply shorter than {size}")

                    _timed(bare, count // ROUNDS, bare_times)
    finally:
        ours.send("stop")
        emulator.join(timeout=5)
    return driver_times, bare_times


_REPORT = struct.Struct("<BBHIBB")
_CRC = struct.Struct("<I")


def hand_decode(stuffed: bytes) -> tuple:
    """The reference: COBS, CRC-32 and the REPORT fields with the standard library alone."""
    raw, i = bytearray(), 0
    while i < len(stuffed):
        code = stuffed[i]
        if code == 0 or i + code > len(stuffed):
            raise ValueError("bad COBS")
        raw += stuffed[i + 1:i + code]
        i += code
        if code != 255 and i < len(stuffed):
            raw.append(0)
    if len(raw) != _REPORT.size + _CRC.size or \
            binascii.crc32(raw[:-4]) != _CRC.unpack_from(raw, _REPORT.size)[0]:
        raise ValueError("bad length or CRC")
    kind, status, *fields = _REPORT.unpack_from(raw)
    if kind != MsgType.REPORT or status:
        raise ValueError("not a REPORT")
    return tuple(fields)


def _rate(run: Callable[[], int], repeats: int = 5) -> float:
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        frames = run()
        best = max(best, frames / (time.perf_counter() - start))
    return best


def decode_rates(frames: int) -> tuple[float, float, int]:
    wire = [encode_frame(MsgType.REPORT, build_payload(MsgType.REPORT, {
        "counter": n & 0xFFFF, "uptime_ms": 1000 * n, "fix": 3, "satellites": 9}))
        for n in range(frames)]
    stream = b"".join(wire)
    chunks = [stream[i:i + 4096] for i in range(0, len(stream), 4096)]

    def ours() -> int:
        decoder, count = FrameDecoder(), 0
        for chunk in chunks:
            for frame in decoder.feed(chunk):
                parse_payload(frame.type, frame.payload)
                count += 1
        assert count == frames, count
        return count

    def theirs() -> int:
        count = 0
        for chunk in stream.split(b"\x00"):
            if chunk:
                hand_decode(chunk)
                count += 1
        assert count == frames, count
        return count

    return _rate(ours), _rate(theirs), len(wire[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--frames", type=int, default=20_000)
    args = parser.parse_args()
    driver, bare = round_trips(args.requests)
    ours, theirs, size = decode_rates(args.frames)
    line = LINE_BAUD / BITS_PER_BYTE / size
    trip = statistics.median(driver) / statistics.median(bare)
    rows = [
        (f"IDENTIFY round trip median (n={len(driver)})",
         f"{statistics.median(driver) * 1e6:.0f} us",
         f"{statistics.median(bare) * 1e6:.0f} us bare pyserial", trip, "<= 1.5x", trip <= 1.5),
        (f"REPORT decode ({size} B frames)", f"{ours:,.0f} frames/s",
         f"{theirs:,.0f} frames/s hand-written", ours / theirs, ">= 0.2x", ours / theirs >= 0.2),
        ("REPORT decode vs 3 Mbaud line", f"{ours:,.0f} frames/s", f"{line:,.0f} frames/s line",
         ours / line, ">= 1x", ours / line >= 1),
    ]
    print(f"{'figure':44} {'ours':>18} {'reference':>34} {'ratio':>7}  goal")
    for name, figure, reference, ratio, goal, met in rows:
        verdict = "met" if met else "MISSED"
        print(f"{name:44} {figure:>18} {reference:>34} {ratio:6.2f}x  {goal} {verdict}")


if __name__ == "__main__":
    main()
