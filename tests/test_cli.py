"""The `bench` command: `emulate` serves a board a person can open, `list` shows ports."""

import html
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from bench import archive
from bench.exitcodes import ExitCode
from drivers.serial_link import SerialLink
from drivers.ws100 import Ws100Driver
from drivers.ws100_codec import Ws100Codec
from tests.plan_runner import ROOT


def test_emulate_prints_a_port_that_serves_the_board_with_its_defect() -> None:
    process = subprocess.Popen([sys.executable, "-m", "bench", "emulate", "--defect",
                                "wrong-firmware"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline()]
        while "Ctrl-C" not in lines[-1] and lines[-1]:
            lines.append(process.stdout.readline())
        assert "defects: wrong-firmware" in lines[0], lines
        roles = dict(line.split(None, 1) for line in lines[1:-1])
        port = roles["dut"].strip()
        assert port.startswith("/dev/pts/")
        with SerialLink(port, Ws100Codec()) as link:
            assert Ws100Driver(link).get_info().firmware == "1.3.9"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_emulate_rejects_an_unknown_defect() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "emulate", "--defect", "gremlins"],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "gremlins" in done.stderr


def test_list_shows_serial_ports() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "list"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "serial ports:" in done.stdout


def _bench_run(tmp_path: Path, *args: str, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", "run", "--reports", str(tmp_path),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_run_needs_no_test_only_package(tmp_path: Path) -> None:
    """`bench run` with the runtime dependencies alone: a test-only import fails the run."""
    blocked = tmp_path / "blocked"
    for name in ("hypothesis",):  # installed pytest plugins (pytest-timeout) load themselves
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(
            f"raise ImportError('{name} is test-only; bench run must not import it')\n")
    # Hypothesis's own pytest plugin imports it when installed; a stranger's venv has neither.
    done = _bench_run(tmp_path / "reports", "--plan", "testplans/ws100/test_link.py", "--",
                      "-p", "no:hypothesispytest", env={"PYTHONPATH": str(blocked)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: PASS" in done.stdout.splitlines()


def test_run_prints_only_paths_that_exist(tmp_path: Path) -> None:
    done = _bench_run(tmp_path, "--plan", "testplans/ws100/test_link.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Generated html report" not in done.stdout and ".incoming" not in done.stdout
    paths = [line.split(": ", 1)[1] for line in done.stdout.splitlines()
             if line.split(":")[0] in ("report", "record", "archive index")]
    assert len(paths) == 3 and all(Path(path).is_file() for path in paths), done.stdout


def test_a_station_outside_the_checkout_loads_no_plugin_a_plan_run_does_without(
        tmp_path: Path) -> None:
    # every slot of a batch, and a lab's profile in /etc, lies outside the checkout: given as a
    # separate argument, pytest took it for a test path and found no ini file above "/" (the
    # labgrid plugin loaded in every slot, 0.4 s of CPU each)
    assert importlib.util.find_spec("labgrid"), "the test extra installs labgrid"
    station = tmp_path / "elsewhere" / "station.toml"
    station.parent.mkdir()
    station.write_text((ROOT / "fixtures" / "ws100-emulated.toml").read_text())
    done = _bench_run(tmp_path / "reports", "--station", str(station),
                      "--plan", "testplans/ws100/test_link.py", "--no-index")
    assert done.returncode == ExitCode.PASS, done.stdout + done.stderr
    (run,) = archive.find_runs(tmp_path / "reports")
    page = (run / "report.html").read_text()
    blob = json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', page).group(1)))
    plugins = blob["environment"]["Plugins"]
    assert "citebench" in plugins and not {"labgrid", "hypothesis"} & set(plugins), plugins


def test_run_without_record_says_why_and_exits_error(tmp_path: Path) -> None:
    done = _bench_run(tmp_path, "--plan", "testplans/no_such_plan.py")
    assert done.returncode == ExitCode.USAGE
    last = done.stdout.strip().splitlines()[-1]
    assert last == "verdict: ERROR (no record written: usage error, see the message above)"
    assert "report:" not in done.stdout and "Generated html report" not in done.stdout
