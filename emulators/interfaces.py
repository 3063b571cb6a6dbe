"""What the emulator host and the emulated instruments need from a board kit's emulator.

    board = kit.emulator(BoardSettings(seed=7, defects=("boot-slow",), powered=False))
    psu = emulated_supply("N6705C", board.power, 1)          # the supply drives `board.power`
    face = board.serial_face(open_transport("pty")).start()   # the UART, on a real pty
    radio = board.radio_face()                                # None when the board has no radio

The emulated supply and meter call only `PowerFace`: a board kit that implements these few
members gets every SCPI instrument citebench emulates, coupled to its own physics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class PowerFace(Protocol):
    """The board's power pins, as the emulated supply and meter see them.

    `supply(volts)` is called on every output change (0 V is output off); `current_a(at)` is the
    current the board draws at monotonic time `at` (now when None), without instrument noise;
    `clock` is the time base every face shares; `test_point_v(name)` is the voltage a meter's
    probes read at a named test point (`test_points` lists the names a profile may use).
    """

    clock: Callable[[], float]
    test_points: tuple[str, ...]

    def supply(self, volts: float) -> None: ...

    def current_a(self, at: float | None = None) -> float: ...

    def test_point_v(self, name: str) -> float: ...


@runtime_checkable
class Face(Protocol):
    """A running face (serial, radio) of an emulated board."""

    def start(self) -> Face: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class BoardSettings:
    """How the emulator host builds a board: from the profile's [emulator] section."""

    seed: int = 0
    defects: tuple[str, ...] = ()
    powered: bool = True  # False: the board waits for the emulated supply
    unique_id: str = ""  # "" keeps the model's default identity
    provisioned: bool = True
    spec: Mapping[str, Any] = field(default_factory=dict)  # the kit's product spec, as data
    knobs: Mapping[str, float] = field(default_factory=dict)  # BoardKit.knobs settings


@runtime_checkable
class EmulatedBoard(Protocol):
    """One emulated board: its power face and factories for its other faces."""

    power: PowerFace

    def serial_face(self, transport: object) -> Face:
        """The UART served on `transport` (emulators.serial_transport); call `.start()`."""

    def radio_face(self) -> Face | None:
        """The radio, or None; a started radio face has `.resource` (a Bumble HCI transport)."""

    def shutdown(self) -> None:
        """Stop timers and threads the model owns."""


class UnknownKnobError(ValueError):
    """A knob name the board's emulator does not have (a typo must not set nothing)."""


def check_knob_names(knobs: Mapping[str, float], catalogue: Mapping[str, str],
                     board: str) -> None:
    """Refuse knob settings a board model was handed directly, naming each unknown one."""
    unknown = sorted(set(knobs) - set(catalogue))
    if unknown:
        raise UnknownKnobError(f"unknown {board} knob(s) {', '.join(unknown)}; known: "
                               f"{', '.join(sorted(catalogue))}")


def chip_address(default: str, low: int) -> str:
    """A board's radio address: `default`'s first three bytes (the maker's) and `low`'s 24 bits
    (the chip's, as a factory-programmed address has), so that boards sharing one air (a
    batch's slots) differ."""
    return default[:9] + ":".join(f"{b:02X}" for b in (low & 0xFFFFFF).to_bytes(3, "big"))
