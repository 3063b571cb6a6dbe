"""Starts an emulated station: one board kit's emulated board and the faces a station asks for.

    >>> from emulators.ws100 import Ws100Emulator
    >>> with EmulatedStation(Ws100Emulator(BoardSettings()), {"dut"}) as emulated:
    ...     sorted(emulated.resources)
    ['dut']

`resources` maps each emulated role to the resource string a driver opens, the same kind of string
a real station's profile names (`/dev/pts/N`, `socket://...`, a VISA resource string, a Bumble
transport). The host knows no board: the emulated supply and meter are wired to the board's
`PowerFace`, its UART is served on a public transport, its radio is whatever the kit provides.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING

from emulators.dmm import DmmEmulator
from emulators.faults import FaultyTransport
from emulators.interfaces import BoardSettings, EmulatedBoard
from emulators.scpi import ScpiDevice
from emulators.scpi_server import ScpiServer
from emulators.serial_transport import open_transport
from emulators.supplies import emulated_supply

if TYPE_CHECKING:
    from emulators.ble_peripheral import Air

__all__ = ["BoardSettings", "EmulatedSlots", "EmulatedStation"]


class EmulatedStation:
    """Owns an emulated board and its faces for the life of a bench session."""

    def __init__(self, board: EmulatedBoard, roles: Collection[str], *, serial: str = "pty",
                 psu_channel: int = 1, dmm_test_point: str = "", seed: int = 0,
                 psu_model: str = "E36312A", faults: Mapping[str, float] | None = None,
                 air: Air | None = None) -> None:
        self.board = board
        self._instrument_faults = {k: v for k, v in (faults or {}).items()
                                   if k.startswith("instrument.")}
        self._seed = seed
        self.resources: dict[str, str] = {}
        self.instruments: dict[str, ScpiServer] = {}  # role -> SCPI server (psu, dmm)
        self._closers: list[Callable[[], None]] = [board.shutdown]
        try:
            if "dut" in roles:
                serial_faults = {k: v for k, v in (faults or {}).items() if k.startswith("serial.")}
                transport = open_transport(serial, serial_faults.pop("serial.replug_after_s", None),
                                           bool(serial_faults.pop("serial.replug_new_path", 0)))
                if serial_faults:  # the bench's own faults, on the line between board and bench
                    transport = FaultyTransport(transport, serial_faults, seed)
                face = board.serial_face(transport).start()
                self.serial = face
                self.resources["dut"] = face.port
                self._closers.append(face.close)
            if "psu" in roles:
                self._serve("psu", emulated_supply(psu_model, board.power, psu_channel, seed))
            if "dmm" in roles:
                self._serve("dmm", DmmEmulator(board.power, dmm_test_point, seed=seed))
            if "radio" in roles:
                radio = board.radio_face()
                if radio is None:
                    raise ValueError("the station asks for an emulated radio but this board "
                                     "has none")
                if air is not None:  # the slots' one air, its faults set by its owner
                    radio.join(air)
                elif radio_faults := _radio_faults(faults):  # the air between board and bench
                    radio.set_air_faults(radio_faults, seed)
                self.radio = radio.start()
                self.resources["radio"] = radio.resource  # a Bumble HCI transport
                self._closers.append(radio.close)
        except BaseException:
            self.close()
            raise

    def _serve(self, role: str, device: ScpiDevice) -> None:
        server = ScpiServer(device, faults=self._instrument_faults, seed=self._seed).start()
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


def _radio_faults(faults: Mapping[str, float] | None) -> dict[str, float]:
    return {k: v for k, v in (faults or {}).items() if k.startswith("radio.")}


class EmulatedSlots:
    """Several emulated boards on one station, as `[[slot]]` sections declare them: each board
    its own serial and radio faces, one supply with a board on each slot's channel, one meter
    with its probes on the board of slot `meter` (moving them needs a scanner: not emulated).
    Every board's radio is on one air (`air`, its faults the station's `radio.*`), as on a desk:
    one central on `resources[slot]["radio"]` hears them all.

    `resources[slot][role]` is what that slot's process opens; the supply's, the meter's and
    the radio's strings are the same in every slot."""

    def __init__(self, boards: Mapping[int, tuple[EmulatedBoard, int]], roles: Collection[str],
                 meter: int, *, serial: str = "pty", dmm_test_point: str = "", seed: int = 0,
                 psu_model: str = "E36312A", faults: Mapping[str, float] | None = None) -> None:
        self.stations: dict[int, EmulatedStation] = {}
        self.resources: dict[int, dict[str, str]] = {}
        self.air: Air | None = None
        first = min(boards)
        try:
            if "radio" in roles:
                from emulators.ble_peripheral import Air  # Bumble only for stations with a radio

                self.air = Air(seed=seed)
                if radio_faults := _radio_faults(faults):
                    self.air.set_faults(radio_faults, seed)
                self.air.start()
            for number, (board, channel) in sorted(boards.items()):
                own = {"dut", "radio", "psu" if number == first else "",
                       "dmm" if number == meter else ""} & set(roles)
                self.stations[number] = EmulatedStation(
                    board, own, serial=serial, psu_channel=channel, seed=seed + number,
                    dmm_test_point=dmm_test_point, psu_model=psu_model, faults=faults,
                    air=self.air)
            if "psu" in self.instruments:
                for number, (board, channel) in boards.items():
                    if number != first:
                        self.instruments["psu"].device.wire(channel, board.power)
            shared = {role: station.resources[role] for station in self.stations.values()
                      for role in ("psu", "dmm") if role in station.resources}
            for number, station in self.stations.items():
                self.resources[number] = station.resources | shared
        except BaseException:
            for number, (board, _) in boards.items():
                if number not in self.stations:
                    board.shutdown()
            self.close()
            raise

    @property
    def instruments(self) -> dict[str, ScpiServer]:
        """The shared supply's and meter's servers (role -> server)."""
        return {role: server for station in self.stations.values()
                for role, server in station.instruments.items()}

    def __enter__(self) -> EmulatedSlots:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Every slot's board and faces, the shared instruments and the air last."""
        for number in sorted(self.stations, reverse=True):
            self.stations.pop(number).close()
        if self.air is not None:
            self.air.close()
