"""The WS-100 driver: typed calls for every message of its serial protocol, and its identity.

    >>> board = Ws100Driver(SerialLink("/dev/ttyACM0", Ws100Codec()).open())   # doctest: +SKIP
    >>> board.get_info().firmware
    '1.4.2'

Test plans talk to this class (through the `dut` fixture), never to the link or the frames.
A reply that is not a valid answer (NACK, wrong type, wrong echo, malformed payload) raises a
`DutError`: the board is out of its specification and the step FAILs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.kits import Identity, ProductSpec
from drivers.errors import IdentityError, ReplyMismatchError
from drivers.serial_link import SerialLink
from protocols.errors import PayloadError
from protocols.ws100_frames import Frame
from protocols.ws100_messages import (
    Mode,
    MsgType,
    SelfTest,
    SensorReading,
    build_payload,
    parse_payload,
)

BANNER = r"citebench-fw (?P<firmware>\S+) \((?P<part>\S+) rev (?P<rev>\S+)\) boot #(?P<boot>\d+)"


@dataclass(frozen=True)
class DeviceInfo:
    """What GET_INFO reports: the identity that goes into the run record."""

    serial: str
    part_number: str
    hw_revision: str
    firmware: str
    ble_address: str


@dataclass(frozen=True)
class Telemetry:
    counter: int
    uptime_ms: int
    reading: SensorReading
    received_at: float


class TelemetryWindow(list):
    """The telemetry frames of one window (a list), and `line_damaged`: damaged frames the link
    saw meanwhile, which a plan must not blame on the board."""

    def __init__(self, frames: list[Telemetry], line_damaged: int) -> None:
        super().__init__(frames)
        self.line_damaged = line_damaged


class Ws100Driver:
    """One WS-100, reached through its serial link."""

    def __init__(self, link: SerialLink, spec: ProductSpec | None = None) -> None:
        self.link = link
        self.spec = spec

    def start(self) -> dict[str, str]:
        """Bring the board to a known state: reset, and wait for its boot banner."""
        return self.reset()

    def request(self, msg_type: MsgType, values: dict | None = None, **options):
        """Send one request and return its reply's parsed payload (a construct Container)."""
        reply = self.link.request(Frame(msg_type, 0, build_payload(msg_type, values)), **options)
        try:
            return parse_payload(reply.type, reply.payload)
        except PayloadError as error:
            raise ReplyMismatchError(f"{self.link.port}: reply to {msg_type.name} does not "
                                     f"parse: {error}") from error

    def ping(self, data: bytes = b"citebench") -> float:
        """Round-trip time in seconds of one PING whose echo must match what was sent: the
        answered attempt's, so a retry after line noise does not count against the board."""
        reply = self.request(MsgType.PING, {"data": data})
        elapsed = self.link.last_exchange_s
        if reply.data != data:
            raise ReplyMismatchError(f"{self.link.port}: PING echo {reply.data.hex(' ')} != "
                                     f"sent {data.hex(' ')}")
        return elapsed

    def get_info(self) -> DeviceInfo:
        info = self.request(MsgType.GET_INFO)
        return DeviceInfo(
            serial=info.serial,
            part_number=info.part_number,
            hw_revision=info.hw_revision,
            firmware=f"{info.fw_major}.{info.fw_minor}.{info.fw_patch}",
            ble_address=":".join(f"{b:02X}" for b in info.ble_address),
        )

    def read_sensors(self) -> SensorReading:
        return SensorReading.from_wire(self.request(MsgType.READ_SENSORS))

    def set_mode(self, mode: Mode) -> None:
        self.request(MsgType.SET_MODE, {"mode": int(mode)})

    def self_test(self) -> SelfTest:
        return SelfTest(self.request(MsgType.SELF_TEST).failed)

    def set_stream(self, enabled: bool, rate_hz: int = 10) -> None:
        self.request(MsgType.SET_STREAM, {"enabled": int(enabled), "rate_hz": rate_hz})

    def write_serial(self, serial: str) -> None:
        """Factory provisioning; a board that already has a serial number NACKs it."""
        self.request(MsgType.FACTORY_WRITE_SERIAL, {"serial": serial})

    def reset(self, banner_timeout: float = 2.0) -> dict[str, str]:
        """Reset the board and wait for its boot banner; returns the banner's fields."""
        self.link.clear_console()
        self.request(MsgType.RESET)
        return self.wait_banner(banner_timeout)

    def wait_banner(self, timeout: float = 2.0) -> dict[str, str]:
        match = self.link.expect(BANNER, timeout)
        self.link.expect(r"ready\r?\n", timeout)
        return match.groupdict()

    def collect_telemetry(self, window_s: float, rate_hz: int) -> TelemetryWindow:
        """Stream for `window_s` at `rate_hz`: every telemetry frame that arrived whole, and how
        many damaged frames the line delivered meanwhile (lost to the bench, not to the board)."""
        self.link.unsolicited.clear()
        damaged = self.link.stats.damaged
        self.set_stream(True, rate_hz)
        try:
            time.sleep(window_s)  # the window itself is the measurement: nothing to await
        finally:
            self.set_stream(False, rate_hz)
        return TelemetryWindow([self._telemetry(at, frame) for at, frame in
                                list(self.link.unsolicited)], self.link.stats.damaged - damaged)

    @staticmethod
    def _telemetry(received_at: float, frame: Frame) -> Telemetry:
        fields = parse_payload(MsgType.TELEMETRY, frame.payload)
        return Telemetry(fields.counter, fields.uptime_ms, SensorReading.from_wire(fields),
                         received_at)


def read_identity(driver: Ws100Driver) -> Identity:
    """GET_INFO in the shared identity schema; the serial number is the unique id."""
    info = driver.get_info()
    if not info.serial or not info.firmware:
        raise IdentityError(f"{driver.link.port}: GET_INFO identity does not parse: "
                            f"serial {info.serial!r}, firmware {info.firmware!r}")
    return Identity(unique_id=info.serial, firmware=info.firmware, hw_revision=info.hw_revision,
                    extra={"part_number": info.part_number, "ble_address": info.ble_address})
