"""What the board's radio says: GATT value formats, the advertising payload, the control service.

    >>> TEMPERATURE.parse(TEMPERATURE.build(-12.34))
    -12.34
    >>> adv = MANUFACTURER_PAYLOAD.build(dict(fw_major=1, fw_minor=4, fw_patch=2, battery_pct=58,
    ...                                       flags=AdvFlags.PROVISIONED))
    >>> MANUFACTURER_PAYLOAD.parse(adv).battery_pct
    58
    >>> TELEMETRY.parse(TELEMETRY.build(dict(seq=7, temperature_c=21.5, humidity_pct=40.0,
    ...                                      pressure_pa=101325.0))).seq
    7

The standard formats follow the Bluetooth assigned numbers (GATT Specification Supplement): the
value on the air is an integer in a fixed resolution, the Python side works in SI-derived units.
The emulator builds with the same declarations the driver parses with, so the two cannot drift.
The company identifier, appearance, advertised name and manufacturer name are the product's, not
the protocol's: they come from the board's product spec (see `emulators/host.py`).
"""

from __future__ import annotations

import struct
from enum import IntEnum, IntFlag

from construct import (
    Adapter,
    Construct,
    ConstructError,
    Int8ul,
    Int16sl,
    Int16ul,
    Int24ul,
    Int32ul,
    Struct,
)


def _uuid16(short: int) -> str:
    """The full 128-bit form bleak uses for a 16-bit assigned number."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


# Services and characteristics (Bluetooth assigned numbers), in the 128-bit form bleak reports.
DEVICE_INFORMATION = _uuid16(0x180A)
MANUFACTURER_NAME = _uuid16(0x2A29)
MODEL_NUMBER = _uuid16(0x2A24)
SERIAL_NUMBER = _uuid16(0x2A25)
HARDWARE_REVISION = _uuid16(0x2A27)
FIRMWARE_REVISION = _uuid16(0x2A26)
BATTERY_SERVICE = _uuid16(0x180F)
BATTERY_LEVEL = _uuid16(0x2A19)
GENERIC_ACCESS = _uuid16(0x1800)
APPEARANCE = _uuid16(0x2A01)
ENVIRONMENTAL_SENSING = _uuid16(0x181A)
TEMPERATURE_UUID = _uuid16(0x2A6E)
HUMIDITY_UUID = _uuid16(0x2A6F)
PRESSURE_UUID = _uuid16(0x2A6D)
CCCD = _uuid16(0x2902)
ES_TRIGGER_SETTING = _uuid16(0x290D)
# The board's own control service (128-bit vendor UUIDs).
CONTROL_SERVICE = "a3c1e500-7c2b-4b8e-9f4e-3b1d0c1b0000"
CONTROL_COMMAND = "a3c1e500-7c2b-4b8e-9f4e-3b1d0c1b0001"
CONTROL_RESPONSE = "a3c1e500-7c2b-4b8e-9f4e-3b1d0c1b0002"
CONTROL_TELEMETRY = "a3c1e500-7c2b-4b8e-9f4e-3b1d0c1b0003"


class _Scaled(Adapter):
    """An integer on the air, a float in Python: value = raw * resolution, rounded on build."""

    def __init__(self, subcon: Construct, resolution: float) -> None:
        super().__init__(subcon)
        self.resolution = resolution
        self.digits = max(0, -int(f"{resolution:e}".split("e")[1]))

    def _decode(self, obj: int, context, path) -> float:
        return round(obj * self.resolution, self.digits)

    def _encode(self, obj: float, context, path) -> int:
        return round(obj / self.resolution)


TEMPERATURE = _Scaled(Int16sl, 0.01)  # 0x2A6E: degC, sint16, 0.01 degC
HUMIDITY = _Scaled(Int16ul, 0.01)  # 0x2A6F: %RH, uint16, 0.01 %
PRESSURE = _Scaled(Int32ul, 0.1)  # 0x2A6D: Pa, uint32, 0.1 Pa
BATTERY = Int8ul  # 0x2A19: %, uint8
TEXT = "utf-8"  # Device Information strings are UTF-8 without terminator


# ES Trigger Setting (0x290D, ESS 3.1.2.2) of a notifying Environmental Sensing characteristic:
# condition 0x02 "no less than the specified time between transmissions", operand uint24 seconds.
# The board notifies at its telemetry rate (10 Hz), so the least time expressible is 0 s.
ES_TRIGGER_MIN_INTERVAL = Struct("condition" / Int8ul, "seconds" / Int24ul).compile()
ES_TRIGGER_CONDITION_MIN_INTERVAL = 0x02


class AdvFlags(IntFlag):
    """Status bits in the advertising payload."""

    PROVISIONED = 0x01  # a serial number has been written
    LOW_BATTERY = 0x02  # below 20 %
    STREAMING = 0x04  # telemetry stream enabled


# A compiled parser meets short input with struct.error, the interpreted one with ConstructError.
PARSE_ERRORS = (ConstructError, struct.error)

# Manufacturer-specific data after the company identifier (which bleak strips into the dict key).
MANUFACTURER_PAYLOAD = Struct(
    "fw_major" / Int8ul,
    "fw_minor" / Int8ul,
    "fw_patch" / Int8ul,
    "battery_pct" / Int8ul,
    "flags" / Int8ul,
).compile()


class ControlOp(IntEnum):
    SET_MODE = 0x01
    GET_MODE = 0x02


class ControlStatus(IntEnum):
    OK = 0x00
    BAD_OPCODE = 0x01
    BAD_VALUE = 0x02


# Notified on CONTROL_TELEMETRY at the telemetry rate: a sequence number (uint16, wraps, restarts
# at 0 on boot) from which the central counts lost and reordered notifications, then the values.
TELEMETRY = Struct(
    "seq" / Int16ul,
    "temperature_c" / _Scaled(Int16sl, 0.01),
    "humidity_pct" / _Scaled(Int16ul, 0.01),
    "pressure_pa" / _Scaled(Int32ul, 0.1),
)

# The characteristic formats a notification is decoded with, by characteristic UUID.
FORMATS: dict[str, Construct] = {
    TEMPERATURE_UUID: TEMPERATURE,
    HUMIDITY_UUID: HUMIDITY,
    PRESSURE_UUID: PRESSURE,
    BATTERY_LEVEL: BATTERY,
    CONTROL_TELEMETRY: TELEMETRY,
}

# Written to CONTROL_COMMAND: an opcode and its argument (the Mode for SET_MODE).
CONTROL_REQUEST = Struct("op" / Int8ul, "value" / Int8ul).compile()
# Notified on CONTROL_RESPONSE after every write: the opcode answered, a status, the mode now.
CONTROL_REPLY = Struct("op" / Int8ul, "status" / Int8ul, "mode" / Int8ul).compile()
