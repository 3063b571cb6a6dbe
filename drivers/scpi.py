"""Declarative SCPI instruments over pyvisa: one line per command, checked before it leaves.

    >>> class Supply(Instrument):
    ...     voltage = control("VOLT?", "VOLT {value:.6g}", "V", values=(0, 6), limit="max_voltage")
    >>> psu = Supply.open("TCPIP0::10.0.0.7::5025::SOCKET", limits={"max_voltage": 4.4})
    ... # doctest: +SKIP
    >>> psu.voltage = 3.7   # sends VOLT 3.7, then SYST:ERR? must answer 0     # doctest: +SKIP
    >>> psu.voltage = 5.0   # LimitError naming the limit; nothing is sent     # doctest: +SKIP

A `control` says the query, the setting, the unit, the hardware range and the station limit it
obeys, so a driver for a new model is a list of such lines (pymeasure's idea, without its
dependencies). Every setting is followed by `SYST:ERR?` until the queue is empty, because an
instrument that silently ignored a command is the worst kind of bench fault; the error names the
command and the instrument's own message. Every timeout names the resource string.

Bench faults are recovered or named, never read as a value. A reply later than the timeout
would otherwise be read as the answer to the next query; so after any timeout the session is
put back in step before anything else is asked: `SYST:ERR?;*IDN?` is sent and lines are read
until its answer, and a single line that came before it can only be the late reply (replies
come in order), so it is taken for its own query. A dropped connection, or a session that
cannot be put back in step, is reopened when the profile allows (`reconnects`), `*IDN?` checked
on the new session; a query is asked again, a setting sent again only when it is a value
(`idempotent`). Every late reply, resynchronisation, reconnect and repeat is in `traffic`.
A device-specific error (-3xx) in the queue is a `DeviceError` naming the command it followed.

An instrument has one error queue for all its sessions, so when several processes share it (the
slots of one station, bench/slots.py) a setting and the drain of the queue after it are one
transaction under an OS lock per instrument (`flock` on a file named by the resource string,
released by the kernel if the process dies): otherwise one slot reads, and raises, another's
error. `transaction()` holds it across several exchanges (a meter's INIT until its FETCH).
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pyvisa
from pyvisa.constants import StatusCode

from drivers.errors import ResourceLostError
from drivers.traffic import TrafficLog

_ERROR_CODE = re.compile(r"\s*([+-]?\d+)\b")
MAX_ERRORS = 32  # more than any error queue holds; a longer run means the queue is not emptying
ERROR_QUERY = "SYST:ERR?"
SYNC = f"{ERROR_QUERY};*IDN?"  # its answer (an error entry, then the identity) ends a resync
SYNC_PATIENCE = 3  # a resynchronisation waits this many timeouts for the late replies and its own
MAX_STALE = 16  # lines before the resync's answer; more, and the session is reopened instead
REPEATS = 2  # a query asked again (a value set again) after a late reply or a reconnect
# Queries whose answer is consumed when it is sent: asked twice, the first answer is lost.
_READ_AND_CLEAR = re.compile(r"SYST(EM)?:ERR|\*ESR\?|STAT(US)?:(OPER|QUES)[A-Z]*(:EVEN[A-Z]*)?\?",
                             re.IGNORECASE)
T = TypeVar("T")
LOCKS = Path(tempfile.gettempdir()) / "citebench-instrument-locks"


class InstrumentError(Exception):
    """An instrument failed; the message names its resource string."""


class InstrumentLostError(InstrumentError, ResourceLostError):
    """The instrument's connection dropped (reset, refused, lost): the run stops."""


class InstrumentTimeout(InstrumentError):
    """No reply in time."""


class CommandError(InstrumentError):
    """The instrument put errors in its queue after a command; `errors` are (code, message)."""

    def __init__(self, message: str, command: str, errors: list[tuple[int, str]]) -> None:
        super().__init__(message)
        self.command = command
        self.errors = errors


class DeviceError(CommandError):
    """A device-specific error (SCPI-99 -3xx) in the queue: the instrument reports a fault of its
    own (memory, calibration, self-test, its input buffer). A bench ERROR, never a FAIL."""


@dataclass
class Recovery:
    """What one instrument session survived, counted; each event is also in its traffic log."""

    late_replies: int = 0  # taken for their own query once the resync proved whose they were
    resyncs: int = 0
    reconnects: int = 0
    repeats: int = 0  # queries asked again, values set again


class LimitError(InstrumentError, ValueError):
    """A setting outside the instrument's range or the station's limit; nothing was sent."""


@dataclass(frozen=True)
class Identity:
    """What `*IDN?` says: the four comma-separated fields of IEEE 488.2."""

    vendor: str
    model: str
    serial: str
    firmware: str

    @classmethod
    def parse(cls, text: str, resource: str = "") -> Identity:
        """Four fields; a fifth and later (Siglent adds the hardware revision) join firmware."""
        fields = [part.strip() for part in text.strip().split(",")]
        if len(fields) < 4:
            raise InstrumentError(f"{resource}: *IDN? answered {text!r}, not "
                                  "vendor,model,serial,firmware")
        return cls(*fields[:3], ",".join(fields[3:]))

    def __str__(self) -> str:
        return f"{self.vendor} {self.model} s/n {self.serial} fw {self.firmware}"


def _parse_bool(text: str) -> bool:
    return text.strip().upper() in ("1", "ON", "YES")  # YES: Rigol's protection-tripped answer


_PARSERS: dict[type, Any] = {
    float: float,
    int: lambda text: int(float(text)),
    bool: _parse_bool,
    str: lambda text: text.strip().strip('"'),
}


class control:  # a descriptor reads best in lower case, as `property` does
    """One instrument setting or reading: query text, setting text, unit, range, station limit.

    `values` is a (low, high) range, a collection of allowed words, or the name of an attribute
    of the owner holding either (ranges that differ per channel). `limit` names a key of the
    owner's station limits: a value above it is refused before anything is sent.
    """

    def __init__(self, get: str | None, set: str | None = None, unit: str = "", *,
                 values: tuple[float, float] | Collection[str] | str | None = None,
                 limit: str | None = None, kind: type = float) -> None:
        self.get, self.set, self.unit = get, set, unit
        self.values, self.limit = values, limit
        self.parse = _PARSERS[kind]
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        if self.get is None:
            raise AttributeError(f"{self.name} cannot be read back")
        return self.parse(obj.query(self.get.format(**obj.context)))

    def __set__(self, obj: Any, value: Any) -> None:
        if self.set is None:
            raise AttributeError(f"{self.name} is a reading, not a setting")
        command = self.set.format(value=value, **obj.context)
        self.check(obj, value, command)
        obj.write(command, idempotent=True)  # a value: setting it twice is setting it once

    def check(self, obj: Any, value: Any, command: str) -> None:
        allowed = getattr(obj, self.values) if isinstance(self.values, str) else self.values
        where = f"{obj.resource_name}: {command!r} refused"
        if isinstance(allowed, tuple) and len(allowed) == 2 and not isinstance(allowed[0], str):
            low, high = allowed
            if not low <= value <= high:
                raise LimitError(f"{where}: {value:g} {self.unit} is outside the instrument's "
                                 f"range {low:g}..{high:g} {self.unit}")
        elif allowed is not None and value not in allowed:
            raise LimitError(f"{where}: {value!r} is not one of {', '.join(map(str, allowed))}")
        limit = obj.limits.get(self.limit) if self.limit else None
        if limit is not None and value > limit:
            raise LimitError(f"{where}: {value:g} {self.unit} exceeds the station limit "
                             f"{obj.instrument_section}{self.limit} = {limit:g} {self.unit}")


def measurement(get: str, unit: str = "", kind: type = float) -> control:
    """A read-only control: a measured value."""
    return control(get, None, unit, kind=kind)


class Instrument:
    """A SCPI instrument on one pyvisa message-based resource."""

    context: ClassVar[Mapping[str, object]] = {}
    guard: Callable[[str], None] | None = None  # refuses a message that would pass a limit
    compound_messages: ClassVar[bool] = True  # `;` joins queries (the resync needs it, or *IDN?)

    def __init__(self, resource: Any, limits: Mapping[str, float] | None = None,
                 section: str = "", *, reconnects: int = 0) -> None:
        self.resource = resource
        self.resource_name: str = resource.resource_name
        self.limits = dict(limits or {})
        # the profile section the limits come from ("[psu] "), so a refusal names the key
        self.instrument_section = section
        # On a raw socket a setting and its SYST:ERR? go out as two lines of one write: as two
        # writes, Nagle holds the second until the instrument's delayed ACK of the first
        # (40 ms on Linux), and pyvisa-py 0.8.1 cannot set VI_ATTR_TCPIP_NODELAY.
        self._one_write = self.resource_name.upper().endswith("::SOCKET")
        self.reconnects = reconnects  # new sessions allowed in this run (the profile's key)
        self.recovery = Recovery()
        self.traffic = TrafficLog(self.resource_name, title="instrument traffic")
        self._unusable = ""  # why nothing more may be asked on this session, once it is so
        self._lock = instrument_lock(self.resource_name)
        self._sent_at = 0.0  # time.monotonic() as the last message left
        # ...and as the last setting left (`write`): where a timed step starts its clock, not
        # before its wait for a shared instrument's lock (a crowded station's slots would
        # otherwise measure each other's transactions as their board's boot time)
        self.setting_sent_at = 0.0

    @classmethod
    def open(cls, resource_name: str, *, limits: Mapping[str, float] | None = None,
             manager: pyvisa.ResourceManager | None = None, timeout_ms: int = 5000,
             section: str = "", reconnects: int = 0) -> Any:
        """Open `resource_name` (pyvisa-py unless a manager is given) and wrap it."""
        return cls(open_resource(resource_name, manager, timeout_ms), limits, section,
                   reconnects=reconnects)

    def close(self) -> None:
        self.traffic.close()
        self.resource.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> InstrumentLock:
        """Exclusive use of the instrument, against every other process and thread that talks
        to it (its error queue and its trigger state are shared by all sessions)."""
        return self._lock

    # --- traffic --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _io(self, command: str) -> Iterator[None]:
        try:
            yield
        except pyvisa.errors.VisaIOError as error:
            if error.error_code == StatusCode.error_timeout:
                raise InstrumentTimeout(f"{self.resource_name}: no reply to {command!r} within "
                                        f"{self.resource.timeout:g} ms") from error
            if error.error_code == StatusCode.error_connection_lost:
                raise InstrumentLostError(f"{self.resource_name}: connection lost during "
                                          f"{command!r}: {error}") from error
            raise InstrumentError(f"{self.resource_name}: {command!r} failed: {error}") from error
        except OSError as error:  # pyvisa-py lets socket errors through (refused, reset)
            raise InstrumentLostError(f"{self.resource_name}: connection lost during "
                                      f"{command!r}: {error}") from error

    def _check(self, command: str) -> None:
        if self.guard is not None:
            self.guard(command)

    def _ask(self, message: str) -> str:
        self.traffic.add(">>", message.replace("\n", " \\n "))  # one log line per write
        self._sent_at = time.monotonic()
        self.resource.write(message)
        reply = self.resource.read()
        self.traffic.add("<<", reply)
        return reply

    def query(self, command: str) -> str:
        self._check(command)
        with self.transaction():
            return self._request(command, lambda: self._ask(command),
                                 repeat=_repeatable(command))

    @contextlib.contextmanager
    def extra_time(self, seconds: float) -> Iterator[None]:
        """Lengthen the timeout for a reply that legitimately takes `seconds` (a capture)."""
        saved = self.resource.timeout
        self.resource.timeout = saved + seconds * 1000
        try:
            yield
        finally:
            with contextlib.suppress(pyvisa.errors.Error, AttributeError):  # reopened meanwhile
                self.resource.timeout = saved

    def send(self, command: str) -> None:
        """Write without reading the error queue: the safety path, where no reply is trusted
        (nor any recovery tried: it must be quick enough for a signal handler)."""
        self._check(command)
        with self.transaction(), self._io(command):
            self._tell(command)

    def write(self, command: str, *, idempotent: bool = False) -> None:
        """A setting: write it, then empty the error queue and raise on anything in it.
        `idempotent`: sending it twice does what sending it once does (a value, not a trigger),
        so it may be sent again after a reconnect."""
        self._check(command)
        with self.transaction():  # the queue drained after it holds its errors, no one else's
            if self._one_write:
                first = self._request(command, lambda: self._ask(f"{command}\n{ERROR_QUERY}"),
                                      repeat=idempotent)
                self.setting_sent_at = self._sent_at
                self.check_errors(command, first)
            else:
                self._request(command, lambda: self._tell(command), repeat=idempotent)
                self.setting_sent_at = self._sent_at
                self.check_errors(command)

    def _tell(self, message: str) -> None:
        self.traffic.add(">>", message)
        self._sent_at = time.monotonic()
        self.resource.write(message)

    # --- recovery -------------------------------------------------------------------------------
    def _request(self, command: str, ask: Callable[[], T], *, repeat: bool,
                 line: bool = True) -> T:
        """Run one exchange (`ask` writes and reads); after a late reply or a dropped connection
        put the session back in step, and run it again only where `repeat` says it is safe.
        `line`: the answer is one line, so a late one can be recognised and taken."""
        for attempt in range(REPEATS + 1):
            if self._unusable:
                raise InstrumentLostError(f"{self.resource_name}: {command!r} not sent: "
                                          f"{self._unusable}")
            try:
                with self._io(command):
                    return ask()
            except InstrumentTimeout as error:
                late = self._after_timeout(command, error, line)
                if late is not None:
                    return late  # type: ignore[return-value]  # a line, as `ask` returns
                cause: InstrumentError = error
            except InstrumentLostError as error:
                self._reconnect(error)
                cause = error
            kind = InstrumentTimeout if isinstance(cause, InstrumentTimeout) else InstrumentError
            if not repeat:
                raise kind(f"{cause}; the session is back in step, but {command!r} is not safe "
                           "to repeat (it has an effect, or its answer is consumed), so it was "
                           "not sent again") from cause
            if attempt < REPEATS:
                self.recovery.repeats += 1
                self.traffic.add("..", f"{command!r} sent again ({attempt + 1}/{REPEATS}) after: "
                                       f"{cause}")
        raise kind(f"{cause}; so again after {REPEATS} repeats") from cause

    def _after_timeout(self, command: str, error: InstrumentTimeout, line: bool) -> str | None:
        """Put the session back in step after `command` got no reply in time; returns its late
        reply when the resync proves it is that one's. Errors the instrument queued are raised."""
        self._unusable = f"the session is out of step since {command!r} got no reply in time"
        self.recovery.resyncs += 1
        self.traffic.add("!!", f"{error}: resynchronising")
        try:
            stale, entry = self._sync(command)
        except (InstrumentTimeout, InstrumentLostError) as failed:
            self._reconnect(InstrumentLostError(
                f"{error}, and then the session could not be brought back in step ({failed})"))
            stale, entry = [], None
        errors = self._drain(command, entry)
        if errors:
            late = f"; late reply discarded: {stale!r}" if stale else ""
            raise InstrumentTimeout(f"{error}; the instrument says: {_shown(errors)}{late}"
                                    ) from error
        if line and len(stale) == 1:
            self.recovery.late_replies += 1
            self.traffic.add("..", f"late reply {stale[0][:80]!r} taken for {command!r}: it came "
                                   "before the resync's answer, so it can only be this one's")
            return stale[0]
        return None

    def _sync(self, command: str) -> tuple[list[str], str | None]:
        """Send the resync message and read until its answer; the lines before it are late
        replies. Returns them and the error entry the resync read (None if it read none)."""
        message = SYNC if self.compound_messages else "*IDN?"
        if message == command:  # its late answer would pass for the resync's own
            raise InstrumentTimeout(f"{self.resource_name}: cannot resync after {command!r}")
        stale: list[str] = []
        patience = (SYNC_PATIENCE - 1) * self.resource.timeout / 1000
        with self.extra_time(patience), self._io(message):
            self._tell(message)
            while True:
                reply = self.resource.read()
                entry, _, idn = reply.rpartition(";")
                if idn.count(",") >= 3 and (_ERROR_CODE.match(entry) if self.compound_messages
                                            else not entry):
                    break
                stale.append(reply)
                self.traffic.add("!!", f"late reply {reply[:80]!r}")
                if len(stale) > MAX_STALE:
                    raise InstrumentTimeout(f"{self.resource_name}: over {MAX_STALE} lines before "
                                            "the resync's answer")
        self.traffic.add("<<", reply)
        self._same_instrument(idn, "answering the resync")
        self._unusable = ""
        return stale, entry or None

    def _reconnect(self, cause: InstrumentError) -> None:
        """Open a new session if the profile allows one more and check `*IDN?` on it; else the
        run stops (InstrumentLostError naming the cause and the profile key)."""
        timeout = self.resource.timeout
        while True:
            if self.recovery.reconnects >= self.reconnects:
                used = f", all {self.reconnects} used" if self.reconnects else ""
                lost = InstrumentLostError(f"{cause}; the station profile allows "
                                           f"{self.instrument_section}reconnects = "
                                           f"{self.reconnects}{used}")
                self._unusable = self._unusable or f"the session was lost earlier: {lost}"
                raise lost from cause
            with contextlib.suppress(pyvisa.errors.Error, OSError):
                self.resource.close()
            self.recovery.reconnects += 1
            self.traffic.add("..", f"reconnect {self.recovery.reconnects}/{self.reconnects} "
                                   f"after: {cause}")
            try:
                self.resource = open_resource(self.resource_name, timeout_ms=timeout)
                with self.extra_time((SYNC_PATIENCE - 1) * timeout / 1000), self._io("*IDN?"):
                    idn = self._ask("*IDN?")
            except InstrumentError as again:
                cause = again
                continue
            self._same_instrument(idn, "after reconnecting")
            self._unusable = ""
            return

    def _same_instrument(self, idn: str, when: str) -> None:
        """The identity seen on a resync or a new session is the one this driver talked to."""
        seen = Identity.parse(idn, self.resource_name)
        known = self.__dict__.setdefault("identity", seen)  # the cached_property's slot
        if (seen.vendor, seen.model, seen.serial) != (known.vendor, known.model, known.serial):
            raise InstrumentLostError(f"{self.resource_name}: {when}, *IDN? says {seen}, not "
                                      f"{known}: another instrument answers there")

    # --- the error queue ------------------------------------------------------------------------
    def check_errors(self, command: str, first: str | None = None) -> None:
        """Read `SYST:ERR?` until it says 0 (`first`: a reply already read); raise on errors."""
        errors = self._drain(command, first)
        if not errors:
            return
        if any(-400 < code <= -300 for code, _ in errors):
            raise DeviceError(f"{self.resource_name}: device error in the queue after "
                              f"{command!r} -> {_shown(errors)} (SCPI -3xx: the instrument "
                              "reports a fault of its own)", command, errors)
        raise CommandError(f"{self.resource_name}: {command!r} -> {_shown(errors)}", command,
                           errors)

    def _drain(self, command: str, first: str | None = None) -> list[tuple[int, str]]:
        """Every entry of the error queue, read until it says 0 (`first`: one already read)."""
        errors = []
        for _ in range(MAX_ERRORS):
            reply, first = first if first is not None else self.query(ERROR_QUERY), None
            found = _ERROR_CODE.match(reply)
            # `-113,"Undefined header"` (SCPI-99) or `0  No Error` (Siglent): a code first
            if not found or reply[found.end():found.end() + 1] not in ("", ",", " "):
                raise InstrumentError(f"{self.resource_name}: after {command!r}, {ERROR_QUERY} "
                                      f"answered {reply[:60]!r}")  # a stale reply, or not SCPI
            code = int(found.group(1))
            if code == 0:
                break
            errors.append((code, reply[found.end():].strip(" ,").strip('"')))
        return errors

    def query_block(self, command: str, datatype: str = "f") -> tuple[float, ...]:
        """An IEEE 488.2 definite-length block of big-endian numbers, read by pyvisa's own
        `query_binary_values` (it reads on past newline bytes inside the block)."""
        self._check(command)

        def ask() -> tuple[float, ...]:
            self.traffic.add(">>", command)
            values = self.resource.query_binary_values(command, datatype=datatype,
                                                       is_big_endian=True, container=tuple)
            self.traffic.add("<<", f"block of {len(values)} values")
            return values
        with self.transaction():
            return self._request(command, ask, repeat=_repeatable(command), line=False)

    def query_list(self, command: str) -> tuple[float, ...]:
        """A comma-separated answer, read by pyvisa's own `query_ascii_values`."""
        self._check(command)

        def ask() -> tuple[float, ...]:
            self.traffic.add(">>", command)
            values = self.resource.query_ascii_values(command, container=tuple)
            self.traffic.add("<<", ",".join(f"{v:g}" for v in values[:8]) +
                             (f",... ({len(values)} values)" if len(values) > 8 else ""))
            return values
        with self.transaction():
            return self._request(command, ask, repeat=_repeatable(command), line=False)

    # --- common commands ----------------------------------------------------------------------
    @cached_property
    def identity(self) -> Identity:
        return Identity.parse(self.query("*IDN?"), self.resource_name)

    def reset(self) -> None:
        self.write("*RST")

    def clear(self) -> None:
        """*CLS, once what the queue held is read: never drained unseen."""
        self.clear_queue()
        self.send("*CLS")

    def clear_queue(self) -> None:
        """Read the error queue empty: entries left from before go to the traffic log; a
        device error (-3xx) among them is raised, since the instrument reports a fault."""
        errors = self._drain("*CLS")
        if errors:
            self.traffic.add("!!", f"error queue held before *CLS: {_shown(errors)}")
        device = [(code, text) for code, text in errors if -400 < code <= -300]
        if device:
            raise DeviceError(f"{self.resource_name}: device error in the queue before *CLS -> "
                              f"{_shown(device)} (SCPI -3xx: the instrument reports a fault of "
                              "its own)", "*CLS", device)


def _shown(errors: list[tuple[int, str]]) -> str:
    return "; ".join(f"{code} {message}" for code, message in errors)


def _repeatable(query: str) -> bool:
    """Whether asking `query` again is harmless (not a read-and-clear register or queue)."""
    return not _READ_AND_CLEAR.search(query)


class InstrumentLock:
    """One instrument's lock: `flock` between processes, a re-entrant lock between threads.
    Transactions nest (a setting's drain queries under it), so the file is locked by the
    outermost only; one object per instrument and process, since two `flock`s of one file
    from one process would wait for each other."""

    def __init__(self, resource_name: str) -> None:
        LOCKS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9.]+", "_", resource_name.upper())
        self.path = LOCKS / f"{name}.lock"
        self._file = self.path.open("a")
        self._threads = threading.RLock()
        self._depth = 0

    def __enter__(self) -> None:
        self._threads.acquire()
        if self._depth == 0:
            fcntl.flock(self._file, fcntl.LOCK_EX)
        self._depth += 1

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._threads.release()


_LOCKS: dict[str, InstrumentLock] = {}
_LOCKS_GUARD = threading.Lock()


def instrument_lock(resource_name: str) -> InstrumentLock:
    """The lock of the instrument at `resource_name`, the same object for every driver of it
    in this process and the same file for every process on this machine."""
    key = resource_name.upper()
    with _LOCKS_GUARD:
        if key not in _LOCKS:
            _LOCKS[key] = InstrumentLock(resource_name)
        return _LOCKS[key]


def open_resource(resource_name: str, manager: pyvisa.ResourceManager | None = None,
                  timeout_ms: int = 5000) -> Any:
    """A pyvisa message resource (pyvisa-py unless a manager is given), newline-terminated."""
    manager = manager or pyvisa.ResourceManager("@py")
    try:
        return manager.open_resource(resource_name, timeout=timeout_ms,
                                     read_termination="\n", write_termination="\n")
    except (pyvisa.errors.VisaIOError, OSError, ValueError) as error:
        raise InstrumentError(f"{resource_name}: cannot open ({error})") from error


class Channel:
    """One output or input of a multi-channel instrument; its controls fill `{ch}`."""

    def __init__(self, instrument: Instrument, number: int) -> None:
        self.instrument = instrument
        self.number = number
        self.context = {"ch": number}
        self.resource_name = instrument.resource_name
        self.limits = instrument.limits
        self.instrument_section = instrument.instrument_section
        self.query = instrument.query
        self.write = instrument.write

    @property
    def setting_sent_at(self) -> float:
        """`time.monotonic()` as the instrument's last setting left (`Instrument.write`)."""
        return self.instrument.setting_sent_at

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.number} of {self.resource_name}>"
