"""Board kits: found through entry points, listed by `bench boards`, and the core keeps to them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.exitcodes import ExitCode
from bench.kits import KitError, ProductSpec, board_kit, installed_kits
from bench.station import DEFAULT_PROFILE, StationError, load_station, with_defects
from tests.plan_runner import ROOT, junit_outcomes


def _bench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_boards_json_lists_every_installed_kit() -> None:
    done = _bench("boards", "--json")
    assert done.returncode == 0, done.stderr
    boards = {entry["name"]: entry for entry in json.loads(done.stdout)}
    assert set(boards) == set(installed_kits()) and "ws100" in boards
    for entry in boards.values():
        assert entry["defects"] and all(isinstance(name, str) for name in entry["defects"])
        assert Path(entry["emulated_station"]).is_file()
        assert Path(entry["plans"]).is_dir() and list(Path(entry["plans"]).glob("test_*.py"))
        assert load_station(entry["emulated_station"]).dut.board == entry["name"]


def test_each_kit_loads_its_parts() -> None:
    for kit in installed_kits().values():
        codec = kit.load("codec")()
        assert isinstance(codec.sequenced, bool) and codec.seq_space >= 1
        assert callable(kit.load("driver")) and callable(kit.load("identity"))
        assert callable(kit.load("emulator"))
        assert isinstance(kit.product_spec(), ProductSpec)
        assert {defect.face for defect in kit.defects.values()} <= {
            "serial", "power", "radio", "identity"}


def test_unknown_board_is_a_profile_error_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text(DEFAULT_PROFILE.read_text().replace('board = "ws100"', 'board = "toaster"'))
    with pytest.raises(StationError, match=r"\[dut\]\.board: no board kit named 'toaster'"):
        load_station(path)
    with pytest.raises(KitError, match=r"installed: .*ws100"):
        board_kit("toaster")


def test_defects_are_checked_against_the_station_board() -> None:
    profile = load_station(DEFAULT_PROFILE)
    with pytest.raises(StationError, match=r"unknown defect.*for board 'ws100'"):
        with_defects(profile, ["motion-events-lost-on-a-weather-station"], "--defect")
    done = _bench("run", "--defect", "no-such-defect", "--no-index")
    assert done.returncode == ExitCode.USAGE and "no-such-defect" in done.stderr


def test_spec_key_missing_names_the_file_and_key() -> None:
    spec = board_kit("ws100").product_spec()
    assert spec["product.part_number"] == "WS-100"
    with pytest.raises(KitError, match=r"ws100-spec\.toml: no key 'product\.colour'"):
        spec["product.colour"]


FAKE_KIT = """
from dataclasses import replace
from pathlib import Path

from fixtures.ws100 import KIT as WS100

HERE = Path(__file__).resolve().parent
KIT = replace(WS100, name="fakeboard", plans=HERE / "plans",
              emulated_station=HERE / "fakeboard.toml")
"""


def _fake_kit_site(tmp_path: Path) -> Path:
    """A second kit installed the way a team's package is: a distribution with an entry point."""
    site = tmp_path / "site"
    info = site / "fakeboard-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeboard\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[citebench.boards]\nfakeboard = fakekit:KIT\n")
    (site / "fakekit.py").write_text(FAKE_KIT)
    (site / "plans").mkdir()
    (site / "fakeboard.toml").write_text(
        DEFAULT_PROFILE.read_text().replace('board = "ws100"', 'board = "fakeboard"'))
    return site


def test_another_boards_plan_is_a_usage_error_before_power(tmp_path: Path) -> None:
    """The WS-100's plans against a station whose board is another kit's: refused at collection,
    before the station (its supply, its board) is ever started."""
    site = _fake_kit_site(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-m", "bench", "boards", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=env)
    assert {b["name"] for b in json.loads(done.stdout)} >= {"ws100", "fakeboard"}
    done = subprocess.run([sys.executable, "-m", "bench", "run", "--station",
                           str(site / "fakeboard.toml"), "--plan",
                           str(board_kit("ws100").plans / "test_link.py"), "--reports",
                           str(tmp_path / "reports"), "--no-index"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == ExitCode.USAGE, done.stdout + done.stderr
    assert "is a plan of board 'ws100'" in done.stdout + done.stderr
    assert "tests a 'fakeboard'" in done.stdout + done.stderr
    assert not (tmp_path / "reports" / ".incoming").exists() or not any(
        (tmp_path / "reports" / ".incoming").rglob("record.jsonl"))  # nothing was powered


def test_requires_marker_skips_with_the_reason(tmp_path: Path) -> None:
    plan = tmp_path / "test_needs.py"
    plan.write_text(
        "import pytest\n\n"
        "@pytest.mark.requires('dmm')\ndef test_needs_meter(measure):\n    measure('x', 1)\n\n"
        "def test_uses_radio(radio):\n    pass\n\n"
        "def test_plain(measure):\n    measure('y', 1)\n")
    profile = tmp_path / "serial-only.toml"
    text = DEFAULT_PROFILE.read_text()
    profile.write_text(text.split("\n[psu]")[0])
    junit = tmp_path / "junit.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", str(plan), "--station", str(profile),
                           f"--junitxml={junit}", "-q", "-rs", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    outcomes = {node.rsplit("::", 1)[1]: o for node, o in junit_outcomes(junit).items()}
    assert outcomes == {"test_needs_meter": "skipped", "test_uses_radio": "skipped",
                        "test_plain": "passed"}
    assert "lacks role 'dmm'" in done.stdout and "lacks role 'radio'" in done.stdout
