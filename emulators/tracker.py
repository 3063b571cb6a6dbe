"""The tracker kit's emulator: one board model, its UART, its BLE radio (NUS), its USB power.

    >>> board = TrackerEmulator(BoardSettings(seed=7))
    >>> board.power.vbus_v
    5.0
    >>> board.shutdown()

What the emulator host builds for a station whose `[dut] board` is "tracker"; see
emulators/interfaces.py for the interface every kit's emulator offers.
"""

from __future__ import annotations

from emulators.interfaces import BoardSettings, Face, chip_address
from emulators.serial_transport import SerialTransport
from emulators.tracker_board import Identity, TrackerBoard
from emulators.tracker_serial import SerialFace


class TrackerEmulator:
    """emulators.interfaces.EmulatedBoard for the tracker."""

    def __init__(self, settings: BoardSettings) -> None:
        identity = Identity()
        if settings.unique_id:
            try:
                unique_id = int(settings.unique_id, 16)
            except ValueError:
                raise ValueError(f"emulated tracker unique id {settings.unique_id!r} must be "
                                 f"16 hex digits (a 64-bit id)") from None
            # the radio address ends in the chip id's low bytes, as the default's does
            identity = Identity(unique_id=unique_id,
                                ble_address=chip_address(identity.ble_address, unique_id))
        self.settings = settings
        self.board = TrackerBoard(identity, seed=settings.seed, defects=settings.defects,
                                  powered=settings.powered, knobs=settings.knobs)
        self.power = self.board

    def serial_face(self, transport: SerialTransport) -> SerialFace:
        return SerialFace(self.board, transport)

    def radio_face(self) -> Face:
        from emulators.tracker_radio import NusFace  # Bumble only for stations with a radio

        return NusFace(self.board, seed=self.settings.seed)

    def shutdown(self) -> None:
        self.board.shutdown()
