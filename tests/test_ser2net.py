"""Remote serial: the emulated board's pty exported by a real ser2net, reached over RFC 2217 and raw
TCP exactly as a board on a remote desk would be."""

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from drivers.serial_link import SerialLink
from drivers.ws100 import Ws100Driver
from drivers.ws100_codec import Ws100Codec
from emulators.ws100_board import BoardModel
from emulators.ws100_serial import SerialFace


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_listening(port: int, process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Poll until ser2net accepts connections: it offers no readiness signal of its own."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"ser2net exited: {process.stdout.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"ser2net did not listen on {port} within {timeout} s")


@pytest.fixture
def exported() -> Iterator[tuple[int, int]]:
    assert shutil.which("ser2net"), "ser2net is not installed (.ci/run installs Debian's ser2net)"
    board = BoardModel(seed=5)
    with SerialFace(board) as face:
        rfc2217, raw = _free_port(), _free_port()
        config = "".join(
            f"connection: &c{port}\n  accepter: {accepter},127.0.0.1,{port}\n  enable: on\n"
            f"  options:\n    kickolduser: true\n"
            f"  connector: serialdev,{face.port},115200n81,local\n"
            for port, accepter in ((rfc2217, "telnet(rfc2217),tcp"), (raw, "tcp"))
        )
        process = subprocess.Popen(["ser2net", "-n", "-u", "-Y", config], text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            _wait_listening(rfc2217, process)
            _wait_listening(raw, process)
            yield rfc2217, raw
        finally:
            process.terminate()
            process.wait(timeout=5)
    board.shutdown()


def test_board_behind_ser2net_over_rfc2217_and_raw_tcp(exported) -> None:
    rfc2217, raw = exported
    # ser2net acknowledges SET_CONTROL in a way pyserial does not wait out: ign_set_control
    for url in (f"rfc2217://127.0.0.1:{rfc2217}?ign_set_control", f"socket://127.0.0.1:{raw}"):
        with SerialLink(url, Ws100Codec(), timeout_s=2.0) as link:
            driver = Ws100Driver(link)
            assert driver.reset(banner_timeout=5.0)["firmware"] == "1.4.2", url
            assert driver.get_info().serial == "CB-WS1-000123", url
            assert driver.ping(bytes(range(200))) < 2.0, url
