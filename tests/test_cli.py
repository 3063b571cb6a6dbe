"""The `bench` command: `emulate` serves a board a person can open, `list` shows ports."""

import signal
import subprocess
import sys

from drivers.board import BoardDriver
from drivers.serial_link import SerialLink
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
        with SerialLink(port) as link:
            assert BoardDriver(link).get_info().firmware == "1.3.9"
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
