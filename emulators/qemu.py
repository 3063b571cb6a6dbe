"""A firmware image running under `qemu-system-arm`, driven the way a bench drives a board.

    >>> with QemuMachine(Path("firmware/ws100/build/ws100.elf"), "mps2-an385", seed=1) as vm:
    ...     vm.resume()                    # the guest starts from its reset vector
    ...     vm.uart.recv(64)               # its UART0, over a socket chardev
    b'\\r\\ncitebench-fw 1.4.2 ...'

The UART is a socket chardev on a unix socket (no TCP port to collide with another bench's): a
`-serial pty` ignores host input for up to a second after it is opened (QEMU 7.2's char-pty
re-arm timer). Control is QMP on a unix socket: reset, pause/resume,
memory reads. The guest's RAM at the mailbox address is a file both sides map (qemu_mailbox.py).

QEMU never outlives the bench: it is started with PR_SET_PDEATHSIG (the kernel kills it when the
process that started it dies, `kill -9` included) and `close()` quits it, then kills it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from emulators.qemu_mailbox import GUEST_ADDRESS, RAM_SIZE, Mailbox

QEMU = "qemu-system-arm"
# Machines the QEMU face knows: where the mailbox RAM sits (docs/firmware-in-the-loop.md says
# how to add one).
MACHINES = {"mps2-an385": GUEST_ADDRESS}
START_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1


class QemuError(RuntimeError):
    """QEMU is missing, refused the image, or stopped answering; the message says which."""


def qemu_available() -> str | None:
    """Why the QEMU face cannot run here, or None when it can."""
    return None if shutil.which(QEMU) else (f"{QEMU} is not installed (Debian: apt install "
                                            "qemu-system-arm)")


def die_with_parent() -> None:
    """In the child, before exec (`preexec_fn`): SIGKILL when the bench process dies, however
    it dies (QEMU; a batch's radio broker)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Qmp:
    """A minimal QMP client: one command at a time, events kept aside."""

    def __init__(self, path: Path, deadline: float) -> None:
        self._sock = _connect_unix(path, deadline)
        self._file = self._sock.makefile("rwb", buffering=0)
        self._lock = threading.Lock()
        self.events: list[dict] = []
        self._read()  # the greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict:
        line = self._file.readline()
        if not line:
            raise QemuError("QMP: QEMU closed the connection")
        return json.loads(line)

    def execute(self, command: str, **arguments: object) -> object:
        """Run a QMP command and return its "return" value; an "error" raises QemuError."""
        message = {"execute": command} | ({"arguments": arguments} if arguments else {})
        with self._lock:
            self._file.write(json.dumps(message).encode() + b"\n")
            while True:
                reply = self._read()
                if "event" in reply:
                    self.events.append(reply)
                    continue
                if "error" in reply:
                    raise QemuError(f"QMP {command}: {reply['error'].get('desc', reply)}")
                return reply.get("return")

    def close(self) -> None:
        self._file.close()
        self._sock.close()


def _connect_unix(path: Path, deadline: float) -> socket.socket:
    """Connect to a unix socket QEMU is about to create (it listens once it has parsed its
    command line: nothing to await but the socket itself)."""
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if time.monotonic() > deadline:
                raise QemuError(f"QEMU did not open {path} within {START_TIMEOUT_S:g} s") from None
            time.sleep(0.005)


class QemuMachine:
    """One QEMU process: a firmware image on a machine, paused at its reset vector until resumed."""

    def __init__(self, firmware: Path, machine: str, *, seed: int = 0, serial: str = "",
                 extra_args: tuple[str, ...] = ()) -> None:
        reason = qemu_available()
        if reason:
            raise QemuError(reason)
        if machine not in MACHINES:
            raise QemuError(f"machine {machine!r}: the QEMU face knows {', '.join(MACHINES)}")
        if not firmware.is_file():
            raise QemuError(f"firmware {firmware}: no such file")
        self.firmware, self.machine = firmware, machine
        self._dir = Path(tempfile.mkdtemp(prefix="citebench-qemu-"))
        self.log = self._dir / "qemu.log"
        self.mailbox = Mailbox.create(self._dir / "psram", seed=seed, serial=serial)
        command = [
            QEMU, "-M", f"{machine},memory-backend=ram", "-m", f"{RAM_SIZE // 2**20}M",
            "-object", f"memory-backend-file,id=ram,size={RAM_SIZE},"
                       f"mem-path={self._dir / 'psram'},share=on",
            "-kernel", str(firmware), "-nodefaults", "-display", "none", "-S",
            "-chardev", f"socket,id=uart0,path={self._dir / 'uart0.sock'},server=on,wait=off",
            "-serial", "chardev:uart0",
            "-qmp", f"unix:{self._dir / 'qmp.sock'},server=on,wait=off", *extra_args,
        ]
        self.command = command
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT,
                                            preexec_fn=die_with_parent)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            self.qmp = Qmp(self._dir / "qmp.sock", deadline)
            self.uart = _connect_unix(self._dir / "uart0.sock", deadline)
        except (QemuError, OSError) as error:
            self.close()
            raise QemuError(f"{' '.join(command)}: {error}; log {self.log}: "
                            f"{self._log_tail()}") from None

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-400:].strip() or "(empty)"
        return "(gone)"

    @property
    def pid(self) -> int:
        return self.process.pid

    def resume(self) -> None:
        self.qmp.execute("cont")

    def pause(self) -> None:
        self.qmp.execute("stop")

    def reset(self) -> None:
        """A system reset: the CPU restarts at its reset vector, the image is loaded again; a
        paused guest stays paused."""
        self.qmp.execute("system_reset")

    def running(self) -> bool:
        return bool(self.qmp.execute("query-status")["running"])

    def read_memory(self, address: int, size: int) -> bytes:
        """Guest physical memory, through QMP (pmemsave into a file)."""
        dump = self._dir / "memory.bin"
        self.qmp.execute("pmemsave", val=address, size=size, filename=str(dump))
        return dump.read_bytes()

    def close(self) -> None:
        """Quit QEMU (kill it if it does not go) and remove its files; safe to call twice."""
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            with contextlib.suppress(QemuError, OSError, AttributeError):
                self.qmp.execute("quit")
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for closer in ("uart", "qmp"):
            item = self.__dict__.pop(closer, None)
            if item is not None:
                with contextlib.suppress(OSError):
                    item.close()
        box = self.__dict__.pop("mailbox", None)
        if box is not None:
            box.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> QemuMachine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

