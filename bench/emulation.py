"""Serve a station profile's emulated roles with its board kit's emulator.

    >>> from bench.station import DEFAULT_PROFILE, load_station
    >>> with emulate(load_station(DEFAULT_PROFILE)) as emulated:
    ...     sorted(emulated.resources)
    ['dmm', 'dut', 'psu', 'radio']

The one place where a profile's `[emulator]` section becomes an emulated board: the `station`
fixture, `bench emulate` and `bench list` all come through here; `emulate_slots` makes one
board per `[[slot]]` (`bench run --slots`, `bench emulate --slots`).
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.kits import _load as load_object  # the kits' own "module:attribute" loader
from bench.station import EmulatorConfig, SlotConfig, StationError, StationProfile
from emulators.host import EmulatedSlots, EmulatedStation
from emulators.interfaces import BoardSettings, EmulatedBoard


def emulate(profile: StationProfile) -> EmulatedStation:
    """Start the profile's emulated roles; the caller closes the returned station."""
    config = _config(profile)
    roles = profile.emulated_roles()
    return EmulatedStation(
        _board(profile, "psu" not in roles), roles, serial=config.serial, seed=config.seed,
        psu_channel=profile.psu.channel if profile.psu else 1,
        dmm_test_point=profile.dmm.test_point if profile.dmm else "",
        psu_model=config.psu_model, faults=config.faults)


def emulate_slots(profile: StationProfile, slots: Sequence[SlotConfig]) -> EmulatedSlots:
    """One emulated board per slot, each with its own seed (the station's plus its number)
    and serial number, all on the station's one emulated supply and meter."""
    config = _config(profile)
    if config.kind != "python":
        raise StationError(f"{profile.path}: [[slot]] emulation serves the kit's Python model, "
                           f"not [emulator] kind {config.kind!r}")
    roles = profile.emulated_roles()
    boards = {}
    try:
        for slot in slots:
            serial = slot.board_serial or profile.kit.unique_id_template.format(n=slot.number)
            boards[slot.number] = (_board(profile, "psu" not in roles, config.seed + slot.number,
                                          serial), slot.channel)
    except BaseException:
        for board, _ in boards.values():
            board.shutdown()
        raise
    meter = next((slot.number for slot in slots if slot.meter), slots[0].number)
    return EmulatedSlots(boards, roles, meter, serial=config.serial, seed=config.seed,
                         dmm_test_point=profile.dmm.test_point if profile.dmm else "",
                         psu_model=config.psu_model, faults=config.faults)


def _config(profile: StationProfile) -> EmulatorConfig:
    if profile.emulator is None:
        raise ValueError(f"{profile.path}: emulated roles need an [emulator] section")
    return profile.emulator


def _board(profile: StationProfile, powered: bool, seed: int | None = None,
           unique_id: str | None = None) -> EmulatedBoard:
    """The kit's emulated board (or the QEMU firmware's) as the profile's [emulator] says."""
    config = _config(profile)
    settings = BoardSettings(
        seed=config.seed if seed is None else seed, defects=config.defects, powered=powered,
        unique_id=config.board_serial if unique_id is None else unique_id,
        provisioned=config.provisioned, spec=profile.kit.product_spec().data,
        knobs=config.knobs)
    if config.kind == "qemu":
        from emulators.qemu_board import QemuBoard

        return QemuBoard(settings, profile.firmware_path(), config.machine,
                         load_object(config.physics), config.qemu_args)
    return profile.kit.load("emulator")(settings)
