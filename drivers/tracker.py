"""The tracker driver: typed calls for its commands and events, and its identity.

    >>> board = TrackerDriver(SerialLink("/dev/ttyACM0", TrackerCodec()).open())  # doctest: +SKIP
    >>> board.identify().firmware
    '2.1.0'

Plans talk to this class (through the `dut` fixture, or the `nus` fixture for the same commands
over BLE), never to the link or the frames. The link is anything with the serial link's
`request(frame)` and `unsolicited` (drivers/serial_link.py, drivers/tracker_nus.py); the console
calls (`start`, `wait_banner`) need the serial link. A reply that does not parse raises a
`DutError`: the board answered out of its specification and the step FAILs.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from bench.kits import Identity, ProductSpec
from drivers.errors import IdentityError, ReplyMismatchError
from protocols.errors import PayloadError
from protocols.tracker_frames import Frame
from protocols.tracker_messages import RESPONSE_BIT, Fix, MsgType, build_payload, parse_payload

BANNER = (r"tracker-fw v(?P<firmware>\S+) uid=(?P<unique_id>[0-9a-f]{16}) "
          r"hw=(?P<hw_revision>\d+)\r?\n")
READY = r"tracker: ready\r?\n"
# semver.org 2.0.0: MAJOR.MINOR.PATCH, optional -prerelease and +build
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")


@dataclass(frozen=True)
class TrackerInfo:
    """What IDENTIFY reports: the 64-bit unique id in hex, hardware revision, firmware."""

    unique_id: str
    hw_revision: int
    firmware: str


@dataclass(frozen=True)
class Acceleration:
    x_mg: int
    y_mg: int
    z_mg: int

    @property
    def magnitude_mg(self) -> float:
        return (self.x_mg ** 2 + self.y_mg ** 2 + self.z_mg ** 2) ** 0.5


@dataclass(frozen=True)
class GnssFix:
    latitude_deg: float
    longitude_deg: float
    fix: Fix | int
    satellites: int
    age_s: float  # how old the fix was when the board answered


@dataclass(frozen=True)
class Event:
    """One unsolicited frame (MOTION or REPORT), its fields and its arrival on the host clock."""

    type: MsgType
    fields: Any
    received_at: float


class TrackerDriver:
    """One tracker, reached through a link that speaks its codec (serial, or BLE NUS)."""

    def __init__(self, link: Any, spec: ProductSpec | None = None) -> None:
        self.link = link
        self.spec = spec

    def start(self) -> dict[str, str]:
        """Bring the board to a known state: reboot, and wait for its boot banner."""
        return self.reboot()

    def request(self, msg_type: MsgType, values: dict | None = None, **options: Any) -> Any:
        """Send one request and return its reply's parsed payload (a construct Container)."""
        reply = self.link.request(Frame(msg_type, payload=build_payload(msg_type, values)),
                                  **options)
        try:
            return parse_payload(msg_type | RESPONSE_BIT, reply.payload)
        except PayloadError as error:
            raise ReplyMismatchError(f"{self.link.port}: reply to {msg_type.name} does not "
                                     f"parse: {error}") from error

    def identify(self) -> TrackerInfo:
        info = self.request(MsgType.IDENTIFY)  # item access: Container's attributes are slow
        return TrackerInfo(f"{info['unique_id']:016x}", info["hw_revision"], info["firmware"])

    def read_accel(self) -> Acceleration:
        reply = self.request(MsgType.READ_ACCEL)
        return Acceleration(reply.x_mg, reply.y_mg, reply.z_mg)

    def read_gnss(self) -> GnssFix:
        reply = self.request(MsgType.READ_GNSS)
        fix = Fix(reply.fix) if reply.fix in Fix._value2member_map_ else reply.fix
        return GnssFix(reply.latitude_e7 / 1e7, reply.longitude_e7 / 1e7, fix, reply.satellites,
                       reply.age_ms / 1000)

    def set_interval(self, interval_ms: int) -> int:
        """Set the reporting interval; returns the interval the board confirms."""
        return self.request(MsgType.SET_INTERVAL, {"interval_ms": interval_ms}).interval_ms

    def status(self) -> Any:
        """GET_STATUS: interval_ms, uptime_ms, motion_events, boot_count."""
        return self.request(MsgType.GET_STATUS)

    def accel_self_test(self, pulses: int) -> list[Event]:
        """Pulse the accelerometer's self-test and return the MOTION events it raised.

        Each pulse deflects the sensor like a shake and fires its motion interrupt; the firmware
        sends one MOTION frame per interrupt before its reply, so every event the board sent
        for these pulses has arrived when the reply has.
        """
        start = time.monotonic()
        self.request(MsgType.ACCEL_SELF_TEST, {"pulses": pulses})
        return self.events(MsgType.MOTION, start)

    def ship_mode(self) -> None:
        """Enter shipping mode: the board goes silent until its USB power is cycled."""
        self.request(MsgType.SHIP_MODE)

    def factory_reset(self, banner_timeout: float = 2.0) -> dict[str, str]:
        """Restore the factory settings; the board reboots, and its banner is awaited."""
        self.link.clear_console()
        self.request(MsgType.FACTORY_RESET)
        return self.wait_banner(banner_timeout)

    def reboot(self, banner_timeout: float = 2.0) -> dict[str, str]:
        """Reboot and wait for the boot banner; returns its fields."""
        self.link.clear_console()
        self.request(MsgType.REBOOT)
        return self.wait_banner(banner_timeout)

    def wait_banner(self, timeout: float = 2.0) -> dict[str, str]:
        """The banner's fields (firmware, unique_id, hw_revision), once `tracker: ready` follows."""
        match = self.link.expect(BANNER, timeout)
        self.link.expect(READY, timeout)
        return match.groupdict()

    def events(self, kind: MsgType, after: float = 0.0) -> list[Event]:
        """Unsolicited frames of one kind received after `after` (a time.monotonic() value)."""
        return [Event(kind, parse_payload(kind, frame.payload), at)
                for at, frame in list(self.link.unsolicited) if frame.type == kind and at > after]

    def collect(self, kind: MsgType, window_s: float) -> list[Event]:
        """Every event of `kind` that arrives during the next `window_s` seconds."""
        start = time.monotonic()
        time.sleep(window_s)  # the window itself is the measurement: nothing to await
        return [event for event in self.events(kind, start)
                if event.received_at <= start + window_s]


def read_identity(driver: TrackerDriver) -> Identity:
    """IDENTIFY in the shared identity schema: the 64-bit unique id (hex) names the archive
    folder; the firmware must be a semantic version."""
    info = driver.identify()
    if not SEMVER.fullmatch(info.firmware):
        raise IdentityError(f"{driver.link.port}: IDENTIFY firmware {info.firmware!r} is not a "
                            f"semantic version (MAJOR.MINOR.PATCH)")
    return Identity(unique_id=info.unique_id, firmware=info.firmware,
                    hw_revision=str(info.hw_revision), extra={})
