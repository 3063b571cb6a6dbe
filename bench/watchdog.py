"""Every supply output off within a second of the run's process disappearing, SIGKILL included.

    watchdog = Watchdog.start([("TCPIP0::10.0.0.7::5025::SOCKET", "E36312A", ())])
    ...                          # the run; its own handlers switch the outputs off on any
    watchdog.disarm()            # ending they see, then disarm it

A signal handler cannot run after SIGKILL (the out-of-memory killer, `kill -9`), so the
`psu` fixture starts this watchdog as a separate process in its own session (a closed terminal's
SIGHUP to the run's process group does not reach it). It holds the read end of a pipe whose
only write end is the run's: the kernel closes that end however the run dies, the watchdog
reads end-of-file at once, connects to each supply (only then: many LAN and USB instruments
serve one session at a time, and the run's session is gone with the run) and switches every
output off, trying again for `RETRY_FOR_S` if the supply does not answer (a LAN instrument may
still be closing the dead run's session). A run that ended cleanly writes `disarm` first, and
the watchdog leaves without touching anything. Its log: `citebench-watchdog-<run pid>.log` in
the temporary directory.

A slot of a batch (bench/slots.py) hands its watchdog one more inherited descriptor, the batch's
(`HELD_FD`): the batch reads end-of-file on it once the slot and its watchdog are both gone, so
its own last all-off comes after the watchdog's, never before a watchdog still to act.

    python -m bench.watchdog FD RESOURCE=MODEL@[CHANNELS] [RESOURCE=MODEL@[CHANNELS] ...]
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from drivers.errors import ResourceLostError

DISARM = b"disarm\n"
CONNECT_TIMEOUT_MS = 800  # the promise is one second from the run's death to outputs off
RETRY_FOR_S = 10.0  # a supply that does not answer at once is tried again for this long
HELD_FD = "CITEBENCH_HELD_FD"  # the batch's pipe end, passed on to the watchdog (above)


def log_path(run_pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"citebench-watchdog-{run_pid}.log"


class WatchdogLostError(ResourceLostError):
    """The watchdog process is gone while the run goes on: a kill of the run would now leave
    the outputs on, so the run stops rather than go on unguarded."""


class Watchdog:
    """The run's handle on its watchdog process."""

    def __init__(self, process: subprocess.Popen, write_fd: int) -> None:
        self.process = process
        self._write_fd: int | None = write_fd

    @classmethod
    def start(cls, supplies: list[tuple[str, str, tuple[int, ...]]]) -> Watchdog:
        """Watch the supplies `[(resource, model, channels), ...]` for as long as this process
        lives; `channels`: only these are switched off (a slot's), () every one."""
        read_fd, write_fd = os.pipe()  # both ends close-on-exec: no other child inherits them
        targets = [f"{resource}={model}@{','.join(map(str, channels))}"
                   for resource, model, channels in supplies]
        with log_path(os.getpid()).open("wb") as log:  # this run's, not a recycled pid's
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.watchdog", str(read_fd), *targets],
                pass_fds=(read_fd, *_held_by_batch()), start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                cwd=Path(__file__).resolve().parent.parent)
        os.close(read_fd)
        return cls(process, write_fd)

    def gone(self) -> str:
        """"" while the watchdog process runs; else what became of it (one `poll()`: cheap
        enough for every step)."""
        code = self.process.poll()
        if code is None:
            return ""
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        return f"watchdog process {self.process.pid} is gone ({how})"

    def disarm(self) -> None:
        """The run switched its outputs off itself: let the watchdog go without acting."""
        if self._write_fd is None:
            return
        with contextlib.suppress(OSError):
            os.write(self._write_fd, DISARM)
        os.close(self._write_fd)
        self._write_fd = None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def _held_by_batch() -> tuple[int, ...]:
    """The batch's pipe end this slot process inherited (`HELD_FD`), if it is one."""
    text = os.environ.get(HELD_FD, "")
    with contextlib.suppress(ValueError, OSError):
        if stat.S_ISFIFO(os.fstat(int(text)).st_mode):
            return (int(text),)
    return ()


def switch_off(resource: str, model: str = "", manager: object = None,
               timeout_ms: int = CONNECT_TIMEOUT_MS, channels: tuple[int, ...] = ()) -> str:
    """Open `resource`, switch every output off (`channels`: only these, a slot's), read the
    states back; a line for the log."""
    from drivers.psu import open_supply

    supply = open_supply(resource, model=model, manager=manager,  # type: ignore[arg-type]
                         timeout_ms=timeout_ms)
    try:
        if channels:
            supply.own(channels)
        supply.all_off()
        states = {n: supply.channel(n).output for n in supply.channels}
    finally:
        supply.close()
    still_on = [n for n, on in states.items() if on]
    if still_on:
        return f"{resource} ({supply.model}): channel(s) {still_on} STILL ON"
    return f"{resource} ({supply.model}): every output off"


def main(argv: list[str]) -> int:
    import pyvisa  # imported before waiting, so the second after the run's death is all I/O

    import drivers.psu  # noqa: F401 - same reason

    read_fd, targets = int(argv[0]), [t.rpartition("=") for t in argv[1:]]
    manager = pyvisa.ResourceManager("@py")
    received = b""
    while chunk := os.read(read_fd, 64):
        received += chunk
    if received.startswith(DISARM):
        return 0
    start = time.monotonic()
    failed = 0
    for resource, _, target in targets:
        model, _, owned = target.partition("@")
        channels = tuple(int(n) for n in owned.split(",") if n)
        deadline = time.monotonic() + RETRY_FOR_S
        while True:
            try:
                line = switch_off(resource, model, manager, channels=channels)
                break
            except Exception as error:  # one supply failing must not spare the next
                line = f"{resource}: could not switch off ({type(error).__name__}: {error})"
                if time.monotonic() >= deadline:
                    failed += 1
                    break
                _log(f"{line}; trying again", start)
                time.sleep(0.2)  # nothing to wait on: the instrument says nothing until it does
        _log(line, start)
    return 1 if failed else 0


def _log(line: str, start: float) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} run gone; {line} "
          f"(+{time.monotonic() - start:.3f} s)", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
