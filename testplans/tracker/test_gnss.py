"""GNSS: a fresh 3D fix with enough satellites, where the bench stands."""

import math

import pytest

from drivers.tracker import GnssFix, TrackerDriver
from protocols.tracker_messages import Fix

EARTH_RADIUS_M = 6_371_000


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


@pytest.fixture(scope="module")
def fix(dut: TrackerDriver) -> GnssFix:
    return dut.read_gnss()


def test_fix_quality(fix, spec, measure) -> None:
    measure(spec.limit("fix_quality"), getattr(fix.fix, "name", str(fix.fix)),
            nominal=Fix.FIX_3D.name)
    measure(spec.limit("satellites"), fix.satellites)


def test_fix_is_fresh(fix, spec, measure) -> None:
    """The fix the board reports was computed just now, not kept from before a reboot."""
    measure(spec.limit("fix_age"), fix.age_s)


def test_fix_position(fix, spec, measure) -> None:
    """The position falls within the site's radius."""
    measure(spec.limit("latitude"), fix.latitude_deg)
    measure(spec.limit("longitude"), fix.longitude_deg)
    measure(spec.limit("distance_from_site"),
            distance_m(fix.latitude_deg, fix.longitude_deg, spec["site.latitude"],
                       spec["site.longitude"]), high=spec["site.radius_m"])
