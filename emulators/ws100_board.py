"""The emulated board's one state: identity, mode, sensors and power, read by every face.

    >>> board = BoardModel(seed=1)
    >>> board.powered, board.mode.name
    (True, 'IDLE')
    >>> board.set_mode(Mode.SLEEP); board.current_a(at=board.booted_at + 0.5) < 1e-4
    True

Faces (serial, radio, power) never keep board state of their own: they call this model and
subscribe to its events, so the serial number over UART, the GATT serial number and the current
drawn from the supply agree the way a real board's do. Defects are switches on this model, and so
are knobs (emulators/ws100_knobs.py): `knobs` holds the ones set, the faces read it too.
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
from emulators.ws100_defects import check_defects
from emulators.ws100_knobs import check_knobs
from protocols.ws100_messages import Mode, SelfTest, SensorReading


@dataclass(frozen=True)
class Identity:
    """What the board says it is; the factory writes the serial number once."""

    serial: str = "CB-WS1-000123"
    part_number: str = "WS-100"
    hw_revision: str = "B"
    firmware: str = "1.4.2"
    ble_address: str = "C0:FF:EE:00:01:23"


class BoardEvent(Enum):
    BOOT = "boot"  # firmware is up: banner printed, faces may talk
    OFF = "off"  # power lost or brown-out: every face goes silent, state is lost
    MODE = "mode"  # operating mode changed (current draw and advertising interval follow)
    STREAM = "stream"  # telemetry settings changed


# Consumption per mode, in amps, of the healthy board at 3.7 V.
MODE_CURRENT_A = {Mode.SLEEP: 8e-6, Mode.IDLE: 1.2e-3, Mode.ACTIVE: 12e-3, Mode.RADIO_TEST: 18e-3}
# Advertising interval per mode: every event is a radio burst drawn from the supply.
ADV_INTERVAL_S = {Mode.SLEEP: 1.0, Mode.IDLE: 0.5, Mode.ACTIVE: 0.1, Mode.RADIO_TEST: 0.02}
_MODE_CURRENT_KNOB = {Mode.SLEEP: "power.sleep_current_a", Mode.IDLE: "power.idle_current_a",
                      Mode.ACTIVE: "power.active_current_a"}
RADIO_BURST_S = 0.002
RADIO_BURST_A = 8e-3
BOOT_PEAK_A = 0.085
BOOT_TIME_S = 0.060
BROWNOUT_V = 2.7
BROWNOUT_HYSTERESIS_V = 0.1
NOMINAL_SUPPLY_V = 3.7


class BoardModel:
    """State and physics of one emulated board; thread-safe, one instance per station slot."""

    def __init__(
        self,
        identity: Identity | None = None,
        *,
        seed: int = 0,
        defects: Iterable[str] = (),
        powered: bool = True,
        clock: Callable[[], float] = time.monotonic,
        knobs: Mapping[str, float] | None = None,
    ) -> None:
        self.defects = check_defects(tuple(defects), "board defects")
        self.knobs = check_knobs(knobs or {})
        base = identity or Identity()
        if "bad-serial" in self.defects:
            base = replace(base, serial="WS1_123")
        if "wrong-firmware" in self.defects:
            base = replace(base, firmware="1.3.9")
        self.identity = base
        # flash: the two MCUboot slots outlive every reset and power cut (emulators/mcuboot.py)
        self.bootloader = Mcuboot(base.firmware, self.defects, self.knobs)
        self.clock = clock
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._listeners: list[Callable[[BoardEvent], None]] = []
        self._boot_timer: threading.Timer | None = None
        self.supply_v = NOMINAL_SUPPLY_V if powered else 0.0
        self.powered = False
        self.booted_at = 0.0
        self.powered_at = 0.0
        self.boot_count = 0
        self._drift = (0.0, 0.0, 0.0)
        self._stuck: SensorReading | None = None
        self._reset_state()
        if powered:
            self._boot_now()

    # --- events -------------------------------------------------------------------------------
    def listen(self, callback: Callable[[BoardEvent], None]) -> None:
        """Call `callback(event)` on every BoardEvent; faces use it to follow power and mode."""
        self._listeners.append(callback)

    def _emit(self, event: BoardEvent) -> None:
        for callback in list(self._listeners):
            callback(event)

    # --- power --------------------------------------------------------------------------------
    @property
    def boot_time_s(self) -> float:
        return 0.450 if "boot-slow" in self.defects else self.knobs.get("power.boot_time_s",
                                                                         BOOT_TIME_S)

    @property
    def brownout_v(self) -> float:
        return 2.2 if "brownout-threshold-wrong" in self.defects else self.knobs.get(
            "power.brownout_v", BROWNOUT_V)

    @property
    def booting(self) -> bool:
        return self._boot_timer is not None

    def supply(self, volts: float) -> None:
        """The supply face sets the voltage at the board's terminals (0 V = output off)."""
        with self._lock:
            self.supply_v = volts
            running = self.powered or self.booting
            if running and volts < self.brownout_v:
                self._power_down()
            elif not running and volts >= self.brownout_v + BROWNOUT_HYSTERESIS_V:
                self._start_boot()

    def _start_boot(self) -> None:
        self.powered_at = self.clock()
        self._boot_later()

    def _boot_later(self) -> None:
        """MCUboot (swapping if an image waits) and the firmware start: up `boot_time_s` plus
        the swap later, deaf on every face meanwhile."""
        if self._boot_timer is not None:  # reset while booting: the boot starts over
            self._boot_timer.cancel()
        timer = threading.Timer(self.boot_time_s + self.bootloader.boot_delay_s(), self._boot_now)
        timer.daemon = True
        self._boot_timer = timer
        timer.start()

    def _boot_now(self) -> None:
        with self._lock:
            self._boot_timer = None
            self._reset_state()
            self.identity = replace(self.identity, firmware=self.bootloader.boot())
            self.powered = True
            self.booted_at = self.clock()
            self.boot_count += 1
        self._emit(BoardEvent.BOOT)

    def _power_down(self) -> None:
        if self._boot_timer is not None:
            self._boot_timer.cancel()
            self._boot_timer = None
        was_on = self.powered
        self.powered = False
        self._reset_state()
        if was_on:
            self._emit(BoardEvent.OFF)

    def reset(self) -> None:
        """Firmware reset (RESET command, SMP reset): volatile state lost; the board boots again
        as from power good (the supply stays on), so it is deaf as long; banner printed again."""
        with self._lock:
            self.powered = False
            self._boot_later()
        self._emit(BoardEvent.OFF)

    def shutdown(self) -> None:
        """Stop timers; the emulator host calls this when the station closes."""
        with self._lock:
            if self._boot_timer is not None:
                self._boot_timer.cancel()
                self._boot_timer = None

    def _reset_state(self) -> None:
        self._reads = 0  # sensor readings since power-on, on every face (ripple, conversions)
        self._converted: SensorReading | None = None
        self.mode = Mode.IDLE
        self.stream_enabled = False
        self.stream_rate_hz = 10

    # --- commands -----------------------------------------------------------------------------
    def set_mode(self, mode: Mode) -> None:
        with self._lock:
            self.mode = Mode(mode)
        self._emit(BoardEvent.MODE)

    def set_stream(self, enabled: bool, rate_hz: int) -> None:
        with self._lock:
            self.stream_enabled = enabled
            self.stream_rate_hz = rate_hz
        self._emit(BoardEvent.STREAM)

    def write_serial(self, serial: str) -> bool:
        """Write-once provisioning: only a blank board accepts a serial number."""
        with self._lock:
            if self.identity.serial:
                return False
            self.identity = replace(self.identity, serial=serial)
            return True

    def self_test(self) -> SelfTest:
        return SelfTest.FLASH if "selftest-fail" in self.defects else SelfTest(0)

    @property
    def firmware_tuple(self) -> tuple[int, int, int]:
        major, minor, patch = (int(part) for part in self.identity.firmware.split("."))
        return major, minor, patch

    # --- sensors ------------------------------------------------------------------------------
    def read_sensors(self) -> SensorReading:
        """One reading: slow drift (random walk) plus noise, from the board's seeded source."""
        with self._lock:
            if "stuck-sensor" in self.defects and self._stuck is not None:
                return self._stuck
            knobs = self.knobs
            count, self._reads = self._reads, self._reads + 1
            if self._converted is not None and count % int(
                    knobs.get("sensor.reads_per_conversion", 1)):
                return self._converted
            rng, noise = self._rng, knobs.get("sensor.noise_scale", 1.0)
            dt, dh, dp = self._drift
            self._drift = (
                max(-2.0, min(2.0, dt + rng.gauss(0, 0.02 * noise))),
                max(-5.0, min(5.0, dh + rng.gauss(0, 0.05 * noise))),
                max(-300.0, min(300.0, dp + rng.gauss(0, 2.0 * noise))),
            )
            battery = (self.supply_v + rng.gauss(0, 0.004 * noise)
                       + knobs.get("sensor.battery_offset_v", 0))
            if "battery-reading-offset" in self.defects:
                battery += 0.150
            sign = -1 if count % 2 else 1  # ripple: successive readings on opposite sides
            reading = SensorReading(
                temperature_c=22.5 + dt + rng.gauss(0, 0.05 * noise)
                + knobs.get("sensor.temperature_offset_c", 0)
                + sign * knobs.get("sensor.temperature_ripple_c", 0),
                humidity_pct=(180.0 if "sensor-out-of-range" in self.defects else 45.0)
                + dh + rng.gauss(0, 0.2 * noise) + knobs.get("sensor.humidity_offset_pct", 0)
                + sign * knobs.get("sensor.humidity_ripple_pct", 0),
                pressure_pa=101_325.0 + dp + rng.gauss(0, 3.0 * noise)
                + knobs.get("sensor.pressure_offset_pa", 0)
                + sign * knobs.get("sensor.pressure_ripple_pa", 0),
                battery_v=battery,
            )
            if "stuck-sensor" in self.defects:
                self._stuck = reading
            self._converted = reading
            return reading

    def battery_level_pct(self) -> int:
        """Li-ion state of charge from the terminal voltage (3.0 V empty, 4.2 V full)."""
        if "battery-level-wrong" in self.defects:
            return 100
        return round(max(0.0, min(1.0, (self.supply_v - 3.0) / 1.2)) * 100
                     + self.knobs.get("sensor.battery_level_offset_pct", 0))

    # --- power physics ------------------------------------------------------------------------
    def current_a(self, at: float | None = None) -> float:
        """Current drawn from the supply at time `at` (now by default), without meter noise."""
        t = self.clock() if at is None else at
        with self._lock:
            if self.booting:
                since = t - self.powered_at
                if since < 0:  # a capture asking about the moment before power came
                    return 0.0
                peak = self.knobs.get("power.inrush_peak_a", BOOT_PEAK_A)
                return peak * math.exp(-since / 0.004) + 15e-3
            if not self.powered:
                return 0.0
            base = self.knobs.get(_MODE_CURRENT_KNOB.get(self.mode, ""), MODE_CURRENT_A[self.mode])
            if self.mode is Mode.SLEEP and "sleep-current-high" in self.defects:
                base = 180e-6
            if self.mode is Mode.ACTIVE and "active-current-high" in self.defects:
                base = 22e-3
            if ((t - self.booted_at) % self.adv_interval_s) < RADIO_BURST_S:
                base += self.knobs.get("power.radio_burst_a", RADIO_BURST_A)
            return base

    # Nodes a meter's probes can sit on (PowerFace): the battery terminals and the 3.3 V rail.
    test_points = ("vbat", "v3v3")

    def test_point_v(self, name: str) -> float:
        """The voltage at test point `name`, as a meter's probes read it."""
        if name == "vbat":
            return self.supply_v
        if name == "v3v3":
            return min(3.3, self.supply_v - 0.15) if self.powered else 0.0
        raise ValueError(f"test point {name!r}: the emulated board has "
                         f"{', '.join(self.test_points)}")

    @property
    def adv_interval_s(self) -> float:
        if self.mode is Mode.ACTIVE:
            return self.knobs.get("radio.active_adv_interval_s", ADV_INTERVAL_S[Mode.ACTIVE])
        return ADV_INTERVAL_S[self.mode]
