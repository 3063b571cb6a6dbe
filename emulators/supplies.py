"""The emulated supply models by name, as `[emulator] psu_model` and `bench emulate --psu-model`
name them.

    >>> sorted(SUPPLIES)
    ['DP832', 'E36312A', 'N6705C', 'SPD3303X']
"""

from __future__ import annotations

from emulators.interfaces import PowerFace
from emulators.psu import E36312A, SupplyEmulator
from emulators.psu_dp800 import DP832
from emulators.psu_n6700 import N6705C
from emulators.psu_spd3303x import SPD3303X

SUPPLIES: dict[str, type[SupplyEmulator]] = {
    "E36312A": E36312A, "N6705C": N6705C, "DP832": DP832, "SPD3303X": SPD3303X}


def emulated_supply(model: str, power: PowerFace, board_channel: int = 1,
                    seed: int = 0) -> SupplyEmulator:
    """The emulator of `model`, its `board_channel` wired to `power`."""
    try:
        cls = SUPPLIES[model]
    except KeyError:
        raise ValueError(f"no emulated supply {model!r}; choose one of "
                         f"{', '.join(sorted(SUPPLIES))}") from None
    return cls(power, board_channel, seed)
