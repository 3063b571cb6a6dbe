"""Firmware upload throughput: drivers/dfu.py beside bare smpclient, same board, same run.

    python benchmarks/bench_dfu.py              # about 20 s on 2 cores
    python benchmarks/bench_dfu.py --rounds 3   # quicker, noisier

The emulated WS-100 (MCUboot model, SMP server on its UART, a pty) runs in its own process so its
threads do not compete with the measured client for the GIL. The same imgtool-signed image goes
to slot 1 alternately through `DfuDriver.upload` (our `serial_for_url` transport, progress and
exchange log) and through bare smpclient (`SMPClient` on its own `SMPSerialTransport`, which
opens the pty's device path). Both wait for the board's simulated flash time, so the figure is
the whole path a plan sees; the goal is the driver at no less than 0.9x bare smpclient.

Always exits 0 when the measurements ran: the figures are the product; missed goals are shouted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL = 0.9


def serve(public_der: bytes, ports: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    from emulators.serial_transport import open_transport
    from emulators.ws100_board import BoardModel
    from emulators.ws100_serial import SerialFace

    board = BoardModel(seed=1)
    board.bootloader.provision(public_der)
    with SerialFace(board, open_transport("pty")) as face:
        ports.put(face.port)
        stop.wait()


def with_driver(port: str, image: bytes) -> float:
    from drivers.dfu import DfuDriver

    with DfuDriver(port) as dfu:
        return dfu.upload(image, progress=lambda offset, size: None).bytes_per_s


def with_bare_smpclient(port: str, image: bytes) -> float:
    from smpclient import SMPClient
    from smpclient.transport.serial import SMPSerialTransport

    async def upload() -> float:
        async with SMPClient(SMPSerialTransport(), port) as client:
            started = time.monotonic()
            async for _ in client.upload(image):
                pass
            return len(image) / (time.monotonic() - started)

    return asyncio.run(upload())


def main() -> int:
    try:
        from drivers.dfu import make_key, public_key_der, sign_image
    except ModuleNotFoundError as missing:
        print(f"skipped: the dfu extra is not installed ({missing}); pip install -e '.[dfu]'")
        return 0

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--size", type=int, default=96 * 1024, help="image body bytes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        key = make_key(Path(tmp) / "bench.pem")
        body = random.Random(1).randbytes(args.size)
        image = sign_image(body, "1.5.0", key, Path(tmp) / "image.bin")
        ports: multiprocessing.Queue = multiprocessing.Queue()
        stop = multiprocessing.Event()
        board = multiprocessing.Process(target=serve, args=(public_key_der(key), ports, stop))
        board.start()
        try:
            port = ports.get(timeout=30)
            figures: dict[str, list[float]] = {"driver": [], "bare smpclient": []}
            for _ in range(args.rounds):  # alternate, so load on the machine hits both alike
                figures["driver"].append(with_driver(port, image))
                figures["bare smpclient"].append(with_bare_smpclient(port, image))
        finally:
            stop.set()
            board.join(timeout=10)
    driver, bare = (statistics.median(figures[k]) for k in ("driver", "bare smpclient"))
    ratio = driver / bare
    print(f"upload of a {len(image)}-byte image over SMP on a pty, median of {args.rounds}")
    print(f"{'path':<28}{'throughput':>16}")
    print(f"{'DfuDriver.upload':<28}{driver / 1024:>12.1f} KiB/s")
    print(f"{'bare smpclient':<28}{bare / 1024:>12.1f} KiB/s")
    verdict = "met" if ratio >= GOAL else "MISSED <<<<<<<<<<"
    print(f"ratio driver/bare: {ratio:.2f}x (goal: at least {GOAL}x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
