"""Instrument path benchmarks, each figure beside a reference measured in the same run.

    python benchmarks/bench_instruments.py               # about 15 s on 2 cores
    python benchmarks/bench_instruments.py --queries 500  # quicker, noisier

1. Query round trip through the driver (`psu.channel(1).voltage`: descriptor, formatting,
   error wrapping, parsing) vs a bare `resource.query("VOLT? (@1)")` on the same pyvisa-py
   session (goal: driver median at most 1.3x). A setting (command + `SYST:ERR?` in one write)
   is shown beside the same exchange in bare pyvisa, and beside the naive two writes.
2. A 100,000-point current capture through the driver (N6705C, binary float32 block read by
   pyvisa's own `query_binary_values` inside the driver) vs a bare `query_binary_values` of the
   same acquisition, both beside the acquisition window itself.
3. The same comparison for the 34465A digitiser (float64 block, 50 kS/s).

The emulated supply runs in its own process, so its threads do not compete with the measured
client for the GIL. Exits 0 when the measurements ran; a missed goal is shouted, not hidden.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from collections.abc import Callable

from drivers.dmm import Digitiser, Multimeter
from drivers.psu import PowerSupply, open_supply

ROUNDS = 4  # driver and bare blocks alternate, so drift in machine load hits both alike
CAPTURE_POINTS, CAPTURE_INTERVAL_S = 100_000, 10.24e-6
DIGITISER_POINTS, DIGITISER_INTERVAL_S = 50_000, 20e-6
GOAL_RATIO = 1.3


def serve(ports: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    from emulators.dmm import DmmEmulator
    from emulators.psu_n6700 import N6705C
    from emulators.scpi_server import ScpiServer
    from emulators.ws100_board import BoardModel

    board = BoardModel(powered=False, seed=1)
    with ScpiServer(N6705C(board, seed=1)) as psu, ScpiServer(DmmEmulator(board)) as dmm:
        ports.put((psu.resource, dmm.resource))
        stop.wait()
    board.shutdown()


def per_call(action: Callable[[], object], count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def interleaved(driver: Callable[[], object], bare: Callable[[], object], count: int
                ) -> tuple[float, float]:
    """Median seconds per call of each, measured in alternating blocks."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(ROUNDS):
        a += per_call(driver, count // ROUNDS)
        b += per_call(bare, count // ROUNDS)
    return statistics.median(a), statistics.median(b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=4000)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    ports, stop = context.Queue(), context.Event()
    server = context.Process(target=serve, args=(ports, stop), daemon=True)
    server.start()
    try:
        psu_resource, dmm_resource = ports.get(timeout=30)
        with open_supply(psu_resource, limits={"max_voltage": 4.4, "max_current": 0.5}) as psu, \
                Multimeter.open(dmm_resource) as dmm:
            report(psu, args.queries)
            report_digitiser(dmm)
    finally:
        stop.set()
        server.join(timeout=5)
    return 0


def report(psu: PowerSupply, queries: int) -> None:
    out, raw = psu.channel(1), psu.resource
    out.voltage = 3.7
    out.output = True
    for _ in range(200):  # warm up both paths
        out.voltage  # noqa: B018
        raw.query("VOLT? (@1)")
    driver, bare = interleaved(lambda: out.voltage, lambda: raw.query("VOLT? (@1)"), queries)
    ratio = driver / bare
    print(f"query round trip: driver {driver * 1e6:.0f} us vs bare pyvisa {bare * 1e6:.0f} us "
          f"-> {ratio:.2f}x (goal <= {GOAL_RATIO}x){'' if ratio <= GOAL_RATIO else '  MISSED'}")

    def bare_setting() -> None:
        raw.write("VOLT 3.7,(@1)\nSYST:ERR?")
        raw.read()

    def naive_setting() -> None:
        raw.write("VOLT 3.7,(@1)")
        raw.query("SYST:ERR?")

    setting, reference = interleaved(lambda: setattr(out, "voltage", 3.7), bare_setting,
                                     queries // 4)
    naive = statistics.median(per_call(naive_setting, 10))
    print(f"setting + error check: driver {setting * 1e6:.0f} us vs bare pyvisa with the same "
          f"single write {reference * 1e6:.0f} us -> {setting / reference:.2f}x; as two writes "
          f"(Nagle waits for the delayed ACK) {naive * 1e6:.0f} us")

    start = time.perf_counter()
    capture = out.capture(CAPTURE_POINTS, CAPTURE_INTERVAL_S)
    through_driver = time.perf_counter() - start
    start = time.perf_counter()
    with psu.extra_time(capture.duration_s):
        values = raw.query_binary_values("MEAS:ARR:CURR? (@1)", datatype="f",
                                          is_big_endian=True)
    through_pyvisa = time.perf_counter() - start
    assert len(values) == len(capture.amps) == CAPTURE_POINTS
    window = capture.duration_s
    print(f"capture of {CAPTURE_POINTS:,} points: driver {through_driver:.3f} s vs pyvisa "
          f"query_binary_values {through_pyvisa:.3f} s; acquisition window {window:.3f} s "
          f"(transfer + parse beyond the window: driver {through_driver - window:.3f} s, "
          f"pyvisa {through_pyvisa - window:.3f} s)")
    out.output = False


def report_digitiser(dmm: Multimeter) -> None:
    digitiser = Digitiser(dmm, 0.5)
    start = time.perf_counter()
    capture = digitiser.capture(DIGITISER_POINTS, DIGITISER_INTERVAL_S)
    through_driver = time.perf_counter() - start
    raw = dmm.resource
    start = time.perf_counter()
    raw.write("SAMP:SOUR TIM;:SAMP:COUN 50000;:FORM:DATA REAL,64;:INIT")
    with dmm.extra_time(capture.duration_s):
        values = raw.query_binary_values("FETC?", datatype="d", is_big_endian=True)
    through_pyvisa = time.perf_counter() - start
    raw.write("FORM:DATA ASC")
    assert len(values) == len(capture.amps) == DIGITISER_POINTS
    window = capture.duration_s
    print(f"digitiser capture of {DIGITISER_POINTS:,} points (34465A, 50 kS/s): driver "
          f"{through_driver:.3f} s vs pyvisa query_binary_values {through_pyvisa:.3f} s; window "
          f"{window:.3f} s (beyond the window: driver {through_driver - window:.3f} s, pyvisa "
          f"{through_pyvisa - window:.3f} s)")


if __name__ == "__main__":
    raise SystemExit(main())
