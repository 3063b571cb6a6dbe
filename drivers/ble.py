"""Bluetooth Low Energy driver for test plans: bleak behind a synchronous face, all traffic logged.

    radio = BleRadio(backend="bumble", transport="tcp-client:127.0.0.1:40213",
                     formats=gatt.FORMATS, manufacturer_payload=gatt.MANUFACTURER_PAYLOAD)
    advert = radio.scan(name="citebench-ws", timeout=5.0)
    with radio.connect(advert.address) as link:
        link.read(gatt.SERIAL_NUMBER)                    # b'CB-WS1-000123'
        link.subscribe(gatt.TEMPERATURE_UUID)
        link.expect(gatt.TEMPERATURE_UUID, lambda n: n.value > 20, timeout=1.0)
    print(radio.log.text())

bleak is asyncio; test plans read top to bottom. So the driver runs bleak's event loop in a thread
of its own and every public method hands a coroutine to it and waits for the result. Notifications
arrive on that thread and are appended to a history that `expect` searches from the caller's
thread. `backend="native"` calls bleak with no backend argument (the OS stack on a real desk);
`"bumble"` passes the Bumble classes of `drivers.bleak_bumble` bound to `transport`; `"broker"`
those of `drivers.bleak_broker` (`transport` "broker:/path.sock": a batch's slot, sharing the
station's one radio through bench/radio_broker.py).

The link is generic; what is one board's comes in as arguments: `formats` (characteristic UUID ->
construct, to decode `Notification.value`) and `manufacturer_payload` (to decode
`Advert.payload`). The WS-100's are in `protocols.gatt`.

A link lost under a step (not asked for by a disconnect) is re-established up to `reconnects`
times per link, each reconnect in the log, subscriptions renewed, the interrupted exchange run
again and a cut window of notifications collected afresh; past that it is `BleLinkLost`, a lost
resource that stops the run. `bench_faults` are the faults the station says its own radio path
has (`radio.*` of emulators/faults.py): errors name them, and a window of notifications that may
have lost some on the bench's side is not handed to a plan to judge (docs/ble.md, "Radio
faults").
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.backends.service import BleakGATTServiceCollection
from bleak.exc import BleakError
from construct import Construct, ConstructError, Container

from drivers import bleak_broker, bleak_bumble
from drivers.errors import ResourceLostError

# backend -> (scanner and client classes for a transport, the shared central's acquire)
_BLEAK_BACKENDS = {"broker": (bleak_broker.broker_backend, bleak_broker.acquire),
                   "bumble": (bleak_bumble.bumble_backend, bleak_bumble.acquire)}
BACKENDS = ("broker", "bumble", "native")
# A compiled parser meets short input with struct.error, the interpreted one with ConstructError.
_PARSE_ERRORS = (ConstructError, struct.error)


class BleError(Exception):
    """The radio could not do what was asked; the message names the device and the log."""


class BleTimeout(BleError, TimeoutError):
    """Nothing matching arrived in time."""


class BleLinkLost(BleError, ResourceLostError):
    """The link to the board was lost under a step and could not be re-established: every
    later radio step would fail for the same reason, so the run stops."""


@dataclass(frozen=True)
class Advert:
    """One advertisement as the scanner saw it, `at` on the `time.monotonic()` clock."""

    address: str
    name: str | None
    manufacturer_data: dict[int, bytes]
    service_uuids: list[str]
    tx_power: int | None
    rssi: int
    at: float
    payload_format: Construct | None = field(default=None, repr=False, compare=False)

    @property
    def company_id(self) -> int | None:
        """The company identifier of the one manufacturer-specific structure (None if not one)."""
        return next(iter(self.manufacturer_data)) if len(self.manufacturer_data) == 1 else None

    @property
    def payload(self) -> Container | None:
        """The board's manufacturer payload decoded, or None when absent, ambiguous or malformed.

        The company identifier is the product's (its product spec), so it is not looked up by a
        fixed key: a board advertises one manufacturer-specific structure."""
        if self.company_id is None or self.payload_format is None:
            return None
        try:
            return self.payload_format.parse(self.manufacturer_data[self.company_id])
        except _PARSE_ERRORS:
            return None


@dataclass(frozen=True)
class SequenceReport:
    """What the sequence numbers of counted notifications say about the ones that never came."""

    received: int
    lost: int  # numbers skipped between the first and the highest received
    reordered: int  # received after a higher number
    duplicated: int

    @property
    def loss_ratio(self) -> float:
        expected = self.received - self.duplicated + self.lost
        return self.lost / expected if expected else 0.0


def sequence_report(numbers: list[int], modulo: int = 0x10000) -> SequenceReport:
    """Loss, reordering and duplicates from wrapping sequence numbers in arrival order."""
    if not numbers:
        return SequenceReport(0, 0, 0, 0)
    half = modulo // 2
    # Position relative to the first arrival, signed so that a late one lands before it.
    offsets = [(number - numbers[0] + half) % modulo - half for number in numbers]
    seen: set[int] = set()
    highest, reordered = offsets[0], 0
    for offset in offsets:
        reordered += offset < highest and offset not in seen
        seen.add(offset)
        highest = max(highest, offset)
    span = max(seen) - min(seen) + 1
    return SequenceReport(len(numbers), span - len(seen), reordered, len(numbers) - len(seen))


@dataclass(frozen=True)
class Notification:
    uuid: str
    data: bytes
    at: float  # time.monotonic() on reception
    format: Construct | None = field(default=None, repr=False, compare=False)

    @property
    def value(self) -> Any:
        """Decoded with the characteristic's format when the radio knows one, else the bytes."""
        return self.format.parse(self.data) if self.format is not None else self.data


@dataclass
class BleLog:
    """Timestamped lines of one test's radio traffic; `begin()` starts a new test's log."""

    lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def begin(self, title: str = "") -> None:
        with self._lock:
            self.started = time.monotonic()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            self.lines = [f"# BLE log {title} started {stamp}; times in s since start"]

    def add(self, text: str, at: float | None = None) -> None:
        with self._lock:
            t = (time.monotonic() if at is None else at) - self.started
            self.lines.append(f"{t:10.6f} {text}")

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines) + "\n"


def _backend_report(client: BleakClient, name: str) -> Any:
    """What the backend knows that bleak's public API does not carry (connection parameters,
    disconnection reason): the Bumble backend reports them, native backends do not (None)."""
    return getattr(getattr(client, "_backend", None), name, None)


def _hex(data: bytes) -> str:
    return data.hex(" ") if data else "(empty)"


class BleRadio:
    """The station's radio: scans and opens connections; one event loop thread for its life."""

    def __init__(self, backend: str = "native", transport: str = "", *,
                 connect_retries: int = 2, connect_timeout_s: float = 5.0,
                 scan_timeout_s: float = 5.0, name: str = "", address: str = "",
                 formats: Mapping[str, Construct] | None = None,
                 manufacturer_payload: Construct | None = None,
                 log: BleLog | None = None, reconnects: int = 0,
                 bench_faults: Mapping[str, float] | None = None) -> None:
        if backend not in BACKENDS:
            raise BleError(f"[radio] backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "bumble" and not transport.startswith(("tcp-client:", "tcp-server:",
                                                             "serial:", "usb:", "pty:")):
            raise BleError(f"[radio] backend \"bumble\" needs a Bumble HCI transport as resource "
                           f"(e.g. tcp-client:127.0.0.1:PORT), got {transport!r}")
        if backend == "broker" and not transport.startswith(bleak_broker.PREFIX):
            raise BleError(f"[radio] backend \"broker\" needs the radio broker's socket as "
                           f"resource (broker:/path/to/socket), got {transport!r}")
        self.backend, self.transport = backend, transport
        self.connect_retries = connect_retries
        self.reconnects = reconnects  # per link: re-establish a link lost under a step
        self.bench_faults = {k: v for k, v in (bench_faults or {}).items() if v}
        self.connect_timeout_s = connect_timeout_s
        self.scan_timeout_s = scan_timeout_s
        self.name, self.address = name, address  # the board this station's radio looks for
        self.formats = dict(formats or {})  # the board's: characteristic UUID -> construct
        self.manufacturer_payload = manufacturer_payload
        self.log = log or BleLog()
        classes, acquire = _BLEAK_BACKENDS.get(backend, (None, None))
        self._scanner_cls, self._client_cls = classes(transport) if classes else (None, None)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ble-radio",
                                        daemon=True)
        self._thread.start()
        # Keep the Bumble central (or the broker's session) open for the radio's life instead
        # of per scan or connection.
        self._central = None
        if acquire is not None:
            try:
                self._central = self.run(acquire(transport), 10)
            except BleakError as error:
                self.close()
                raise BleError(f"[radio] resource {transport!r}: {error}") from error

    @property
    def where(self) -> str:
        return f"{self.backend} backend" + (f" on {self.transport}" if self.transport else "")

    def faults_note(self) -> str:
        """The station's own radio faults, for an error they may explain ("" when none)."""
        if not self.bench_faults:
            return ""
        return ("; this station's radio has bench faults on: "
                + ", ".join(f"{k} = {v:g}" for k, v in sorted(self.bench_faults.items())))

    @property
    def drops_notifications(self) -> float:
        """The probability the station gives its own radio path of losing a notification."""
        return self.bench_faults.get("radio.notify_drop_rate", 0.0)

    def run(self, coroutine: Coroutine, timeout: float | None = None) -> Any:
        """Run a coroutine on the radio's loop and wait for it (bleak's API, for the rare need)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def close(self) -> None:
        if self._central is not None:
            self.run(self._central.release(), 10)
            self._central = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def __enter__(self) -> BleRadio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _backend_kwargs(self) -> dict[str, Any]:
        return {} if self._scanner_cls is None else {"backend": self._scanner_cls}

    # --- scanning -------------------------------------------------------------------------
    def adverts(self, window_s: float, match: Callable[[Advert], bool] = lambda a: True,
                stop_after: int | None = None) -> list[Advert]:
        """Every advertisement matching `match` seen during `window_s` (or the first N)."""
        return self.run(self._adverts(window_s, match, stop_after), window_s + 10)

    async def _adverts(self, window_s: float, match: Callable[[Advert], bool],
                       stop_after: int | None) -> list[Advert]:
        seen: list[Advert] = []
        enough = asyncio.Event()

        def on_advert(device: BLEDevice, data: AdvertisementData) -> None:
            advert = Advert(device.address, data.local_name, dict(data.manufacturer_data),
                            list(data.service_uuids), data.tx_power, data.rssi, time.monotonic(),
                            self.manufacturer_payload)
            if match(advert) and not enough.is_set():
                seen.append(advert)
                self.log.add(f"ADV {advert.address} name={advert.name!r} rssi={advert.rssi} "
                             f"mfr={ {k: _hex(v) for k, v in advert.manufacturer_data.items()} } "
                             f"uuids={advert.service_uuids} tx={advert.tx_power}", advert.at)
                if stop_after is not None and len(seen) >= stop_after:
                    enough.set()

        scanner = BleakScanner(on_advert, **self._backend_kwargs())
        try:
            await scanner.start()
        except (BleakError, OSError) as error:  # no adapter, no D-Bus, transport refused
            raise BleError(f"{self.where}: cannot scan ({type(error).__name__}: {error})"
                           ) from error
        try:
            await asyncio.wait_for(enough.wait(), window_s)
        except TimeoutError:
            pass
        finally:
            await scanner.stop()
        return seen

    def scan(self, *, name: str | None = None, address: str | None = None,
             service: str | None = None, timeout: float | None = None) -> Advert:
        """The first advertisement from a device with this name, address and/or service."""
        timeout = self.scan_timeout_s if timeout is None else timeout
        wanted = {"name": name, "address": address and address.upper(), "service": service}

        others: set[str] = set()

        def match(advert: Advert) -> bool:
            wanted = ((name is None or advert.name == name)
                      and (address is None or advert.address.upper() == address.upper())
                      and (service is None or service.lower() in advert.service_uuids))
            if not wanted:
                others.add(f"{advert.address} {advert.name!r}")
            return wanted

        self.log.add(f"SCAN {', '.join(f'{k}={v}' for k, v in wanted.items() if v)} "
                     f"timeout={timeout} s")
        found = self.adverts(timeout, match, stop_after=1)
        if not found:
            raise BleTimeout(f"{self.where}: no advertisement matching "
                             f"{ {k: v for k, v in wanted.items() if v} } within {timeout} s; "
                             f"seen instead: {sorted(others) or 'nothing'}; see the BLE log")
        return found[0]

    def find(self, timeout: float | None = None) -> Advert:
        """The station's board (`[radio] name` and/or `address`) by its next advertisement."""
        if not (self.name or self.address):
            raise BleError("[radio] needs a name or an address to find the board by")
        return self.scan(name=self.name or None, address=self.address or None, timeout=timeout)

    # --- connections ----------------------------------------------------------------------
    def connect(self, address: str, retries: int | None = None) -> BleLink:
        """Connect, retrying up to `retries` more times; the link is discovered and ready."""
        link = BleLink(self, address)
        self._establish(link, retries)
        return link

    def _establish(self, link: BleLink, retries: int | None) -> None:
        """Connect `link`, each attempt and each failure in the log. A connection that fails to
        be established (no answer to the central's CONNECT_IND: HCI 0x3E) or times out is what a
        refused connection looks like from a central; each is retried alike."""
        retries = self.connect_retries if retries is None else retries
        errors: list[str] = []
        for attempt in range(1, retries + 2):
            self.log.add(f"CONNECT {link.address} attempt {attempt}/{retries + 1}")
            try:
                self.run(link._connect(), self.connect_timeout_s + 10)
                link.attempts = attempt
                return
            except (BleakError, TimeoutError, OSError) as error:
                errors.append(f"attempt {attempt}: {type(error).__name__}: {error}")
                self.log.add(f"CONNECT {link.address} refused or failed: {error}"
                             + ("; retrying" if attempt <= retries else ""))
        raise BleError(f"{link.address} on {self.where}: connection refused or failed, no "
                       f"connection after {retries + 1} attempt(s) ([radio] connect_retries = "
                       f"{retries}): " + "; ".join(errors) + self.faults_note()
                       + "; see the BLE log")


class BleLink:
    """One connection: services, ATT read/write, notifications, disconnection watch."""

    def __init__(self, radio: BleRadio, address: str) -> None:
        self.radio, self.address = radio, address
        self.attempts = 0
        self.reconnects = 0  # links re-established after a loss under a step
        self.unexpected_disconnect = False
        self.disconnected_at: float | None = None  # time.monotonic() when the drop was seen
        self.disconnect_reason: int | None = None  # HCI reason, where the backend reports it
        self.connection_parameters: dict[str, float] | None = None
        self._client: BleakClient | None = None
        self._closing = False
        self._disconnected = threading.Event()
        self._history: list[Notification] = []
        self._arrived = threading.Condition()
        self._subscriptions: dict[str, Callable[[object, bytearray], None]] = {}

    def __enter__(self) -> BleLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def _log(self, text: str, at: float | None = None) -> None:
        self.radio.log.add(text, at)

    async def _connect(self) -> None:
        kwargs = {} if self.radio._client_cls is None else {"backend": self.radio._client_cls}
        client = BleakClient(self.address, self._on_disconnect,
                             timeout=self.radio.connect_timeout_s, **kwargs)
        await client.connect()
        self._client, self._closing = client, False
        self._disconnected.clear()
        self.unexpected_disconnect = False
        self.disconnected_at = self.disconnect_reason = None
        self.connection_parameters = _backend_report(client, "connection_parameters")
        self._log(f"CONNECTED {self.address} mtu={client.mtu_size} parameters="
                  f"{self.connection_parameters or 'not reported by this backend'} services="
                  f"{[s.uuid for s in client.services]}")

    def _on_disconnect(self, client: BleakClient) -> None:
        self.disconnected_at = time.monotonic()
        if not self._closing:
            self.unexpected_disconnect = True
        self.disconnect_reason = _backend_report(client, "disconnect_reason")
        reason = ("" if self.disconnect_reason is None
                  else f" reason=0x{self.disconnect_reason:02X}")
        self._log(f"DISCONNECTED {self.address}{reason}"
                  + (" (unexpected)" if self.unexpected_disconnect else ""),
                  self.disconnected_at)
        self._disconnected.set()
        with self._arrived:  # a wait for a notification ends with the link
            self._arrived.notify_all()

    @property
    def supervision_timeout_s(self) -> float | None:
        """The link's supervision timeout as negotiated, where the backend reports it."""
        params = self.connection_parameters
        return None if params is None else params["supervision_timeout_ms"] / 1000

    @property
    def client(self) -> BleakClient:
        if self._client is None:
            raise BleError(f"{self.address}: not connected")
        return self._client

    @property
    def is_connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    @property
    def services(self) -> BleakGATTServiceCollection:
        return self.client.services

    @property
    def mtu(self) -> int:
        return self.client.mtu_size

    @property
    def lost(self) -> bool:
        """The link dropped without a disconnect being asked for, and is not back yet."""
        return self.unexpected_disconnect and self._disconnected.is_set()

    def _recover(self, what: str) -> None:
        """The link was lost under `what`: re-establish it (counted, logged, subscriptions
        renewed) if `[radio] reconnects` allows one more, else stop the run."""
        reason = ("" if self.disconnect_reason is None
                  else f", HCI reason 0x{self.disconnect_reason:02X}")
        if self.reconnects >= self.radio.reconnects:
            self._log(f"LINK LOST {self.address} during {what}{reason}: no reconnect left")
            raise BleLinkLost(f"{self.address} on {self.radio.where}: radio link lost during "
                              f"{what}{reason}; [radio] reconnects = {self.radio.reconnects} "
                              f"allows no (more) reconnect" + self.radio.faults_note()
                              + "; see the BLE log")
        self.reconnects += 1
        self._log(f"RECONNECT {self.address} {self.reconnects}/{self.radio.reconnects} after "
                  f"the link was lost during {what}{reason}")
        try:
            self.radio._establish(self, None)
            for uuid, on_notify in self._subscriptions.items():
                self._log(f"ATT subscribe {uuid} (renewed)")
                self.radio.run(self.client.start_notify(uuid, on_notify), 5.0)
        except (BleError, BleakError, TimeoutError) as error:
            raise BleLinkLost(f"{self.address} on {self.radio.where}: radio link lost during "
                              f"{what}{reason}, and reconnect {self.reconnects} failed: {error}"
                              ) from error

    def _call(self, what: str, operation: Callable[[], Coroutine], timeout: float = 5.0) -> Any:
        """Run one exchange; a link lost before or under it is re-established (where allowed)
        and the exchange run again, as the serial link repeats a request after a bad reply."""
        if self.lost:
            self._recover(what)
        try:
            return self.radio.run(operation(), timeout)
        except (BleakError, TimeoutError) as error:
            if not self.lost:
                self._log(f"ERROR {what}: {type(error).__name__}: {error}")
                raise BleError(f"{self.address} on {self.radio.where}: {what} failed "
                               f"({type(error).__name__}: {error}){self.radio.faults_note()}; "
                               f"see the BLE log") from error
        self._recover(what)
        return self._call(what, operation, timeout)

    def read(self, uuid: str) -> bytes:
        self._log(f"ATT read  {uuid}")
        data = bytes(self._call(f"read {uuid}", lambda: self.client.read_gatt_char(uuid)))
        self._log(f"ATT value {uuid} {_hex(data)}")
        return data

    def write(self, uuid: str, data: bytes, response: bool = True) -> None:
        self._log(f"ATT write {uuid} {_hex(data)}" + ("" if response else " (no response)"))
        self._call(f"write {uuid}",
                   lambda: self.client.write_gatt_char(uuid, data, response=response))
        self._log(f"ATT write {uuid} done")

    def subscribe(self, uuid: str) -> None:
        def on_notify(_char: object, data: bytearray) -> None:
            note = Notification(uuid, bytes(data), time.monotonic(),
                                self.radio.formats.get(uuid))
            self._log(f"NTF {uuid} {_hex(note.data)}", note.at)
            with self._arrived:
                self._history.append(note)
                self._arrived.notify_all()

        self._log(f"ATT subscribe {uuid}")
        self._call(f"subscribe {uuid}", lambda: self.client.start_notify(uuid, on_notify))
        self._subscriptions[uuid] = on_notify

    def unsubscribe(self, uuid: str) -> None:
        self._log(f"ATT unsubscribe {uuid}")
        self._subscriptions.pop(uuid, None)
        self._call(f"unsubscribe {uuid}", lambda: self.client.stop_notify(uuid))

    @staticmethod
    def now() -> float:
        """The clock notifications are stamped with; pass it as `after=` to `expect`."""
        return time.monotonic()

    def notifications(self, uuid: str, after: float = 0.0) -> list[Notification]:
        with self._arrived:
            return [n for n in self._history if n.uuid == uuid and n.at > after]

    def expect(self, uuid: str, predicate: Callable[[Notification], bool] = lambda n: True,
               timeout: float = 2.0, after: float | None = None) -> Notification:
        """The first notification on `uuid` received after `after` (default: now) that
        satisfies `predicate`, waiting up to `timeout` s for it."""
        after = self.now() if after is None else after
        deadline = time.monotonic() + timeout
        while True:
            with self._arrived:
                for note in self._history:
                    if note.uuid == uuid and note.at > after and predicate(note):
                        return note
                remaining = deadline - time.monotonic()
                if remaining > 0 and self.is_connected:
                    self._arrived.wait(remaining)
                    continue
            if remaining <= 0 or not self.lost:
                break
            started = time.monotonic()  # the time spent reconnecting is not the board's
            self._recover(f"waiting for a notification on {uuid}")
            deadline += time.monotonic() - started
        seen = [n for n in self.notifications(uuid, after)][-5:]
        raise BleTimeout(f"{self.address}: no notification on {uuid} satisfying the predicate "
                         f"within {timeout} s (connected: {self.is_connected}); last received: "
                         f"{[_hex(n.data) for n in seen] or 'none'}{self.radio.faults_note()}; "
                         f"see the BLE log")

    def collect(self, uuid: str, window_s: float) -> list[Notification]:
        """Every notification on `uuid` during the next `window_s` seconds, from an unbroken
        window: one cut by a lost link is discarded and collected again after the reconnect
        (figures across the gap would be wrong), and one that may have lost notifications on
        the bench's own side is refused with the fault named (docs/ble.md, "Radio faults")."""
        while True:
            start = self.now()
            self._disconnected.wait(window_s)  # returns early only if the link drops
            notes = [n for n in self.notifications(uuid, start) if n.at <= start + window_s]
            if not self.lost:
                break
            self._log(f"COLLECT {uuid}: window cut by the lost link after {len(notes)} "
                      f"notification(s), discarded")
            self._recover(f"collecting notifications on {uuid}")
        self._check_complete(uuid, notes)
        return notes

    def _check_complete(self, uuid: str, notes: list[Notification]) -> None:
        """Refuse a window the bench itself may have thinned: a counted characteristic (a `seq`
        field) shows whether it did; any other cannot tell, so it is refused outright."""
        rate = self.radio.drops_notifications
        if not rate:
            return
        numbers = [getattr(note.value, "seq", None) for note in notes]
        counted = bool(numbers) and None not in numbers
        report = sequence_report(numbers) if counted else None
        if report is not None and not (report.lost or report.reordered or report.duplicated):
            self._log(f"COLLECT {uuid}: {report.received} counted notifications, no gap")
            return
        found = (f"{report.lost} of its counted notifications missing" if report is not None
                 else "its notifications are not counted, so a loss cannot be seen")
        self._log(f"COLLECT {uuid}: window refused: {found}")
        raise BleError(f"{self.address} on {self.radio.where}: notifications on {uuid} cannot "
                       f"be judged: this station's own radio path loses notifications "
                       f"(radio.notify_drop_rate = {rate:g}) and {found}; a loss there says "
                       f"nothing about the board; see the BLE log")

    def wait_disconnected(self, timeout: float) -> bool:
        """True once the link is down (e.g. after the board was reset)."""
        return self._disconnected.wait(timeout)

    def reconnect(self, retries: int | None = None) -> BleLink:
        """A new connection to the same device (counted retries), history kept."""
        fresh = self.radio.connect(self.address, retries)
        fresh._history = self._history
        return fresh

    def disconnect(self) -> None:
        """Clean disconnect; a link already dropped is left as it is."""
        if self._client is None or not self._client.is_connected:
            self._client = None
            return
        self._closing = True
        self._log(f"DISCONNECT {self.address}")
        client, self._client = self._client, None
        try:
            self.radio.run(client.disconnect(), 10)
        except (BleakError, TimeoutError) as error:
            self._log(f"DISCONNECT {self.address} error: {error}")
