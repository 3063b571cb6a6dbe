"""Serve a station profile's emulated roles with its board kit's emulator.

    >>> from bench.station import DEFAULT_PROFILE, load_station
    >>> with emulate(load_station(DEFAULT_PROFILE)) as emulated:
    ...     sorted(emulated.resources)
    ['dmm', 'dut', 'psu', 'radio']

The one place where a profile's `[emulator]` section becomes an emulated board: the `station`
fixture, `bench emulate` and `bench list` all come through here.
"""

from __future__ import annotations

from bench.station import StationProfile
from emulators.host import EmulatedStation
from emulators.interfaces import BoardSettings


def emulate(profile: StationProfile) -> EmulatedStation:
    """Start the profile's emulated roles; the caller closes the returned station."""
    config = profile.emulator
    if config is None:
        raise ValueError(f"{profile.path}: emulated roles need an [emulator] section")
    roles = profile.emulated_roles()
    board = profile.kit.load("emulator")(BoardSettings(
        seed=config.seed, defects=config.defects, powered="psu" not in roles,
        unique_id=config.board_serial, provisioned=config.provisioned,
        spec=profile.kit.product_spec().data, knobs=config.knobs))
    return EmulatedStation(
        board, roles, serial=config.serial, seed=config.seed,
        psu_channel=profile.psu.channel if profile.psu else 1,
        dmm_test_point=profile.dmm.test_point if profile.dmm else "",
        psu_model=config.psu_model, faults=config.faults)
