"""What a plan needs from a station, checked at collection, before anything is powered.

    @pytest.mark.requires("psu", "current_profiler")
    def test_sleep_current(profiler, ...): ...

A requirement is a role (`dut`, `psu`, `dmm`, `radio`) or a capability name that an instrument
or radio family provides (docs/instruments.md, docs/ble.md). A test whose station lacks one is
skipped with the reason; plan bodies never branch on what the station has. A capability that only
the instrument's own `*IDN?` can tell is left to the fixture, which skips with the reason then.

A plan that belongs to another board's kit is a usage error: its frames would be sent to the
wrong board.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from bench.kits import installed_kits
from bench.station import StationProfile

ROLES = ("dut", "psu", "dmm", "radio")


def _providers(profile: StationProfile) -> list:
    """The modules that know the capabilities of the station's instruments and radio; each has
    `CAPABILITIES` (name -> what it means) and a function of the profile giving the names it
    provides, or None when only the connected instrument can tell (its *IDN?, its *OPT?)."""
    import importlib

    names = (["fixtures.capabilities"] if {"psu", "dmm"} & set(profile.roles) else []) + (
        ["fixtures.radio"] if "radio" in profile.roles else [])
    return [importlib.import_module(name) for name in names]


def _provided(provider, profile: StationProfile) -> frozenset[str] | None:
    if hasattr(provider, "station_capabilities"):
        return provider.station_capabilities(profile)
    return provider.radio_capabilities(profile)


def missing_requirements(profile: StationProfile, needed: Iterable[str]) -> str:
    """What of `needed` the station lacks, in words ("" when nothing is missing, or when only
    the connected instrument can tell: its fixture skips then)."""
    needed = list(dict.fromkeys(needed))
    missing = [f"role {name!r}" for name in needed if name in ROLES and name not in profile.roles]
    capabilities = [name for name in needed if name not in ROLES]
    if missing or not capabilities:
        return "; ".join(missing)
    providers = _providers(profile)
    for name in capabilities:
        owner = next((p for p in providers if name in getattr(p, "CAPABILITIES", {})), None)
        if owner is None:
            missing.append(f"capability {name!r} (no instrument or radio of this station "
                           f"declares it)")
            continue
        provided = _provided(owner, profile)
        if provided is not None and name not in provided:
            missing.append(f"capability {name!r} ({owner.CAPABILITIES[name]})")
    return "; ".join(missing)


def check_plan_ownership(profile: StationProfile, plans: Iterable[Path]) -> None:
    """Raise a usage error when a plan of another installed board is run on this station."""
    board = profile.dut.board
    for plan in dict.fromkeys(plans):
        owner = next((kit for kit in installed_kits().values() if kit.owns_plan(plan)), None)
        if owner is not None and owner.name != board:
            raise pytest.UsageError(
                f"{plan} is a plan of board {owner.name!r}, but station {profile.path} tests a "
                f"{board!r} ([dut] board); run `bench run --station {owner.emulated_station}` or "
                f"choose {board!r} plans")
