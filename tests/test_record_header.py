"""The record says which kit made it (name, distribution version, git commit) and which record
format it is written in; a record older than the format field reads as version 1."""

from __future__ import annotations

import json
import subprocess
from importlib.metadata import entry_points
from pathlib import Path

from bench.kits import GROUP, board_kit, kit_identity
from bench.record import RECORD_FORMAT, load_record
from tests.plan_runner import ROOT, run_plan


def test_a_plan_run_records_its_format_and_its_kit(tmp_path: Path) -> None:
    outcomes = run_plan(["testplans/ws100/test_link.py"], [], tmp_path)
    assert set(outcomes.values()) == {"passed"}
    view = load_record(tmp_path / "record.jsonl")
    assert view.record_format == RECORD_FORMAT == 2
    assert view.start["kit"] == kit_identity(board_kit("ws100"))
    assert view.start["kit"]["name"] == "ws100"


def test_the_kit_identity_is_its_distribution_version_and_the_git_describe_of_its_folder(
        tmp_path: Path, monkeypatch) -> None:
    # the kit's module in a git checkout of its own (CI tests a copy of the tree, not a checkout)
    module = _kit_module_in(tmp_path, monkeypatch)
    git = ["git", "-C", str(module.parent), "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "kit"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    described = subprocess.run([*git, "describe", "--always", "--dirty"], capture_output=True,
                               text=True, check=True).stdout.strip()
    entry = next(e for e in entry_points(group=GROUP) if e.name == "tracker")
    assert kit_identity(board_kit("tracker")) == {
        "name": "tracker", "version": entry.dist.version, "commit": described}
    module.write_text(module.read_text() + "\n")
    assert kit_identity(board_kit("tracker"))["commit"] == f"{described}-dirty"


def _kit_module_in(folder: Path, monkeypatch) -> Path:
    """The tracker kit's module found in `folder`/fixtures, outside any enclosing checkout."""
    (folder / "fixtures").mkdir()
    module = folder / "fixtures" / "tracker.py"
    module.write_text((ROOT / "fixtures" / "tracker.py").read_text())
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(folder))
    monkeypatch.setattr("importlib.util.find_spec", lambda name: type(
        "Spec", (), {"origin": str(module)})())
    return module


def test_a_kit_outside_a_git_checkout_has_no_commit(tmp_path: Path, monkeypatch) -> None:
    _kit_module_in(tmp_path, monkeypatch)  # a folder that is no git checkout (an installed wheel)
    assert kit_identity(board_kit("tracker"))["commit"] is None


def test_a_record_without_a_format_is_version_1(tmp_path: Path) -> None:
    path = tmp_path / "record.jsonl"
    path.write_text(json.dumps({"kind": "start", "time": 1.0, "station": {}}) + "\n")
    assert load_record(path).record_format == 1
