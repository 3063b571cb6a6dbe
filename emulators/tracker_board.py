"""The emulated tracker's one state: identity, settings, sensors and power, read by every face.

    >>> board = TrackerBoard(seed=1)
    >>> board.powered, board.interval_ms
    (True, 60000)
    >>> board.ship(); board.current_a() < 2e-6
    True

A USB-powered asset tracker: it runs from 5 V VBUS (no battery), boots when VBUS rises above
4.4 V and stops below 4.2 V. Shipping mode switches everything off but the USB wake-up
comparator; only a power cycle (unplug, replug) wakes it. Its MCUboot (`bootloader`,
emulators/mcuboot.py) picks the image each boot runs, and the firmware version is that image's.
Faces (serial, radio) never keep board state of their own: they call this model and follow its
events. The supply and meter see it
through `emulators.interfaces.PowerFace` (supply, current_a, clock, test_point_v).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum

from emulators.mcuboot import Mcuboot
from emulators.tracker_defects import DEFECTS
from emulators.tracker_knobs import check_knobs
from protocols.tracker_messages import DEFAULT_INTERVAL_MS, Fix

NOMINAL_VBUS_V = 5.0
BOOT_ABOVE_V = 4.4  # the PMIC releases reset above this
STOP_BELOW_V = 4.2
BOOT_TIME_S = 0.080
BOOT_PEAK_A = 0.120  # input capacitors and the GNSS module's inrush
RUN_A = 18e-3  # MCU, accelerometer and GNSS tracking
SHIPPING_A = 0.9e-6  # the USB wake-up comparator alone
SHIPPING_DEFECT_A = 350e-6  # accelerometer left running
MOTION_BURST_A = 12e-3  # MCU awake, radio notifying, on each motion event
MOTION_BURST_S = 0.030
MOTION_SPACING_S = 0.060
SITE = (48.858370, 2.294481)  # where the emulated tracker lies (degrees)
STALE_FIX_S = 45.0
FIX_PERIOD_S = 1.0  # the GNSS module computes one fix a second
ACCEL_NOISE_MG = 6.0
M_PER_DEG_LAT = 6_371_000 * math.pi / 180


@dataclass(frozen=True)
class Identity:
    unique_id: int = 0x1EAF_C0DE_0000_2A17
    hw_revision: int = 3
    firmware: str = "2.1.0"
    ble_name: str = "cb-track"  # every tracker: flags, NUS UUID and 8 characters fill 31 bytes
    ble_address: str = "F0:CA:FE:00:2A:17"


class BoardEvent(Enum):
    BOOT = "boot"  # firmware up: boot log printed, faces may talk
    OFF = "off"  # power lost, reboot or shipping mode: every face goes silent
    SETTINGS = "settings"  # the reporting interval changed


class TrackerBoard:
    """State and physics of one emulated tracker; thread-safe.

    `knobs` (emulators/tracker_knobs.py) move one quantity each; an unset knob keeps the
    default physics below, draw for draw.
    """

    test_points = ("vbus", "v3v3")

    def __init__(self, identity: Identity | None = None, *, seed: int = 0,
                 defects: Iterable[str] = (), powered: bool = True,
                 clock: Callable[[], float] = time.monotonic,
                 knobs: Mapping[str, float] | None = None) -> None:
        self.defects = frozenset(defects)
        self.knobs = check_knobs(knobs or {})
        self.run_a = self.knobs.get("power.run_current_a", RUN_A)
        self.shipping_a = self.knobs.get("power.shipping_current_a", SHIPPING_A)
        unknown = sorted(self.defects - set(DEFECTS))
        if unknown:
            raise ValueError(f"unknown tracker defect(s) {', '.join(unknown)}; known: "
                             f"{', '.join(DEFECTS)}")
        base = identity or Identity()
        if "wrong-firmware" in self.defects:
            base = replace(base, firmware="2.0.9")
        self.identity = base
        # flash: survives every reset
        self.bootloader = Mcuboot(base.firmware, self.defects, self.knobs)
        self.clock = clock
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._listeners: list[Callable[[BoardEvent], None]] = []
        self._boot_timer: threading.Timer | None = None
        self.vbus_v = NOMINAL_VBUS_V if powered else 0.0
        self.powered = False
        self.shipping = False
        self.powered_at = self.booted_at = 0.0
        self.boot_count = 0
        self.interval_ms = DEFAULT_INTERVAL_MS  # kept in flash: survives reboots
        self.report_interval_ms = DEFAULT_INTERVAL_MS  # what the report timer really runs at
        self._motion_bursts: list[float] = []
        self._accel_sample: tuple[int, int, int] | None = None  # the last one read
        self._reset_volatile()
        if powered:
            self._boot_now()

    # --- events -------------------------------------------------------------------------------
    def listen(self, callback: Callable[[BoardEvent], None]) -> None:
        self._listeners.append(callback)

    def _emit(self, event: BoardEvent) -> None:
        for callback in list(self._listeners):
            callback(event)

    @property
    def awake(self) -> bool:
        """Running firmware: powered and not in shipping mode."""
        return self.powered and not self.shipping

    # --- power (PowerFace) --------------------------------------------------------------------
    def supply(self, volts: float) -> None:
        """VBUS at the USB connector (0 V = unplugged or output off)."""
        with self._lock:
            self.vbus_v = volts
            running = self.powered or self._boot_timer is not None
            if running and volts < STOP_BELOW_V:
                self._power_down()
            elif not running and volts >= BOOT_ABOVE_V:
                self.powered_at = self.clock()
                self._boot_later()

    def _power_down(self) -> None:
        if self._boot_timer is not None:
            self._boot_timer.cancel()
            self._boot_timer = None
        was_awake = self.awake
        self.powered = self.shipping = False
        self._reset_volatile()
        if was_awake:
            self._emit(BoardEvent.OFF)

    def _boot_now(self) -> None:
        with self._lock:
            self._boot_timer = None
            self._reset_volatile()
            self.identity = replace(self.identity, firmware=self.bootloader.boot())
            self.powered, self.shipping = True, False
            self.booted_at = self.clock()
            self.boot_count += 1
            self.report_interval_ms = self.interval_ms
        self._emit(BoardEvent.BOOT)

    def _reset_volatile(self) -> None:
        self.motion_count = 0
        self._latched = False

    def current_a(self, at: float | None = None) -> float:
        """Current drawn from VBUS at time `at` (now by default), without instrument noise."""
        t = self.clock() if at is None else at
        with self._lock:
            if self._boot_timer is not None:
                since = t - self.powered_at
                return 0.0 if since < 0 else BOOT_PEAK_A * math.exp(-since / 0.005) + self.run_a
            if not self.powered:
                return 0.0
            if self.shipping:
                return SHIPPING_DEFECT_A if "shipping-current-high" in self.defects \
                    else self.shipping_a
            bursts = sum(MOTION_BURST_A for start in self._motion_bursts
                         if start <= t < start + MOTION_BURST_S)
            return self.run_a + bursts

    def test_point_v(self, name: str) -> float:
        if name == "vbus":
            return self.vbus_v
        if name == "v3v3":
            return 3.3 if self.powered and not self.shipping else 0.0
        raise ValueError(f"tracker test point {name!r}: the board has "
                         f"{', '.join(self.test_points)}")

    def shutdown(self) -> None:
        with self._lock:
            if self._boot_timer is not None:
                self._boot_timer.cancel()
                self._boot_timer = None

    # --- commands -------------------------------------------------------------------------------
    def reboot(self) -> None:
        """Firmware reboot (REBOOT, FACTORY_RESET, SMP reset): volatile state lost; the board
        boots again as from power good, deaf meanwhile; boot log again."""
        with self._lock:
            self.powered = False
            self._boot_later()
        self._emit(BoardEvent.OFF)

    def _boot_later(self) -> None:
        """MCUboot (swapping if an image waits) and the firmware start, deaf meanwhile."""
        if self._boot_timer is not None:  # reset while booting: the boot starts over
            self._boot_timer.cancel()
        self._boot_timer = threading.Timer(BOOT_TIME_S + self.bootloader.boot_delay_s(),
                                           self._boot_now)
        self._boot_timer.daemon = True
        self._boot_timer.start()

    def factory_reset(self) -> None:
        with self._lock:
            if "factory-reset-keeps-interval" not in self.defects:
                self.interval_ms = DEFAULT_INTERVAL_MS
        self.reboot()

    def ship(self) -> None:
        """Shipping mode: everything off until VBUS is cycled."""
        with self._lock:
            self.shipping = True
        self._emit(BoardEvent.OFF)

    def set_interval(self, interval_ms: int) -> None:
        with self._lock:
            self.interval_ms = interval_ms
            if "interval-ignored" not in self.defects:
                self.report_interval_ms = interval_ms
        self._emit(BoardEvent.SETTINGS)

    def report_wait_s(self, first: bool) -> float:
        """How long the report timer runs before the next REPORT; `first`: the first one after
        a boot or an interval change."""
        error = self.knobs.get("report.period_error_pct", 0.0)
        delay_ms = self.knobs.get("report.first_delay_ms", 0.0) if first else 0.0
        return (self.report_interval_ms * (1 + error / 100) + delay_ms) / 1000

    def uptime_ms(self) -> int:
        return int((self.clock() - self.booted_at) * 1000) & 0xFFFF_FFFF

    # --- sensors --------------------------------------------------------------------------------
    def read_accel(self) -> tuple[int, int, int]:
        """Lying flat on the desk: 1 g on +z, a few mg of noise on every axis."""
        with self._lock:
            if "accel-stuck" in self.defects and self._accel_sample is not None:
                return self._accel_sample
            x, y, z = (round(rest + self.knobs.get(f"accel.offset_{axis}_mg", 0.0)
                             + self._rng.gauss(0, self.knobs.get(f"accel.noise_{axis}_mg",
                                                                 ACCEL_NOISE_MG)))
                       for axis, rest in (("x", 0), ("y", 0), ("z", 1000)))
            self._accel_sample = (x, y, z)
            return x, y, z

    def motion_pulse(self) -> int | None:
        """One accelerometer self-test pulse: a motion interrupt and its current burst.

        Returns the event's count since boot, or None when the interrupt never reaches the
        firmware (motion-events-lost: the latch of the first event is never cleared).
        """
        with self._lock:
            now = self.clock()
            recent = [t for t in self._motion_bursts if t > now - 1.0]
            # the self-test pulses one deflection at a time, MOTION_SPACING_S apart
            start = max([now, *(t + MOTION_SPACING_S for t in recent)])
            self._motion_bursts = [*recent, start]
            if "motion-events-lost" in self.defects and self._latched:
                return None
            self._latched = True
            self.motion_count += 1
            return self.motion_count

    def gnss_fix(self) -> dict[str, int]:
        """The latest fix, fields as READ_GNSS carries them."""
        with self._lock:
            since_boot = self.clock() - self.booted_at
            if "gnss-fix-stale" in self.defects:
                age, jitter = STALE_FIX_S + since_boot, (0.0, 0.0)
            else:
                age = since_boot % FIX_PERIOD_S
                jitter = (self._rng.gauss(0, 2e-5), self._rng.gauss(0, 2e-5))  # about 2 m
                age = self.knobs.get("gnss.fix_age_s", age)
            north = self.knobs.get("gnss.position_offset_m", 0.0) / M_PER_DEG_LAT
            satellites = 7 + self._rng.randrange(4)
            return {"latitude_e7": round((SITE[0] + north + jitter[0]) * 1e7),
                    "longitude_e7": round((SITE[1] + jitter[1]) * 1e7),
                    "fix": Fix.FIX_3D,
                    "satellites": int(self.knobs.get("gnss.satellites", satellites)),
                    "age_ms": int(age * 1000)}
