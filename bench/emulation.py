"""Serve a station profile's emulated roles with its board kit's emulator.

    >>> from bench.station import DEFAULT_PROFILE, load_station
    >>> with emulate(load_station(DEFAULT_PROFILE)) as emulated:
    ...     sorted(emulated.resources)
    ['dmm', 'dut', 'psu', 'radio']

The one place where a profile's `[emulator]` section becomes an emulated board: the `station`
fixture, `bench emulate` and `bench list` all come through here.
"""

from __future__ import annotations

from bench.kits import _load as load_object  # the kits' own "module:attribute" loader
from bench.station import StationProfile
from emulators.host import EmulatedStation
from emulators.interfaces import BoardSettings


def emulate(profile: StationProfile) -> EmulatedStation:
    """Start the profile's emulated roles; the caller closes the returned station."""
    config = profile.emulator
    if config is None:
        raise ValueError(f"{profile.path}: emulated roles need an [emulator] section")
    roles = profile.emulated_roles()
    settings = BoardSettings(
        seed=config.seed, defects=config.defects, powered="psu" not in roles,
        unique_id=config.board_serial, provisioned=config.provisioned,
        spec=profile.kit.product_spec().data, knobs=config.knobs)
    if config.kind == "qemu":
        from emulators.qemu_board import QemuBoard

        board = QemuBoard(settings, profile.firmware_path(), config.machine,
                          load_object(config.physics), config.qemu_args)
    else:
        board = profile.kit.load("emulator")(settings)
    return EmulatedStation(
        board, roles, serial=config.serial, seed=config.seed,
        psu_channel=profile.psu.channel if profile.psu else 1,
        dmm_test_point=profile.dmm.test_point if profile.dmm else "",
        psu_model=config.psu_model, faults=config.faults)
