"""Serial path benchmarks, each figure beside a reference measured in the same run.

    python benchmarks/bench_serial.py              # about 15 s on 2 cores
    python benchmarks/bench_serial.py --pings 500  # quicker, noisier

1. PING round trip through the driver vs a bare pyserial write/read of the same frame bytes on
   the same pty (goal: driver median at most 1.5x). The emulated board runs in its own process so
   its threads do not compete with the measured client for the GIL.
2. TELEMETRY frame decode rate on the driver's real path (`decode_frame` + `parse_payload`, and
   `FrameDecoder.feed` over a stream) vs a hand-written `struct` + `binascii` decoder of the same
   frame (goal: at least 0.2x), and vs the frame rate of a saturated 3 Mbaud line.
3. Wall time of the serial test plans vs the same pytest command collecting only (start-up cost).

Always exits 0 when the measurements ran: the figures are the product; missed goals are shouted.
"""

from __future__ import annotations

import argparse
import binascii
import multiprocessing
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import serial

from drivers.serial_link import SerialLink
from drivers.ws100 import Ws100Driver
from drivers.ws100_codec import Ws100Codec
from protocols.ws100_frames import (
    CRC_INIT,
    CRC_SIZE,
    MAX_PAYLOAD,
    SYNC,
    VERSION,
    FrameDecoder,
    decode_frame,
    encode_frame,
)
from protocols.ws100_messages import RESPONSE_BIT, MsgType, build_payload, parse_payload

ROOT = Path(__file__).resolve().parent.parent
SERIAL_PLANS = [f"testplans/ws100/test_{name}.py" for name in
                ("identification", "link", "sensors", "selftest", "robustness", "telemetry")]
PING_DATA = b"citebench"  # Ws100Driver.ping()'s default payload
_TELEMETRY_TYPE = int(MsgType.TELEMETRY)
LINE_BAUD = 3_000_000
BITS_PER_BYTE = 10  # start + 8 data + stop
ROUNDS = 10  # driver and bare blocks alternate, so drift in machine load hits both alike


@dataclass(frozen=True)
class Row:
    name: str
    figure: str
    reference: str
    ratio: float
    goal: str  # e.g. "<= 1.5x"; empty when the figure has no goal
    met: bool | None


# --- the emulated board, in a process of its own ---------------------------------------------
def _serve_board(conn) -> None:
    from emulators.ws100_board import BoardModel
    from emulators.ws100_serial import SerialFace

    board = BoardModel(seed=1)
    with SerialFace(board) as face:
        conn.send(face.port)
        conn.recv()  # any message (or the pipe closing) stops the board
    board.shutdown()


# --- 1. round trip ----------------------------------------------------------------------------
@dataclass
class Timings:
    """Round-trip times, and this process's CPU time (user + system, all threads) spent on them."""

    times: list[float] = field(default_factory=list)
    cpu_s: float = 0.0

    def run(self, call: Callable[[], object], count: int, warmup: int) -> None:
        for _ in range(warmup):
            call()
        cpu = time.process_time()
        for _ in range(count):
            start = time.perf_counter()
            call()
            self.times.append(time.perf_counter() - start)
        self.cpu_s += time.process_time() - cpu


def driver_round_trips(port: str, count: int, warmup: int, log: Path, into: Timings) -> None:
    """PINGs through Ws100Driver, with the traffic log written to a file as in a test plan."""
    link = SerialLink(port, Ws100Codec())
    link.traffic.begin(log)
    with link:
        into.run(Ws100Driver(link).ping, count, warmup)


def bare_round_trips(port: str, count: int, warmup: int, into: Timings) -> None:
    """The same PING frame written with plain pyserial; reads exactly the reply frame's bytes."""
    request = encode_frame(MsgType.PING, 1, PING_DATA)
    reply_size = len(encode_frame(MsgType.PING | RESPONSE_BIT, 1, PING_DATA))
    with serial.Serial(port, 115200, timeout=1.0) as ser:
        ser.reset_input_buffer()  # the boot banner, if the board printed it before we opened

        def echo() -> None:
            ser.write(request)
            if len(ser.read(reply_size)) != reply_size:
                raise RuntimeError(f"{port}: PING reply shorter than {reply_size} bytes")

        into.run(echo, count, warmup)


def round_trip_rows(count: int) -> list[Row]:
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    emulator = ctx.Process(target=_serve_board, args=(theirs,), daemon=True)
    emulator.start()
    driver, bare = Timings(), Timings()
    try:
        if not ours.poll(30):
            raise RuntimeError("the emulated board did not report its pty within 30 s")
        port = ours.recv()
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(ROUNDS):
                driver_round_trips(port, count // ROUNDS, 50, Path(tmp) / "traffic.log", driver)
                bare_round_trips(port, count // ROUNDS, 50, bare)
    finally:
        ours.send("stop")
        emulator.join(timeout=5)
    n = len(driver.times)
    median = statistics.median(driver.times) / statistics.median(bare.times)
    p99 = _p99(driver.times) / _p99(bare.times)
    cpu = driver.cpu_s / bare.cpu_s
    return [
        Row(f"PING round trip median (n={n})", _us(statistics.median(driver.times)),
            f"{_us(statistics.median(bare.times))} bare pyserial", median, "<= 1.5x",
            median <= 1.5),
        Row("PING round trip p99", _us(_p99(driver.times)), f"{_us(_p99(bare.times))} bare", p99,
            "", None),
        Row("  client CPU per PING", _us(driver.cpu_s / n), f"{_us(bare.cpu_s / n)} bare", cpu,
            "", None),
    ]


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} us"


# --- 2. decode rate ---------------------------------------------------------------------------
_HEADER = struct.Struct("<2sBBBH")
_TELEMETRY = struct.Struct("<IIhHIH")


class TelemetryFields(NamedTuple):
    counter: int
    uptime_ms: int
    temperature_cdeg: int
    humidity_cpct: int
    pressure_dpa: int
    battery_mv: int


def hand_decode(raw: bytes) -> tuple[int, TelemetryFields]:
    """The reference: decode_frame's checks and parse_payload's named fields, without construct."""
    sync, version, msg_type, seq, length = _HEADER.unpack_from(raw)
    if sync != SYNC or length > MAX_PAYLOAD or len(raw) != _HEADER.size + length + CRC_SIZE:
        raise ValueError("bad sync or length")
    if binascii.crc_hqx(raw[2:-2], CRC_INIT) != int.from_bytes(raw[-2:], "little"):
        raise ValueError("bad CRC")
    if version != VERSION or msg_type != _TELEMETRY_TYPE or length != _TELEMETRY.size:
        raise ValueError("not a version 1 TELEMETRY frame")
    return seq, TelemetryFields._make(_TELEMETRY.unpack_from(raw, _HEADER.size))


def telemetry_frame(counter: int) -> bytes:
    payload = build_payload(MsgType.TELEMETRY, {
        "counter": counter, "uptime_ms": 1000 * counter, "temperature_cdeg": 2150,
        "humidity_cpct": 4500, "pressure_dpa": 1_013_250, "battery_mv": 3700})
    return encode_frame(MsgType.TELEMETRY, counter, payload)


def _rate(run: Callable[[], int], repeats: int = 5) -> float:
    """Frames per second of the best of `repeats` runs (the least disturbed by the machine)."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        frames = run()
        best = max(best, frames / (time.perf_counter() - start))
    return best


def decode_rows(count: int) -> list[Row]:
    raw = telemetry_frame(7)
    frames = [raw] * count
    stream = b"".join(telemetry_frame(i) for i in range(count))
    chunks = [stream[i:i + 4096] for i in range(0, len(stream), 4096)]
    parsed = parse_payload(MsgType.TELEMETRY, decode_frame(raw).payload)
    assert hand_decode(raw)[1]._asdict() == {k: v for k, v in parsed.items() if k[0] != "_"}, \
        "the reference decoder disagrees with decode_frame + parse_payload"

    def path() -> int:
        for one in frames:
            frame = decode_frame(one)
            parse_payload(frame.type, frame.payload)
        return count

    def feed() -> int:
        decoder = FrameDecoder()
        decoded = 0
        for chunk in chunks:
            for frame in decoder.feed(chunk):
                parse_payload(frame.type, frame.payload)
                decoded += 1
        assert decoded == count
        return decoded

    def reference() -> int:
        for one in frames:
            hand_decode(one)
        return count

    ref = _rate(reference)
    line = LINE_BAUD / BITS_PER_BYTE / len(raw)
    rows = []
    for name, rate in (("decode_frame + parse_payload", _rate(path)),
                       ("FrameDecoder.feed + parse_payload", _rate(feed))):
        rows.append(Row(f"{name} ({len(raw)} B)", f"{rate / 1e3:.1f} k/s",
                        f"{ref / 1e3:.1f} k/s struct+crc_hqx", rate / ref, ">= 0.2x",
                        rate / ref >= 0.2))
        rows.append(Row("  same, vs a saturated 3 Mbaud line", f"{rate / 1e3:.1f} k/s",
                        f"{line / 1e3:.1f} k/s line", rate / line, ">= 1x (keeps up)",
                        rate >= line))
    return rows


# --- 3. serial plan wall time -------------------------------------------------------------------
def _pytest_seconds(*extra: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", *SERIAL_PLANS, "-q", *extra],
                          cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - start, done


def plan_rows() -> list[Row]:
    plan, done = _pytest_seconds()
    collect, _ = _pytest_seconds("--collect-only")
    verdict = "passed"
    if done.returncode:
        verdict = f"FAILED (pytest exit {done.returncode})"
        tail = (done.stdout + done.stderr).strip().splitlines()[-6:]
        print("serial plan failed; the time below is not the plan's; its last lines:",
              *tail, sep="\n  ", file=sys.stderr)
    return [Row(f"serial plan wall time, {verdict}", f"{plan:.2f} s",
                f"{collect:.2f} s collect-only", plan / collect, "", None)]


# --- the table ----------------------------------------------------------------------------------
def print_table(rows: list[Row]) -> None:
    header = ("benchmark", "figure", "reference", "ratio", "goal", "result")
    cells = [header] + [
        (r.name, r.figure, r.reference, f"{r.ratio:.2f}x", r.goal or "-",
         "-" if r.met is None else "met" if r.met else "NOT MET") for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for i, row in enumerate(cells):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * width for width in widths))
    missed = [r for r in rows if r.met is False]
    for r in missed:
        print(f"\n!!! GOAL NOT MET: {r.name.strip()}: {r.figure} vs {r.reference} = "
              f"{r.ratio:.2f}x, goal {r.goal} !!!")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pings", type=int, default=2000, help="timed round trips per path")
    parser.add_argument("--frames", type=int, default=20_000, help="frames per decode run")
    parser.add_argument("--no-plan", action="store_true", help="skip the serial plan's wall time")
    args = parser.parse_args(argv)
    rows = round_trip_rows(args.pings) + decode_rows(args.frames)
    if not args.no_plan:
        rows += plan_rows()
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
