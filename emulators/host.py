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
from emulators.dmm import DmmEmulator
from emulators.radio import RadioFace
from emulators.scpi import ScpiDevice
from emulators.scpi_server import ScpiServer
from emulators.serial_face import SerialFace
from emulators.supplies import emulated_supply


class EmulatedStation:
    """Owns the emulated board and its faces for the life of a bench session."""

    def __init__(self, profile: StationProfile) -> None:
        config = profile.emulator
        assert config is not None, "EmulatedStation needs a profile with an [emulator] section"
        roles = profile.emulated_roles()
        self.profile = profile
        self.board = BoardModel(
            Identity(serial=(config.board_serial or Identity().serial) if config.provisioned
                     else ""),
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
        self.instruments: dict[str, ScpiServer] = {}  # role -> SCPI server (psu, dmm)
        if "psu" in roles and profile.psu is not None:
            self._serve("psu", emulated_supply(config.psu_model, self.board, profile.psu.channel,
                                               seed=config.seed))
        if "dmm" in roles and profile.dmm is not None:
            self._serve("dmm", DmmEmulator(self.board, profile.dmm.test_point, seed=config.seed))
        if "radio" in roles:
            self.radio = RadioFace(self.board).start()
            self.resources["radio"] = self.radio.resource  # a Bumble HCI transport
            self._closers.append(self.radio.close)

    def _serve(self, role: str, device: ScpiDevice) -> None:
        server = ScpiServer(device).start()
        self.instruments[role] = server
        self.resources[role] = server.resource
        self._closers.append(server.close)

    def __enter__(self) -> EmulatedStation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every face, last started first."""
        while self._closers:
            self._closers.pop()()
