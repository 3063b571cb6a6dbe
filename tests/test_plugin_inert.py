"""With citebench installed, a project that does not ask for it runs pytest as if it were not."""

import os
import subprocess
import sys
from pathlib import Path

from bench.station import DEFAULT_PROFILE, STATION_ENV

PLAN = '''
def test_plain():
    assert 1 + 1 == 2


def test_measures(measure):
    measure("vbat", 3.3, units="V", low=3.2, high=3.4)
'''


def _pytest(project: Path, *args: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != STATION_ENV}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "--rootdir", str(project), *args], cwd=project, capture_output=True,
                          text=True, timeout=60, env=clean | (env or {}))


def test_bare_project_pytest_html_is_untouched(tmp_path: Path) -> None:
    (tmp_path / "test_bare.py").write_text(PLAN)
    done = _pytest(tmp_path, "test_bare.py", "--html=out/r.html", "-rs")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "out" / "r.html").exists()
    # pytest-html writes its page and assets; citebench writes no junit.xml, no record beside
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["assets", "r.html"]
    assert not (tmp_path / "reports").exists()
    assert "citebench is not active" in done.stdout  # `measure` skips, it does not error


def test_bare_project_loads_no_profile_and_no_radio_stack(tmp_path: Path) -> None:
    (tmp_path / "test_mods.py").write_text(
        "import sys\n\ndef test_mods():\n"
        "    loaded = [m for m in ('bumble', 'bleak', 'fixtures.serial', 'emulators.host')\n"
        "              if m in sys.modules]\n    assert loaded == [], loaded\n")
    done = _pytest(tmp_path, "test_mods.py")
    assert done.returncode == 0, done.stdout + done.stderr


def test_station_env_activates_it(tmp_path: Path) -> None:
    (tmp_path / "test_bare.py").write_text(PLAN)
    done = _pytest(tmp_path, "test_bare.py", "--html=out/r.html",
                   env={STATION_ENV: str(DEFAULT_PROFILE)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert {"junit.xml", "record.jsonl", "r.html"} <= {p.name for p in (tmp_path / "out").iterdir()}


def test_a_station_without_radio_imports_no_bumble(tmp_path: Path) -> None:
    profile = tmp_path / "no-radio.toml"
    profile.write_text(DEFAULT_PROFILE.read_text().split("\n[radio]")[0])
    (tmp_path / "test_mods.py").write_text(
        "import sys\n\ndef test_mods(measure):\n"
        "    assert 'bumble' not in sys.modules and 'bleak' not in sys.modules\n")
    done = _pytest(tmp_path, "test_mods.py", "--station", str(profile))
    assert done.returncode == 0, done.stdout + done.stderr
