"""`bench new-board`: a third board, added as a new user would, with no edit to citebench."""

import os
import subprocess
import sys
from pathlib import Path

from bench.exitcodes import ExitCode
from tests.plan_runner import ROOT


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_scaffolded_kit_installs_and_passes_its_plan_then_catches_its_defect(tmp_path: Path
                                                                            ) -> None:
    made = _run("-m", "bench", "new-board", "thermo", "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    site = tmp_path / "site"  # installed as a team's package is, apart from this environment
    built = _run("-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                 str(tmp_path / "thermo"))
    assert built.returncode == 0, built.stdout + built.stderr
    env = {"PYTHONPATH": str(site)}
    boards = _run("-m", "bench", "boards", "--json", env=env)
    assert '"name": "thermo"' in boards.stdout, boards.stdout + boards.stderr
    station = site / "thermo_kit" / "emulated.toml"
    passed = _run("-m", "bench", "run", "--station", str(station), "--reports",
                  str(tmp_path / "reports"), "--no-index", env=env)
    assert passed.returncode == ExitCode.PASS, passed.stdout + passed.stderr
    assert "verdict: PASS" in passed.stdout.splitlines()
    failed = _run("-m", "bench", "run", "--station", str(station), "--defect", "wrong-firmware",
                  "--reports", str(tmp_path / "reports"), "--no-index", env=env)
    assert failed.returncode == ExitCode.FAIL, failed.stdout + failed.stderr
    codec_tests = _run("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", env=env,
                       cwd=tmp_path / "thermo")
    assert codec_tests.returncode == 0, codec_tests.stdout + codec_tests.stderr


def test_new_board_refuses_a_bad_name_and_an_existing_folder(tmp_path: Path) -> None:
    bad = _run("-m", "bench", "new-board", "My Board", "--dir", str(tmp_path))
    assert bad.returncode == ExitCode.USAGE and "board name 'My Board'" in bad.stderr
    (tmp_path / "thermo").mkdir()
    taken = _run("-m", "bench", "new-board", "thermo", "--dir", str(tmp_path))
    assert taken.returncode == ExitCode.USAGE and "already exists" in taken.stderr
