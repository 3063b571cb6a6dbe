"""Starts an emulated station: one board model and the faces the station profile asks for.

    >>> from bench.station import DEFAULT_PROFILE, load_station
    >>> with EmulatedStation(load_station(DEFAULT_PROFILE)) as emulated:
    ...     sorted(emulated.resources)
    ['dut']

`resources` maps each emulated role to the resource string a driver opens, the same kind of string
a real station's profile names (`/dev/pts/N`, `socket://...`, a VISA resource string).
"""

from __future__ import annotations

from collections.abc import Callable

from bench.station import StationProfile
from emulators.board import BoardModel, Identity
from emulators.serial_face import SerialFace


class EmulatedStation:
    """Owns the emulated board and its faces for the life of a bench session."""

    def __init__(self, profile: StationProfile) -> None:
        config = profile.emulator
        assert config is not None, "EmulatedStation needs a profile with an [emulator] section"
        roles = profile.emulated_roles()
        self.profile = profile
        self.board = BoardModel(
            None if config.provisioned else Identity(serial=""),
            seed=config.seed,
            defects=config.defects,
            powered="psu" not in roles,  # with a supply on the desk, the board waits for power
        )
        self.resources: dict[str, str] = {}
        self._closers: list[Callable[[], None]] = [self.board.shutdown]
        if "dut" in roles:
            self.serial = SerialFace(self.board, config.serial, seed=config.seed).start()
            self.resources["dut"] = self.serial.port
            self._closers.append(self.serial.close)

    def __enter__(self) -> EmulatedStation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every face, last started first."""
        while self._closers:
            self._closers.pop()()
