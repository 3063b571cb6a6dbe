"""The WS-100 kit's emulator: one board model, its UART, its radio, its power pins.

    >>> board = Ws100Emulator(BoardSettings(seed=7))
    >>> board.power.supply_v
    3.7
    >>> board.shutdown()

What the emulator host builds for a station whose `[dut] board` is "ws100"; see
emulators/interfaces.py for the interface every kit's emulator offers.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from emulators.interfaces import BoardSettings, chip_address
from emulators.serial_transport import SerialTransport
from emulators.ws100_board import BoardModel, Identity
from emulators.ws100_serial import SerialFace


class Ws100Emulator:
    """emulators.interfaces.EmulatedBoard for the WS-100."""

    def __init__(self, settings: BoardSettings) -> None:
        default = Identity()
        serial = (settings.unique_id or default.serial) if settings.provisioned else ""
        self.settings = settings
        identity = Identity(serial=serial, ble_address=ble_address(settings.unique_id))
        self.board = BoardModel(identity, seed=settings.seed, defects=settings.defects,
                                powered=settings.powered, knobs=settings.knobs)
        self.power = self.board

    def serial_face(self, transport: SerialTransport) -> SerialFace:
        return SerialFace(self.board, transport, seed=self.settings.seed)

    def radio_face(self):
        from emulators.radio import RadioFace  # Bumble is imported only by stations with a radio

        return RadioFace(self.board, **radio_identity(self.settings.spec))

    def shutdown(self) -> None:
        self.board.shutdown()


def ble_address(unique_id: str) -> str:
    """The board's radio address: per chip, as a factory-programmed one is (boards sharing
    one air must differ); the model's default for the default identity."""
    default = Identity()
    if not unique_id or unique_id == default.serial:
        return default.ble_address
    return chip_address(default.ble_address, zlib.crc32(unique_id.encode()))


def radio_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """RadioFace's keyword arguments from the product spec (its [radio] and [product] tables):
    what the board advertises is the product's, never a constant of the emulator."""
    radio, product = spec["radio"], spec["product"]
    return {"company_id": radio["company_id"], "appearance": radio["appearance"],
            "name": radio["name"], "manufacturer": product["manufacturer"]}
