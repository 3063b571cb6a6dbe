"""The WS-100's board around its MCU, for its firmware under QEMU: the Python model's own figures.

    >>> PHYSICS.mode_current_a[0]
    8e-06
"""

from __future__ import annotations

from emulators.qemu_board import BoardPhysics
from emulators.ws100_board import (
    ADV_INTERVAL_S,
    BOOT_PEAK_A,
    BROWNOUT_HYSTERESIS_V,
    BROWNOUT_V,
    MODE_CURRENT_A,
    NOMINAL_SUPPLY_V,
    RADIO_BURST_A,
    RADIO_BURST_S,
    Identity,
)

PHYSICS = BoardPhysics(
    mode_current_a={int(mode): amps for mode, amps in MODE_CURRENT_A.items()},
    adv_interval_s={int(mode): interval for mode, interval in ADV_INTERVAL_S.items()},
    burst_s=RADIO_BURST_S,
    burst_a=RADIO_BURST_A,
    boot_peak_a=BOOT_PEAK_A,
    boot_plateau_a=15e-3,  # the Python model's boot current above its inrush
    brownout_v=BROWNOUT_V,
    hysteresis_v=BROWNOUT_HYSTERESIS_V,
    nominal_v=NOMINAL_SUPPLY_V,
    rail_v=3.3,
    default_serial=Identity().serial,
    environment=(22.5, 45.0, 101_325.0),  # the Python model's room
)
