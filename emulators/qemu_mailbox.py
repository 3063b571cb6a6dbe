"""The mailbox between the bench and a firmware under QEMU: ABI version 1, at a fixed guest address.

    >>> with Mailbox.create(tmp / "psram", seed=7, serial="CB-WS1-000123") as box:
    ...     box.view.supply_mv = 3700          # the bench writes the world in
    ...     box.view.power_mode                # the firmware writes its state out
    0

The guest's PSRAM (0x21000000 on the mps2-an385) is a file that QEMU maps shared
(`-object memory-backend-file,...,share=on`) and the bench maps too: QMP can read guest memory but
not write it. `Layout` is the C struct of firmware/ws100/mailbox.h field for field;
tests/test_qemu_mailbox.py checks the two against each other.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from enum import IntEnum
from pathlib import Path

MAGIC = 0x424D4243  # "CBMB"
VERSION = 1
GUEST_ADDRESS = 0x21000000  # the mps2-an385's PSRAM: the machine's main RAM QEMU backs by a file
RAM_SIZE = 16 * 1024 * 1024  # the backend must be the whole RAM


class FwState(IntEnum):
    OFF = 0
    BOOTING = 1
    RUNNING = 2  # the boot banner is out; boot_time_us is valid


class Layout(ctypes.LittleEndianStructure):
    """struct mailbox (firmware/ws100/mailbox.h); offsets in the comments are the C ones."""

    _fields_ = [
        ("magic", ctypes.c_uint32),  # 0x00
        ("version", ctypes.c_uint16),  # 0x04
        ("size", ctypes.c_uint16),  # 0x06
        ("seed", ctypes.c_uint32),  # 0x08
        ("supply_mv", ctypes.c_uint32),  # 0x0C  bench -> firmware
        ("temperature_mc", ctypes.c_int32),  # 0x10
        ("humidity_mpct", ctypes.c_uint32),  # 0x14
        ("pressure_dpa", ctypes.c_uint32),  # 0x18
        ("reserved_in", ctypes.c_uint32),  # 0x1C
        ("boot_count", ctypes.c_uint32),  # 0x20  firmware -> bench
        ("state", ctypes.c_uint8),  # 0x24
        ("power_mode", ctypes.c_uint8),  # 0x25
        ("reserved_out", ctypes.c_uint16),  # 0x26
        ("boot_time_us", ctypes.c_uint32),  # 0x28
        ("serial", ctypes.c_uint8 * 256),  # 0x2C  the board's flash: u8 length + ASCII
    ]


class Mailbox:
    """The bench's side of the mailbox: a live ctypes view (`view`) of the mapped file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, RAM_SIZE)
        finally:
            os.close(fd)
        self.view = Layout.from_buffer(self._map)

    @classmethod
    def create(cls, path: Path, *, seed: int, serial: str) -> Mailbox:
        """A new RAM file holding a fresh mailbox; `serial` ("" for a blank board) is in flash."""
        with open(path, "wb") as file:
            file.truncate(RAM_SIZE)  # sparse: only the pages the guest touches take space
        box = cls(path)
        view = box.view
        view.magic, view.version, view.size = MAGIC, VERSION, ctypes.sizeof(Layout)
        view.seed = seed & 0xFFFFFFFF
        data = serial.encode("ascii")
        view.serial[0] = len(data)
        view.serial[1:1 + len(data)] = list(data)
        return box

    @property
    def serial(self) -> str:
        """The serial number in the board's flash ("" when blank)."""
        return bytes(self.view.serial[1:1 + self.view.serial[0]]).decode("ascii", "replace")

    def set_environment(self, temperature_c: float, humidity_pct: float,
                        pressure_pa: float) -> None:
        view = self.view
        view.temperature_mc = round(temperature_c * 1000)
        view.humidity_mpct = round(humidity_pct * 1000)
        view.pressure_dpa = round(pressure_pa * 10)

    def set_supply(self, volts: float) -> None:
        self.view.supply_mv = max(0, round(volts * 1000))

    def close(self) -> None:
        self.view = None  # the view pins the map: release it first
        self._map.close()

    def __enter__(self) -> Mailbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
