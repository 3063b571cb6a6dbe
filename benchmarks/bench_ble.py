"""BLE path benchmarks, each figure beside the same figure measured with Bumble alone in this run.

    python benchmarks/bench_ble.py              # about 20 s on 2 cores
    python benchmarks/bench_ble.py --cycles 5   # quicker, noisier

1. Scan-connect-read-notify cycle: find the board by address, connect, read the serial number,
   subscribe to temperature, wait for one notification, disconnect. Through the driver
   (`BleRadio`, bleak's public API, our Bumble backend) vs a Bumble-only central doing the same
   steps with one powered-on `Device` (goal: driver median at most 1.5x).
2. ATT read round trip (Serial Number, median of `--reads`): the driver's own cost, since the
   cycle above is mostly waiting for the next advertising event (goal: at most 3x).
3. Notification throughput: notifications received per second with the three environmental
   characteristics subscribed, through the driver vs Bumble alone (goal: at least 0.9x).

The emulated board runs in its own process (20 ms advertising, 1 kHz notification tick) so its
event loop does not compete with the measured client for the GIL. Both clients reach it through
the same `tcp-client:` transport. Exits 0 when the measurements ran: missed goals are shouted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time

from bumble.device import Device, Peer
from bumble.hci import Address
from bumble.transport import open_transport

from drivers.ble import BleRadio
from protocols import gatt
from protocols.ws100_messages import Mode

ADDRESS = "C0:FF:EE:00:01:23"
NOTIFY_RATE_HZ = 1000
ENVIRONMENT = (gatt.TEMPERATURE_UUID, gatt.HUMIDITY_UUID, gatt.PRESSURE_UUID)


def _serve(ready: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    from bench.kits import board_kit
    from emulators.radio import RadioFace
    from emulators.ws100 import radio_identity
    from emulators.ws100_board import BoardModel

    board = BoardModel(seed=1)
    board.set_mode(Mode.RADIO_TEST)
    board.set_stream(False, NOTIFY_RATE_HZ)
    face = RadioFace(board, **radio_identity(board_kit("ws100").product_spec().data)).start()
    ready.put(face.resource)
    stop.wait()
    face.close()
    board.shutdown()


# --- through the driver -----------------------------------------------------------------------
def driver_cycle(radio: BleRadio) -> float:
    start = time.perf_counter()
    advert = radio.scan(address=ADDRESS, timeout=5)
    with radio.connect(advert.address) as link:
        link.read(gatt.SERIAL_NUMBER)
        link.subscribe(gatt.TEMPERATURE_UUID)
        link.expect(gatt.TEMPERATURE_UUID, timeout=5)
    return time.perf_counter() - start


def driver_reads(radio: BleRadio, count: int) -> list[float]:
    with radio.connect(ADDRESS) as link:
        times = []
        for _ in range(count):
            start = time.perf_counter()
            link.read(gatt.SERIAL_NUMBER)
            times.append(time.perf_counter() - start)
        return times


def driver_throughput(radio: BleRadio, window_s: float) -> float:
    with radio.connect(ADDRESS) as link:
        for uuid in ENVIRONMENT:
            link.subscribe(uuid)
        link.expect(ENVIRONMENT[-1])
        start = link.now()
        link.wait_disconnected(window_s)
        return sum(len(link.notifications(uuid, start)) for uuid in ENVIRONMENT) / window_s


# --- Bumble alone -----------------------------------------------------------------------------
class BumbleCentral:
    """The same steps written directly on Bumble: no bleak, no driver, no log."""

    def __init__(self, transport: str) -> None:
        self.transport = transport

    async def __aenter__(self) -> BumbleCentral:
        self.hci = await open_transport(self.transport)
        self.device = Device.with_hci("bench", Address("C1:23:45:67:89:AB"), self.hci.source,
                                      self.hci.sink)
        await self.device.power_on()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hci.close()

    async def _connected_peer(self) -> Peer:
        connection = await self.device.connect(Address(ADDRESS), timeout=5)
        peer = Peer(connection)
        await peer.request_mtu(247)
        await peer.discover_all()
        return peer

    async def cycle(self) -> float:
        start = time.perf_counter()
        seen = asyncio.get_running_loop().create_future()

        def on_advertisement(advertisement) -> None:
            if str(advertisement.address).split("/")[0] == ADDRESS and not seen.done():
                seen.set_result(None)

        self.device.on("advertisement", on_advertisement)
        await self.device.start_scanning(filter_duplicates=False)
        await seen
        await self.device.stop_scanning()
        self.device.remove_listener("advertisement", on_advertisement)
        peer = await self._connected_peer()
        await peer.read_value(peer.get_characteristics_by_uuid(
            _uuid(gatt.SERIAL_NUMBER))[0])
        notified = asyncio.get_running_loop().create_future()
        await peer.subscribe(peer.get_characteristics_by_uuid(_uuid(gatt.TEMPERATURE_UUID))[0],
                             lambda value: notified.done() or notified.set_result(value))
        await notified
        await peer.connection.disconnect()
        return time.perf_counter() - start

    async def reads(self, count: int) -> list[float]:
        peer = await self._connected_peer()
        serial = peer.get_characteristics_by_uuid(_uuid(gatt.SERIAL_NUMBER))[0]
        times = []
        for _ in range(count):
            start = time.perf_counter()
            await peer.read_value(serial)
            times.append(time.perf_counter() - start)
        await peer.connection.disconnect()
        return times

    async def throughput(self, window_s: float) -> float:
        peer = await self._connected_peer()
        count = 0

        def on_value(_value: bytes) -> None:
            nonlocal count
            count += 1

        for uuid in ENVIRONMENT:
            await peer.subscribe(peer.get_characteristics_by_uuid(_uuid(uuid))[0], on_value)
        await asyncio.sleep(0.05)  # let the subscriptions settle, as the driver's expect() does
        count = 0
        await asyncio.sleep(window_s)
        rate = count / window_s
        await peer.connection.disconnect()
        return rate


def _uuid(full: str):
    from bumble.core import UUID

    return UUID(full)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--window", type=float, default=2.0, help="throughput window in s")
    args = parser.parse_args()
    ready: multiprocessing.Queue = multiprocessing.Queue()
    stop = multiprocessing.Event()
    server = multiprocessing.Process(target=_serve, args=(ready, stop), daemon=True)
    server.start()
    transport = ready.get(timeout=20)
    radio = BleRadio("bumble", transport)
    loop = asyncio.new_event_loop()
    bumble = loop.run_until_complete(BumbleCentral(transport).__aenter__())
    try:
        driver_cycles, bumble_cycles = [], []
        for _ in range(args.cycles):  # alternate, so drift in machine load hits both alike
            driver_cycles.append(driver_cycle(radio))
            bumble_cycles.append(loop.run_until_complete(bumble.cycle()))
        driver_read = statistics.median(driver_reads(radio, args.reads))
        bumble_read = statistics.median(loop.run_until_complete(bumble.reads(args.reads)))
        driver_rate = driver_throughput(radio, args.window)
        bumble_rate = loop.run_until_complete(bumble.throughput(args.window))
    finally:
        loop.run_until_complete(bumble.__aexit__())
        radio.close()
        stop.set()
        server.join(timeout=10)
    cycle_d, cycle_b = statistics.median(driver_cycles), statistics.median(bumble_cycles)
    rows = [("scan-connect-read-notify cycle (median)", f"{cycle_d * 1000:.1f} ms",
             f"{cycle_b * 1000:.1f} ms", cycle_d / cycle_b, "<= 1.5x", cycle_d / cycle_b <= 1.5),
            ("ATT read round trip (median)", f"{driver_read * 1e6:.0f} us",
             f"{bumble_read * 1e6:.0f} us", driver_read / bumble_read, "<= 3x",
             driver_read / bumble_read <= 3),
            ("notification throughput", f"{driver_rate:.0f} /s", f"{bumble_rate:.0f} /s",
             driver_rate / bumble_rate, ">= 0.9x", driver_rate / bumble_rate >= 0.9)]
    print(f"emulated board: 20 ms advertising, {NOTIFY_RATE_HZ} Hz x 3 characteristics offered; "
          f"{args.cycles} cycles each, alternating")
    print(f"{'figure':42} {'driver+bleak':>14} {'Bumble alone':>14} {'ratio':>7}  goal")
    for name, figure, reference, ratio, goal, met in rows:
        print(f"{name:42} {figure:>14} {reference:>14} {ratio:7.2f}  {goal} "
              f"{'met' if met else 'MISSED'}")
    for name, *_, goal, met in rows:
        if not met:
            print(f"\n!!! GOAL NOT MET: {name} ({goal})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
