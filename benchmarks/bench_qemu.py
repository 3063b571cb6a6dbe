"""Firmware in the loop: the WS-100's firmware under QEMU beside its Python model, in one run.

    python benchmarks/bench_qemu.py            # about a minute on 2 cores
    python benchmarks/bench_qemu.py --quick    # no whole-job runs

1. Request/response round trip: 300 PINGs (8-byte payload) through the bench's serial link on a
   pty, median and 95th percentile, for the Python model and for the firmware under QEMU
   (whose UART is relayed from its socket chardev). Goal: QEMU median at most 5 ms (the plans'
   limit is 30 ms).
2. Boot: supply output on to the banner's "ready" line on the console, median of 5 power
   cycles; the QEMU figure includes resuming the guest from its reset vector. Goal: at most 200 ms
   (the power-on plan's limit), and the QEMU process start (launch to QMP answering) for
   information.
3. The whole job: `bench run` on fixtures/ws100-emulated.toml and fixtures/ws100-qemu.toml, wall
   time as an operator sees it (plans, report, archive). Goal for QEMU: at most 60 s.

Always exits 0 when the measurements ran: the figures are the product; missed goals are shouted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from drivers.serial_link import SerialLink
from drivers.ws100 import Ws100Driver
from drivers.ws100_codec import Ws100Codec
from emulators.interfaces import BoardSettings
from emulators.qemu import QemuMachine, qemu_available
from emulators.qemu_board import QemuBoard, firmware_image
from emulators.qemu_ws100 import PHYSICS
from emulators.serial_transport import open_transport
from emulators.ws100 import Ws100Emulator

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "firmware" / "ws100" / "build" / "ws100.elf"
PINGS, BOOTS = 300, 5


def python_board() -> Ws100Emulator:
    return Ws100Emulator(BoardSettings(seed=1, powered=False))


def qemu_board() -> QemuBoard:
    return QemuBoard(BoardSettings(seed=1, powered=False), IMAGE, "mps2-an385", PHYSICS)


@contextmanager
def served(factory: Callable[[], object]) -> Iterator[tuple[object, Ws100Driver]]:
    board = factory()
    face = board.serial_face(open_transport("pty")).start()
    link = SerialLink(face.port, Ws100Codec(), timeout_s=1.0).open()
    try:
        yield board, Ws100Driver(link)
    finally:
        link.close()
        face.close()
        board.shutdown()


def boot_s(board, dut: Ws100Driver) -> float:
    """Output on to the console's "ready", one power cycle."""
    board.power.supply(0.0)
    dut.link.clear_console()
    start = time.perf_counter()
    board.power.supply(3.7)
    dut.link.expect(r"ready\r?\n", 2.0)
    return time.perf_counter() - start


def measure(factory: Callable[[], object]) -> dict[str, float]:
    with served(factory) as (board, dut):
        boots = [boot_s(board, dut) for _ in range(BOOTS)]
        rtts = sorted(dut.ping(b"citebench") for _ in range(PINGS))
    return {"rtt_median": statistics.median(rtts), "rtt_p95": rtts[int(0.95 * len(rtts))],
            "boot": statistics.median(boots)}


def qemu_start_s() -> float:
    image = firmware_image(IMAGE, ())
    times = []
    for _ in range(3):
        start = time.perf_counter()
        with QemuMachine(image, "mps2-an385") as vm:
            vm.running()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def job_s(station: str) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as reports:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bench", "run", "--station", station,
                               "--reports", reports, "--no-index"], cwd=ROOT,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
    verdict = next((line.split()[-1] for line in done.stdout.splitlines()
                    if line.startswith("verdict:")), f"exit {done.returncode}")
    return seconds, verdict


def row(name: str, python: float, qemu: float, goal: str, ok: bool, scale: float = 1e3,
        unit: str = "ms") -> None:
    mark = "ok" if ok else "MISSED"
    print(f"{name:34} {python * scale:10.2f} {qemu * scale:10.2f} {unit:3} {goal:>14} {mark}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="leave out the whole-job runs")
    args = parser.parse_args()
    missing = qemu_available()
    if missing:
        print(f"bench_qemu: {missing}; nothing to measure")
        return 0
    python, qemu = measure(python_board), measure(qemu_board)
    print(f"{'':34} {'python':>10} {'qemu':>10}")
    row("PING round trip, median", python["rtt_median"], qemu["rtt_median"], "qemu <= 5 ms",
        qemu["rtt_median"] <= 0.005)
    row("PING round trip, 95th percentile", python["rtt_p95"], qemu["rtt_p95"], "-", True)
    row("output on to banner, median", python["boot"], qemu["boot"], "<= 200 ms",
        max(python["boot"], qemu["boot"]) <= 0.2)
    start = qemu_start_s()
    print(f"{'QEMU process start (to QMP)':34} {'':10} {start * 1e3:10.2f} ms")
    if not args.quick:
        (py_s, py_verdict), (q_s, q_verdict) = (job_s("fixtures/ws100-emulated.toml"),
                                                job_s("fixtures/ws100-qemu.toml"))
        row("whole job (bench run)", py_s, q_s, "qemu <= 60 s", q_s <= 60 and
            q_verdict == "PASS", scale=1, unit="s")
        print(f"{'  verdicts':34} {py_verdict:>10} {q_verdict:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
