"""Firmware update over SMP (mcumgr) with smpclient: upload, image state, test, reset, confirm.

    >>> with DfuDriver("socket://127.0.0.1:4000") as dfu:          # doctest: +SKIP
    ...     result = dfu.upload(image, progress=print)
    ...     dfu.test(dfu.images()[1].hash); dfu.reset(); dfu.confirm()
    >>> DfuDriver(ADDRESS, BleLinkTransport(ble_link))                # doctest: +SKIP

Needs the `dfu` extra (`pip install -e '.[dfu]'`: smpclient, smp, imgtool); nothing in the core
imports this module, so a bench without the extra runs every other plan. smpclient's serial
transport opens only device paths; `UrlSerialTransport` opens any pyserial URL (a pty, a
`socket://` bridge, `rfc2217://`) with `serial_for_url`. Over BLE, `BleLinkTransport` carries
SMP on our BLE driver's link, so on the station's bleak backend (Bumble included): smpclient's
own BLE transport takes no backend. SMP shares the WS-100's UART with the
board's frames: `uart_handover` stops the telemetry stream and closes the board's link for the
update, then opens a fresh one (docs/dfu.md). `sign_image` and `make_key` run imgtool, as a lab's
release script does. Every SMP request and answer is kept in `exchange` for the step's record.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import serial
from smp import error as smperr
from smp import header as smphdr
from smp import image_management as smpimg
from smpclient import SMPClient
from smpclient.exceptions import SMPBadSequence, SMPUploadError
from smpclient.generics import SMPRequest, error, error_v1, error_v2
from smpclient.requests.image_management import ImageStatesRead, ImageStatesWrite
from smpclient.requests.os_management import EchoWrite, ResetWrite
from smpclient.transport import SMP_CHARACTERISTIC_UUID, SMPTransport
from smpclient.transport.serial import SMPSerialTransport

from drivers.ble import BleLink
from drivers.serial_link import SerialLink

SMP_CHARACTERISTIC = str(SMP_CHARACTERISTIC_UUID).lower()
POLL_S = 0.05  # wait_alive's echo period: the granularity of a reset-to-alive time
T = TypeVar("T")


class DfuError(Exception):
    """The board refused an SMP request: names the port, the request and the SMP error."""

    def __init__(self, port: str, request: str, code: str) -> None:
        super().__init__(f"{port}: SMP {request} refused: {code}")
        self.code = code


@dataclass(frozen=True)
class SlotState:
    """One row of the board's image list (SMP image state read)."""

    slot: int
    version: str
    hash: bytes
    pending: bool
    confirmed: bool
    active: bool
    permanent: bool


@dataclass(frozen=True)
class UploadResult:
    """An upload: its size, SHA-256, the wall time it took, and where the server started it
    (not 0 when it resumed an upload a reset or power cut interrupted)."""

    size: int
    sha256: bytes
    seconds: float
    started_at: int

    @property
    def bytes_per_s(self) -> float:
        return (self.size - self.started_at) / self.seconds


class UrlSerialTransport(SMPSerialTransport):
    """smpclient's base64 "SMP over console" transport on any pyserial URL."""

    alive_poll_s = POLL_S  # DfuDriver.wait_alive's echo period on a line a rebooting board drops

    def __init__(self, baudrate: int = 115200) -> None:
        super().__init__(baudrate=baudrate)
        self._baudrate = baudrate

    async def connect(self, address: str, timeout_s: float) -> None:
        self._reset_state()
        try:
            self._conn = serial.serial_for_url(address, baudrate=self._baudrate, timeout=0)
        except (serial.SerialException, OSError, ValueError) as failure:
            raise ConnectionError(f"SMP: cannot open {address}: {failure}") from failure
        self._conn.reset_input_buffer()


class BleLinkTransport(SMPTransport):
    """SMP over our BLE driver's link (so over whichever bleak backend the station names):
    requests written without response in MTU-sized pieces, answers gathered from notifications
    until the SMP header's length is complete."""

    def __init__(self, link: BleLink, timeout_s: float = 2.5) -> None:
        self._link = link
        self._timeout_s = timeout_s
        self._after = 0.0

    async def connect(self, address: str, timeout_s: float) -> None:
        self._after = self._link.now()
        self._link.subscribe(SMP_CHARACTERISTIC)

    async def disconnect(self) -> None:
        if self._link.is_connected:
            self._link.unsubscribe(SMP_CHARACTERISTIC)

    async def send(self, data: bytes) -> None:
        self._after = self._link.now()
        step = self.mtu
        for start in range(0, len(data), step):
            self._link.write(SMP_CHARACTERISTIC, data[start:start + step], response=False)

    async def receive(self) -> bytes:
        frame = bytearray()
        while len(frame) < smphdr.Header.SIZE or len(frame) < smphdr.Header.SIZE + \
                smphdr.Header.loads(frame[:smphdr.Header.SIZE]).length:
            note = self._link.expect(SMP_CHARACTERISTIC, timeout=self._timeout_s,
                                     after=self._after)
            self._after = note.at
            frame += note.data
        return bytes(frame)

    async def send_and_receive(self, data: bytes) -> bytes:
        await self.send(data)
        return await self.receive()

    @property
    def mtu(self) -> int:
        return self._link.mtu - 3  # an ATT write or notification carries MTU - 3 bytes


class DfuDriver:
    """One board's SMP server, reached through `transport` (serial URL by default); a
    synchronous facade: each call runs smpclient on the driver's own event loop."""

    def __init__(self, port: str, transport: SMPTransport | None = None,
                 timeout_s: float = 2.5) -> None:
        self.port = port
        self.exchange: list[str] = []  # the update's timeline: seconds since open, request, answer
        self._t0 = time.monotonic()
        self._timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._transport = transport or UrlSerialTransport()
        self._client = SMPClient(self._transport, port, timeout_s=timeout_s)

    def open(self) -> DfuDriver:
        self._run(self._client.connect())
        return self

    def close(self) -> None:
        self._run(self._client.disconnect())
        self._loop.close()

    def __enter__(self) -> DfuDriver:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _log(self, line: str) -> None:
        self.exchange.append(f"{time.monotonic() - self._t0:+9.3f} {line}")

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coroutine)

    def _request(self, request: SMPRequest, what: str) -> Any:
        self._log(f"> {what}")
        response = self._run(self._client.request(request))
        if error(response):
            code = _code(response)
            self._log(f"< refused {code}")
            raise DfuError(self.port, what, code)
        self._log(f"< ok {_summary(response)}")
        return response

    # --- image group ------------------------------------------------------------------------
    def images(self) -> list[SlotState]:
        response = self._request(ImageStatesRead(), "image state read")
        return [SlotState(i.slot, i.version, bytes(i.hash or b""), bool(i.pending),
                          bool(i.confirmed), bool(i.active), bool(i.permanent))
                for i in response.images]

    def upload(self, image: bytes,
               progress: Callable[[int, int], None] | None = None) -> UploadResult:
        """Upload `image` to slot 1; `progress(offset, size)` after every acknowledged chunk.
        Raises DfuError with the server's code, or when the server reports `match: false`;
        TimeoutError when the board stops answering (a power cut: upload again to resume)."""
        self._log(f"> image upload {len(image)} bytes")
        offsets: list[int] = []

        async def send() -> None:
            async for offset in self._client.upload(image):
                offsets.append(offset)
                if progress:
                    progress(offset, len(image))

        started = time.monotonic()
        try:
            self._run(send())
        except SMPUploadError as failure:
            refusal = failure.args[0] if failure.args else failure
            code = _code(refusal) if not isinstance(refusal, str) else "match false"
            self._log(f"< upload refused at offset {offsets[-1:] or [0]}: {code}")
            raise DfuError(self.port, "image upload", code) from failure
        seconds = time.monotonic() - started
        first = offsets[0] if offsets else 0
        self._log(f"< upload done: {len(offsets)} chunks, server began at {first}")
        # a fresh upload's first answer is the first chunk's end; more than a whole chunk means
        # the server resumed an upload a reset or power cut interrupted
        resumed = first if first > self._transport.max_unencoded_size else 0
        return UploadResult(len(image), hashlib.sha256(image).digest(), seconds, resumed)

    def test(self, image_hash: bytes) -> None:
        """Mark the slot-1 image with `image_hash` to run once at the next reset."""
        self._request(ImageStatesWrite(hash=image_hash, confirm=False),
                      f"image test {image_hash.hex()[:16]}")

    def confirm(self, image_hash: bytes | None = None) -> None:
        """Confirm the running image (no hash), or make a slot-1 image permanent."""
        self._request(ImageStatesWrite(hash=image_hash, confirm=True) if image_hash else
                      ImageStatesWrite(confirm=True), "image confirm")

    # --- OS group ---------------------------------------------------------------------------
    def echo(self, text: str = "citebench") -> str:
        return self._request(EchoWrite(d=text), "echo").r

    def reset(self) -> None:
        self._request(ResetWrite(), "reset")

    def wait_alive(self, timeout_s: float) -> float:
        """Seconds from now until the board's SMP server answers an echo (after a reset).

        Over a serial line an echo goes out every `POLL_S`: a board still in MCUboot or booting
        loses what reaches its UART, as a real one does, so waiting out one full SMP timeout per
        echo would measure that timeout, not the boot. An echo answered after its poll ended is
        the board alive all the same; its answer and the newer echoes' are read off before the
        next request. Over BLE the board is up once the link is (`alive_poll_s` None): one
        echo, the whole SMP timeout."""
        started = time.monotonic()
        poll_s = getattr(self._transport, "alive_poll_s", None) or self._timeout_s
        quiet = logging.getLogger("smpclient")  # it logs an ERROR for every echo the board lost
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            while True:
                request = EchoWrite(d="alive?")
                try:
                    self._run(self._client.request(request, timeout_s=poll_s))
                except TimeoutError:
                    if time.monotonic() - started > timeout_s:
                        raise TimeoutError(
                            f"{self.port}: no SMP echo within {timeout_s} s of the reset; "
                            f"exchange tail: {self.exchange[-4:]}") from None
                    continue
                except SMPBadSequence:  # an earlier echo's answer: alive, ours still to come
                    alive = time.monotonic() - started
                    self._run(self._read_up_to(request.header.sequence))
                else:
                    alive = time.monotonic() - started
                self._log(f"< echo answered {alive:.3f} s after the reset")
                return alive
        finally:
            quiet.setLevel(level)

    async def _read_up_to(self, sequence: int) -> None:
        """Read answers off the transport up to the one with `sequence` (the last echo's)."""
        async with asyncio.timeout(self._timeout_s):
            while smphdr.Header.loads((await self._transport.receive())[:smphdr.Header.SIZE]
                                      ).sequence != sequence:
                pass


def _code(response) -> str:
    """An SMP error as a name: `IMG_MGMT_ERR.INVALID_HASH` (v2) or `MGMT_ERR.ENOTSUP` (v1)."""
    if error_v2(response):
        rc = response.err.rc
        return f"{type(rc).__name__}.{rc.name}" if hasattr(rc, "name") else f"rc {rc}"
    if error_v1(response):
        return f"MGMT_ERR.{smperr.MGMT_ERR(response.rc).name}"
    return str(response)


def _summary(response) -> str:
    fields = response.model_dump(exclude={"header", "version", "sequence", "smp_data"},
                                 exclude_none=True)
    if isinstance(response, smpimg.ImageStatesReadResponse):
        fields = [f"slot {i.slot} {i.version}{' pending' if i.pending else ''}"
                  f"{' confirmed' if i.confirmed else ''}" for i in response.images]
    return str(fields)


class UartBoard(Protocol):
    """A board driver whose UART SMP can borrow: its serial link and a switch for its stream."""

    link: SerialLink

    def set_stream(self, enabled: bool) -> None: ...


@contextmanager
def uart_handover(board: UartBoard) -> Iterator[str]:
    """Lend the board's UART to SMP: stop its telemetry, close its link, yield the port; after,
    a fresh link (same settings) replaces the old one on `board.link`."""
    link: SerialLink = board.link
    board.set_stream(False)
    link.close()
    try:
        yield link.port
    finally:
        board.link = SerialLink(link.port, link.codec, link.baudrate, link.timeout_s,
                                link.retries, link.reconnect_s).open()


# --- images (imgtool, as a release script runs it) --------------------------------------------
def make_key(path: Path, kind: str = "ecdsa-p256") -> Path:
    """A new signing key (PEM) from `imgtool keygen`; `kind` ecdsa-p256 or ed25519."""
    _imgtool("keygen", "-k", str(path), "-t", kind)
    return path


def public_key_der(key: Path) -> bytes:
    """The key's public half as MCUboot embeds it (SubjectPublicKeyInfo DER)."""
    from imgtool import keys

    return keys.load(str(key)).get_public_bytes()


def sign_image(body: bytes, version: str, key: Path, out: Path) -> bytes:
    """An MCUboot image of `body`, signed with `key` by `imgtool sign`."""
    raw = out.with_suffix(".bin.in")
    raw.write_bytes(body)
    _imgtool("sign", "--key", str(key), "--header-size", "0x200", "--pad-header",
             "--align", "4", "--slot-size", "0x40000", "--version", version,
             str(raw), str(out))
    return out.read_bytes()


def _imgtool(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "imgtool.main", *args], capture_output=True,
                          text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"imgtool {' '.join(args)} failed ({done.returncode}): "
                           f"{done.stderr.strip() or done.stdout.strip()}")
