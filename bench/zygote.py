"""Slot processes forked from one interpreter that has already imported what a run needs.

    with Zygote.start(log) as zygote:
        slot = zygote.spawn("bench", ["run", "--station=slot1.toml"], log=path,
                            env=os.environ, held={"CITEBENCH_HELD_FD": fd}, name="bench-slot1")
        slot.wait()                                  # its exit code, as Popen's

Why: a batch starts one `bench run` per board at once, and each spent 0.9 s of CPU before and
after its steps: starting Python; importing pytest, PyVISA, Jinja2, construct and citebench;
compiling the pages' templates; and, in the five garbage collections pytest runs at its end,
walking every object those imports made. On a two-core bench that kept 8 boards from running in
twice one board's time (1.37 s of CPU a slot, now 0.45 s). The batch starts this zygote first
(its imports overlap with the emulators' start); it does all that once and freezes what it made
out of the collector's sight (`gc.freeze`); each slot is a fork of it.

What a slot still gets as from `subprocess.Popen`: its own session (a terminal's Ctrl-C is the
batch's), its working folder and environment, stdout and stderr in its log, the descriptors
passed (the batch's pipe end, `HELD_FD`), and a normal interpreter exit (`atexit` handlers, the
instruments' all-off among them, run as in any process). Its name (`/proc/PID/comm`, what `ps`
shows) is the one asked for, since its command line is the zygote's. The zygote forks nothing
but slots, runs no thread (a fork copies only the calling thread), and dies with the batch,
kill -9 included (its slots do not: each ends its own run, outputs off).

Messages, one per packet on a Unix socket pair (descriptors ride along): the batch sends
`{"module", "argv", "cwd", "env", "log", "name", "fd_env"}` with the descriptors to pass (each
under a new number in the slot: `fd_env` names the variables that tell it which); the zygote
answers `{"pid"}` at each fork and `{"pid", "code"}` at each slot's end.

    python -m bench.zygote FD          # FD: the zygote's end of the socket pair
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import runpy
import select
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from emulators.qemu import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
MAX_FDS = 8
PACKET = 1 << 20
# What a run imports before its first step, kit-independent (a kit's own modules are imported
# by its plans, in the slot). pytest's assertion rewriting never applied to these: they are
# not test, conftest or plugin modules, or `python -m bench` imported them first already.
PRELOAD = ("bench.cli", "bench.plugin", "bench.archiving", "bench.report", "bench.pages",
           "bench.session", "drivers.psu", "drivers.dmm", "drivers.serial_link", "pyvisa_py",
           "jinja2", "construct", "serial", "pytest_html.plugin", "pytest_metadata.plugin")


class ZygoteError(RuntimeError):
    """The zygote is gone: its slots' ends are not known here."""


class SlotProcess:
    """A forked slot, as the batch uses a `subprocess.Popen`."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self._zygote = zygote
        self.pid = pid
        self.returncode: int | None = None

    def wait(self) -> int:
        """Its exit code (negative: the signal that killed it), once it has ended."""
        while self.returncode is None:
            self._zygote.receive()
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)


class Zygote:
    """The batch's end: forks slots, learns their ends."""

    def __init__(self, process: subprocess.Popen, sock: socket.socket, log: Path) -> None:
        self.process = process
        self._sock = sock
        self._log = log
        self.slots: dict[int, SlotProcess] = {}

    @classmethod
    @contextlib.contextmanager
    def start(cls, log: Path) -> Iterator[Zygote]:
        """A zygote for the batch's life (it imports while the batch goes on); its stderr in
        `log`. Its slots are not waited for here: the batch waits for each."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.zygote", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=out,
                stderr=out, cwd=ROOT, start_new_session=True, preexec_fn=die_with_parent)
        theirs.close()
        zygote = cls(process, ours, log)
        try:
            yield zygote
        finally:
            ours.close()  # end-of-file: the zygote leaves (its slots go on)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def spawn(self, module: str, argv: Sequence[str], *, log: Path, env: Mapping[str, str],
              held: Mapping[str, int], name: str, cwd: Path = ROOT) -> SlotProcess:
        """Fork a slot running `python -m module *argv` with `env`; `held`: descriptors it
        inherits (as `pass_fds`), each under the environment variable naming its number there."""
        request = {"module": module, "argv": list(argv), "cwd": str(cwd), "env": dict(env),
                   "log": str(log), "name": name, "fd_env": list(held)}
        try:
            socket.send_fds(self._sock, [json.dumps(request).encode()], list(held.values()))
        except OSError as error:
            raise self._gone(error) from error
        while "code" in (message := self.receive()):  # requests are served in turn: the next
            pass                                      # fork is this one
        return self.slots[message["pid"]]

    def receive(self) -> dict:
        """Wait for the zygote's next message (a slot forked, or ended) and note it in
        `slots` (pid -> slot: every slot forked, even one whose `spawn` was interrupted)."""
        try:
            packet = self._sock.recv(PACKET)
        except OSError as error:
            raise self._gone(error) from error
        if not packet:
            raise self._gone(None)
        message = json.loads(packet)
        slot = self.slots.setdefault(message["pid"], SlotProcess(self, message["pid"]))
        slot.returncode = message.get("code")
        return message

    def _gone(self, error: OSError | None) -> ZygoteError:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(1)
        tail = self._log.read_text(encoding="utf-8", errors="replace").strip()[-600:]
        return ZygoteError(f"the slot zygote (pid {self.process.pid}) is gone (exit "
                           f"{self.process.poll()}{f'; {error}' if error else ''}), its log "
                           f"{self._log}: {tail or 'nothing'}")


def serve(sock: socket.socket) -> int:
    """Fork a slot per request, report each slot's end; leave once the batch has closed its
    end (its slots go on alone: nobody is left to tell of their ends)."""
    ends: dict[int, int] = {}  # pidfd -> pid
    while True:
        ready = select.select([sock, *ends], [], [])[0]
        for fd in ready:
            if fd is sock:
                packet, fds, _, _ = socket.recv_fds(sock, PACKET, MAX_FDS)
                if not packet:
                    return 0  # the batch is gone: its slots go on alone
                pid = _fork(json.loads(packet), fds, sock, ends)
                for passed in fds:
                    os.close(passed)
                if pid:
                    ends[os.pidfd_open(pid)] = pid
                    _send(sock, {"pid": pid})
            else:
                pid = ends.pop(fd)
                os.close(fd)
                _, status = os.waitpid(pid, 0)
                _send(sock, {"pid": pid, "code": os.waitstatus_to_exitcode(status)})


def _send(sock: socket.socket, message: dict) -> None:
    with contextlib.suppress(OSError):  # the batch is gone: nobody to tell
        sock.send(json.dumps(message).encode())


def _fork(request: dict, fds: list[int], sock: socket.socket, ends: dict[int, int]) -> int:
    """The slot's pid here; in the slot, never returns: it runs the module as `python -m` does,
    and its `sys.exit` leaves the interpreter (SystemExit unwinds through `serve` and `main`;
    an uncaught exception too, with its traceback in the slot's log and exit code 1)."""
    pid = os.fork()
    if pid:
        return pid
    sock.close()
    for pidfd in ends:
        os.close(pidfd)
    os.setsid()
    os.chdir(request["cwd"])
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    for source, target in ((null, 0), (log, 1), (log, 2)):
        os.dup2(source, target)
    os.close(log)
    os.close(null)
    with contextlib.suppress(OSError):
        Path("/proc/self/comm").write_text(request["name"][:15])
    os.environ.clear()
    os.environ.update(request["env"])
    for variable, passed in zip(request["fd_env"], fds, strict=True):
        os.set_inheritable(passed, True)
        os.environ[variable] = str(passed)
    sys.argv = [request["module"], *request["argv"]]  # run_module puts the file's path first
    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    raise SystemExit(0)  # the module ended without sys.exit, as `python -m` would then


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[0]))
    for name in PRELOAD:
        importlib.import_module(name)
    import _pytest.config

    for name in _pytest.config.default_plugins:
        importlib.import_module(f"_pytest.{name}")
    from bench.pages import ENV

    for template in ENV.list_templates(extensions=["html"]):  # compiled once, not per slot
        ENV.get_template(template)
    if threading.active_count() > 1:  # a fork copies only this thread: a slot would hang
        raise ZygoteError(f"importing {PRELOAD} started threads: {threading.enumerate()}")
    # everything imported so far lives as long as any slot: out of the collector's sight, a
    # slot's collections (pytest runs five at its end) neither walk it nor copy its pages
    gc.freeze()
    return serve(sock)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
