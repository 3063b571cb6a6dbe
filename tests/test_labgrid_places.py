"""A bench on a labgrid place, over loopback: a real `labgrid-coordinator` on 127.0.0.1, a real
`labgrid-exporter` publishing the emulated WS-100's serial port (through the ser2net it starts),
its supply, meter and radio; `bench run --station fixtures/ws100-labgrid.toml` acquires the place,
runs the full plan through it, and the place is free again after every ending: normal, SIGTERM,
and kill -9 followed by `bench lab release-stale`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench import archive
from bench.exitcodes import ExitCode

pytest.importorskip("labgrid", reason="labgrid is not installed: pip install 'citebench[labgrid]'")
if shutil.which("ser2net") is None and not Path("/usr/sbin/ser2net").exists():
    pytest.skip("ser2net is not installed (labgrid's exporter starts it)", allow_module_level=True)

from bench import labgrid_places

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "fixtures" / "ws100-labgrid.toml"
PLACE = "ws100-a"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(command: list[str], cwd: Path, ready: str, env: dict[str, str] | None = None,
           ) -> tuple[subprocess.Popen[str], list[str]]:
    """Start a process; read its output up to the line that says it is ready."""
    process = subprocess.Popen(command, cwd=cwd, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               env=(env or dict(os.environ)) | {"PYTHONUNBUFFERED": "1"})
    seen = []
    for line in process.stdout:
        seen.append(line)
        if ready in line:
            return process, seen
    raise AssertionError(f"{command[0]} ended before {ready!r}:\n{''.join(seen[-20:])}")


@dataclass
class Lab:
    env: dict[str, str]  # LG_COORDINATOR set
    reports: Path


def _client(lab: Lab, *args: str) -> str:
    done = subprocess.run([str(BIN / "labgrid-client"), *args], env=lab.env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, f"labgrid-client {' '.join(args)}: {done.stderr}"
    return done.stdout


def _exporter_config(emulated: dict[str, str]) -> str:
    """The exporter's resources: the emulated board's pty and the emulated instruments."""
    psu_type, _, psu_url = emulated["psu"].partition("::")
    dmm_type, _, dmm_url = emulated["dmm"].partition("::")
    return (f"ws100:\n"
            f"  console: {{cls: RawSerialPort, port: {emulated['dut']}, speed: 115200}}\n"
            f"  psu: {{cls: PyVISADevice, type: {psu_type}, url: '{psu_url}'}}\n"
            f"  dmm: {{cls: PyVISADevice, type: {dmm_type}, url: '{dmm_url}'}}\n"
            f"  radio: {{cls: BumbleHCI, transport: '{emulated['radio']}'}}\n")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("lab")
    address = f"127.0.0.1:{_free_port()}"
    env = dict(os.environ) | {"LG_COORDINATOR": address}
    processes = []
    try:
        emulator, lines = _start([sys.executable, "-m", "bench", "emulate", "--serial", "pty"],
                                 ROOT, "Ctrl-C to stop")
        processes.append(emulator)
        emulated = {line.split()[0]: line.split()[1] for line in lines
                    if line.startswith("  ") and line.split()[0] in ("dut", "psu", "dmm", "radio")}
        (tmp / "exporter.yaml").write_text(_exporter_config(emulated))
        # on [::] unless told: the loopback recipe keeps the coordinator on 127.0.0.1
        processes.append(_start([str(BIN / "labgrid-coordinator"), "-l", address], tmp,
                                "listening on")[0])
        processes.append(_start([str(BIN / "labgrid-exporter"), "-c", address, "--hostname",
                                 "127.0.0.1", "-n", "exp-ws100", "exporter.yaml"], tmp,
                                "Exporter ready")[0])
        lab = Lab(env, tmp / "reports")
        _client(lab, "-p", PLACE, "create")
        _client(lab, "-p", PLACE, "add-match", "exp-ws100/ws100/*/*")
        _client(lab, "-p", PLACE, "set-tags", "board=ws100")
        _published(lab, 4)
        yield lab
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=10)


def _published(lab: Lab, count: int) -> None:
    """Until the coordinator lists the exporter's resources (it pushes no event a client can
    wait on from outside)."""
    deadline = time.monotonic() + 30
    while _client(lab, "resources").count("exp-ws100/ws100/") < count:
        assert time.monotonic() < deadline, _client(lab, "-v", "resources")
        time.sleep(0.2)


def _holder(lab: Lab) -> str:
    return labgrid_places.holds(lab.env["LG_COORDINATOR"])[PLACE]


def _bench(lab: Lab, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=ROOT, env=lab.env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _run_until(lab: Lab, plan: str, first_step_done: bool, profile: Path = PROFILE,
               ) -> subprocess.Popen[str]:
    """A `bench run` on the place, returned once it says it holds the place, and if asked once
    pytest has printed its first step's outcome (the run is then inside its steps)."""
    run = _bench(lab, "run", "--station", str(profile), "--reports", str(lab.reports),
                 "--no-index", "--plan", plan)
    for line in run.stderr:
        if line.startswith(f"labgrid: acquired place {PLACE}"):
            break
    else:
        raise AssertionError(f"the run never acquired {PLACE}: {run.stdout.read()}")
    while first_step_done and run.stdout.read(1) not in (".", "F", "E", "s", ""):
        pass
    return run


def _by_tags(tmp: Path) -> Path:
    """The lab profile with the place chosen by its tag instead of its name."""
    profile = tmp / "by-tags.toml"
    profile.write_text(PROFILE.read_text().replace(f"labgrid://{PLACE}/", "labgrid://board=ws100/"))
    return profile


def _start_event(record: Path) -> dict:
    return json.loads(record.read_text().splitlines()[0])


def test_full_plan_through_the_place_passes_and_releases(lab: Lab) -> None:
    """The full WS-100 plan through the place PASSes; the record names the place and exporter."""
    run = _bench(lab, "run", "--station", str(PROFILE), "--reports", str(lab.reports),
                 "--no-index")
    out, err = run.communicate(timeout=240)
    assert "verdict: PASS" in out.splitlines(), out[-3000:] + err[-3000:]
    assert run.returncode == ExitCode.PASS
    assert f"labgrid: released place {PLACE}" in err
    assert _holder(lab) == ""
    report = Path(next(line for line in out.splitlines() if line.startswith("report: "))[8:])
    identity = _start_event(report.parent / "record.jsonl")["station"]["labgrid"]
    assert identity["place"] == PLACE and identity["exporters"] == ["exp-ws100"]
    assert identity["resources"]["dut"] == "exp-ws100/ws100/NetworkSerialPort/console"
    assert identity["user"].split("/")[1].startswith(f"citebench-{run.pid}-")


def test_sigterm_in_a_step_releases_the_place(lab: Lab) -> None:
    run = _run_until(lab, "testplans/ws100/test_sensors.py", first_step_done=True)
    assert _holder(lab).split("/")[1].startswith(f"citebench-{run.pid}-")
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=120)
    assert run.returncode == ExitCode.ABORTED, out[-2000:] + err[-2000:]
    assert f"labgrid: released place {PLACE}" in err
    assert _holder(lab) == ""


def test_sigterm_right_after_the_acquisition_releases_the_place(lab: Lab, tmp_path: Path,
                                                               ) -> None:
    """Before the first step (pytest still configuring): no record, but no place kept either.
    The place is chosen by its tags here."""
    by_tags = _by_tags(tmp_path)
    run = _run_until(lab, "testplans/ws100/test_sensors.py", first_step_done=False,
                     profile=by_tags)
    assert _holder(lab).split("/")[1].startswith(f"citebench-{run.pid}-")
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=120)
    assert run.returncode in (ExitCode.ERROR, ExitCode.ABORTED), out[-2000:] + err[-2000:]
    assert _holder(lab) == ""


def test_kill_9_leaves_the_place_held_until_release_stale(lab: Lab) -> None:
    """labgrid keeps a killed client's place; release-stale frees it, and only that one."""
    run = _run_until(lab, "testplans/ws100/test_sensors.py", first_step_done=True)
    run.kill()
    run.communicate(timeout=30)
    held_by = _holder(lab)
    assert held_by.split("/")[1].startswith(f"citebench-{run.pid}-")
    killed = next((lab.reports / archive.INCOMING).glob(f"*-{run.pid}/record.jsonl"))
    note = _start_event(killed)["station"]["labgrid"]["if_killed"]
    assert "bench lab release-stale" in note and held_by in note
    stale = _bench(lab, "lab", "release-stale")
    out, err = stale.communicate(timeout=60)
    assert stale.returncode == 0, err
    assert f"released place {PLACE} (held by {held_by}" in out
    assert _holder(lab) == ""


def test_release_stale_leaves_a_living_holder_alone(lab: Lab) -> None:
    _client(lab, "-p", PLACE, "acquire")  # a person at this host, not a citebench run
    try:
        out, _ = _bench(lab, "lab", "release-stale").communicate(timeout=60)
        assert "no place held by a citebench run that is gone" in out
        person = _holder(lab)
        assert person and not person.split("/")[1].startswith("citebench-")
        out, _ = _bench(lab, "lab", "show").communicate(timeout=60)
        assert out.split() == [PLACE, person]
    finally:
        _client(lab, "-p", PLACE, "release")


def test_a_place_held_by_another_is_refused_with_its_holder(lab: Lab, tmp_path: Path) -> None:
    _client(lab, "-p", PLACE, "acquire")
    holder = _holder(lab)
    by_tags = _by_tags(tmp_path)
    address = lab.env["LG_COORDINATOR"]
    try:
        for profile, needle in (
                (PROFILE, f"labgrid place {PLACE} on {address}: cannot acquire"),
                (by_tags, f"no idle labgrid place on {address} with tags board=ws100: {PLACE} "
                          f"(acquired by {holder})")):
            run = _bench(lab, "run", "--station", str(profile), "--reports", str(lab.reports),
                         "--no-index", "--plan", "testplans/ws100/test_sensors.py")
            _, err = run.communicate(timeout=120)
            assert run.returncode == ExitCode.USAGE
            assert needle in err, err
        assert _holder(lab) == holder
    finally:
        _client(lab, "-p", PLACE, "release")
