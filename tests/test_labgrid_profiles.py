"""`labgrid://` resources in a station profile: what is refused when the profile loads, before
any coordinator is asked, and the one line a run gets where no coordinator answers."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bench.station import StationError, load_station

LAB_PROFILE = Path(__file__).resolve().parent.parent / "fixtures" / "ws100-labgrid.toml"


def _profile(tmp_path: Path, old: str, new: str) -> Path:
    text = LAB_PROFILE.read_text()
    assert old in text
    path = tmp_path / "station.toml"
    path.write_text(text.replace(old, new))
    return path


def test_the_lab_profile_loads_with_its_roles_on_one_place() -> None:
    from bench.labgrid_places import place_refs

    refs = place_refs(load_station(LAB_PROFILE))
    assert {role: (ref.place, ref.resource) for role, ref in refs.items()} == {
        "dut": ("ws100-a", "console"), "psu": ("ws100-a", "psu"), "dmm": ("ws100-a", "dmm"),
        "radio": ("ws100-a", "radio")}


@pytest.mark.parametrize(("old", "new", "needle"), [
    ('"labgrid://ws100-a/console"', '"labgrid://ws100-a"', "[dut]: 'labgrid://ws100-a' is not "
                                                           "labgrid://PLACE/RESOURCE"),
    ('"labgrid://ws100-a/psu"', '"labgrid://board=/psu"', "[psu]: 'labgrid://board=/psu': tags"),
    ('"labgrid://ws100-a/dmm"', '"labgrid://ws100-b/dmm"', "one run holds one labgrid place; "
                                                           "the roles name 2"),
    ('backend = "bumble"', 'backend = "native"', '[radio] on a labgrid place is a Bumble HCI'),
])
def test_a_wrong_labgrid_resource_names_the_role(tmp_path: Path, old: str, new: str,
                                                  needle: str) -> None:
    with pytest.raises(StationError) as raised:
        load_station(_profile(tmp_path, old, new))
    assert needle in str(raised.value)
    assert "station.toml" in str(raised.value)


def test_tags_choose_the_place() -> None:
    from bench.labgrid_places import parse

    ref = parse("labgrid://desk=3,board=ws100/console", "here")
    assert (ref.place, ref.tags, ref.resource, ref.selector) == (
        "", (("board", "ws100"), ("desk", "3")), "console", "board=ws100,desk=3")


def _nobody_listening() -> str:
    pytest.importorskip("labgrid", reason="labgrid is not installed: pip install "
                                          "'citebench[labgrid]'")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def test_a_release_the_coordinator_misses_is_reported_not_raised(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The run's end is still recorded; the line says how the place gets freed."""
    from bench.labgrid_places import Lease

    lease = Lease(_nobody_listening(), "ws100-a", "host/citebench-1-2",
                  load_station(LAB_PROFILE), {})
    assert lease.release() is False
    assert ("place ws100-a NOT released" in capsys.readouterr().err
            and not lease.released)


def test_no_coordinator_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.labgrid_places import PlaceError, acquire

    address = _nobody_listening()
    monkeypatch.setenv("LG_COORDINATOR", address)
    with pytest.raises(PlaceError) as raised:
        acquire(load_station(LAB_PROFILE))
    assert f"labgrid coordinator {address}: cannot connect" in str(raised.value)
