"""A board kit's firmware image under QEMU, served like the kit's Python model (EmulatedBoard).

    [emulator]                                 # in a station profile
    kind = "qemu"
    firmware = "../firmware/ws100/build/ws100.elf"
    machine = "mps2-an385"
    physics = "emulators.qemu_ws100:PHYSICS"

The firmware is the MCU; what is not the MCU is the bench's, through the mailbox
(emulators/qemu_mailbox.py): the supply voltage and the sensors' environment go in, the power mode
the firmware is in comes out, and `BoardPhysics` (the kit's per-mode current table, brown-out,
inrush) turns it into the current the emulated supply and meter read. Output off pauses and
resets the guest; output on resumes it from its reset vector. The UART is relayed between the
guest's socket chardev and the transport the station serves (a pty or a socket), so every bench
fault and transport of the Python model applies unchanged. There is no radio: QEMU models none
for a Cortex-M, and a station that asks for one is refused.
"""

from __future__ import annotations

import math
import select
import subprocess
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from emulators.interfaces import BoardSettings
from emulators.qemu import QemuError, QemuMachine
from emulators.qemu_mailbox import FwState
from emulators.serial_transport import SerialTransport
from emulators.uart_face import UartFace


@dataclass(frozen=True)
class BoardPhysics:
    """What the board around the MCU does, from a kit's own model (see emulators/qemu_ws100.py).

    The radio's advertising bursts are drawn at the interval of the firmware's mode: QEMU has no
    radio, but the power plans measure the board, whose radio keeps advertising.
    """

    mode_current_a: Mapping[int, float]  # power mode (the mailbox's) -> amps at nominal supply
    adv_interval_s: Mapping[int, float]  # power mode -> advertising interval
    burst_s: float
    burst_a: float
    boot_peak_a: float  # inrush at output on, decaying with inrush_tau_s
    boot_plateau_a: float  # drawn while the firmware boots
    brownout_v: float
    hysteresis_v: float
    nominal_v: float
    rail_v: float  # the regulated rail behind test point "v3v3"
    default_serial: str
    environment: tuple[float, float, float]  # degC, %RH, Pa
    inrush_tau_s: float = 0.004


def firmware_sources(image: Path) -> Path:
    """The folder holding an image's Makefile and defects.toml (`build/` is beside them)."""
    for folder in image.parents:
        if (folder / "Makefile").is_file():
            return folder
    return image.parent


def firmware_defects(image: Path) -> dict[str, dict[str, str]]:
    """The firmware's defect builds (defects.toml beside its Makefile): name -> its table."""
    catalogue = firmware_sources(image) / "defects.toml"
    if not catalogue.is_file():
        return {}
    return tomllib.loads(catalogue.read_text())


def firmware_image(image: Path, defects: tuple[str, ...]) -> Path:
    """The ELF to run: `image`, or its defect build (build/<defect>/<name>), brought up to date
    by `make` when its sources are beside it (the firmware is built from source, never shipped;
    an up-to-date build costs a few milliseconds)."""
    if len(defects) > 1:
        raise QemuError(f"firmware defects {', '.join(defects)}: a firmware build carries one")
    sources = firmware_sources(image)
    variant = defects[0] if defects else ""
    wanted = image.parent / variant / image.name if variant else image
    if (sources / "Makefile").is_file():
        done = subprocess.run(["make", "-C", str(sources)] + ([f"VARIANT={variant}"] if variant
                                                              else []),
                              capture_output=True, text=True)
        if done.returncode:
            raise QemuError(f"make -C {sources} {f'VARIANT={variant}' if variant else ''} "
                            f"failed ({done.returncode}): {(done.stdout + done.stderr)[-800:]}")
    if not wanted.is_file():
        raise QemuError(f"firmware {wanted}: no such file")
    return wanted


class QemuPower:
    """The board's power pins (emulators.interfaces.PowerFace), coupled to the guest."""

    test_points = ("vbat", "v3v3")

    def __init__(self, vm: QemuMachine, physics: BoardPhysics, powered: bool) -> None:
        self.clock = time.monotonic
        self._vm, self._physics = vm, physics
        self._lock = threading.RLock()
        self.on = False
        self.powered_at = 0.0
        self.supply_v = 0.0
        self.supply(physics.nominal_v if powered else 0.0)

    def supply(self, volts: float) -> None:
        """Set the voltage at the terminals: below brown-out the guest is paused and reset, above
        it (plus hysteresis) it runs from its reset vector."""
        physics = self._physics
        with self._lock:
            self.supply_v = volts
            self._vm.mailbox.set_supply(volts)
            if self.on and volts < physics.brownout_v:
                self.on = False
                self._vm.pause()
                self._vm.reset()
                self._vm.mailbox.view.state = FwState.OFF
            elif not self.on and volts >= physics.brownout_v + physics.hysteresis_v:
                self._vm.mailbox.view.state = FwState.OFF
                self.powered_at = self.clock()
                self.on = True
                self._vm.resume()

    def current_a(self, at: float | None = None) -> float:
        """Inrush and boot current until the firmware reports itself running (at the time it
        measured), then its power mode's current, plus the radio's bursts."""
        t = self.clock() if at is None else at
        physics = self._physics
        with self._lock:
            if not self.on or t < self.powered_at:
                return 0.0
            view = self._vm.mailbox.view
            since = t - self.powered_at
            booted = (view.boot_time_us / 1e6 if view.state == FwState.RUNNING else math.inf)
            if since < booted:
                return physics.boot_peak_a * math.exp(-since / physics.inrush_tau_s) + \
                    physics.boot_plateau_a
            mode = view.power_mode
            base = physics.mode_current_a.get(mode, physics.mode_current_a[1])
            interval = physics.adv_interval_s.get(mode, 1.0)
            if (since - booted) % interval < physics.burst_s:
                base += physics.burst_a
            return base

    def test_point_v(self, name: str) -> float:
        if name == "vbat":
            return self.supply_v
        if name == "v3v3":
            return min(self._physics.rail_v, self.supply_v - 0.15) if self.on else 0.0
        raise ValueError(f"test point {name!r}: the board has {', '.join(self.test_points)}")


class QemuUartFace(UartFace):
    """The guest's UART0 relayed to the station's transport, both ways, byte for byte."""

    def __init__(self, board: QemuBoard, transport: SerialTransport) -> None:
        super().__init__(transport, f"qemu {board.vm.machine}")
        self._uart = board.vm.uart
        self._power = board.power

    def _greet(self) -> None:
        """The guest prints its own banner."""

    def _serve(self) -> None:  # bench -> guest
        while not self._stopping.is_set():
            try:
                readable = self._transport.wait_readable(1.0, self._stop_r)
                data = self._transport.read() if readable else b""
            except (OSError, ValueError):
                return  # unplugged
            if data and self._power.on:  # an unpowered UART hears nothing
                try:
                    self._uart.sendall(data)
                except OSError:
                    return  # QEMU is gone: the bench sees a board that stopped answering

    def _timed(self) -> None:  # guest -> bench
        while not self._stopping.is_set():
            ready, _, _ = select.select([self._uart, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                data = self._uart.recv(4096)
            except OSError:
                return
            if not data:
                return
            self._transport.write(data)


class QemuBoard:
    """emulators.interfaces.EmulatedBoard for a firmware image under QEMU."""

    def __init__(self, settings: BoardSettings, firmware: Path, machine: str,
                 physics: BoardPhysics, qemu_args: tuple[str, ...] = ()) -> None:
        serial = (settings.unique_id or physics.default_serial) if settings.provisioned else ""
        self.vm = QemuMachine(firmware_image(firmware, settings.defects), machine,
                              seed=settings.seed, serial=serial, extra_args=qemu_args)
        try:
            self.vm.mailbox.set_environment(*physics.environment)
            self.power = QemuPower(self.vm, physics, settings.powered)
        except BaseException:
            self.vm.close()
            raise

    def serial_face(self, transport: SerialTransport) -> QemuUartFace:
        return QemuUartFace(self, transport)

    def radio_face(self) -> None:
        return None  # QEMU models no radio for a Cortex-M

    def shutdown(self) -> None:
        self.vm.close()
