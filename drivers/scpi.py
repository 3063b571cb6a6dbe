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
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import pyvisa
from pyvisa.constants import StatusCode

from drivers.errors import ResourceLostError

_ERROR_CODE = re.compile(r"\s*([+-]?\d+)\b")
MAX_ERRORS = 32  # more than any error queue holds; a longer run means the queue is not emptying
ERROR_QUERY = "SYST:ERR?"


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
        obj.write(command)

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

    def __init__(self, resource: Any, limits: Mapping[str, float] | None = None,
                 section: str = "") -> None:
        self.resource = resource
        self.resource_name: str = resource.resource_name
        self.limits = dict(limits or {})
        # the profile section the limits come from ("[psu] "), so a refusal names the key
        self.instrument_section = section
        # On a raw socket a setting and its SYST:ERR? go out as two lines of one write: as two
        # writes, Nagle holds the second until the instrument's delayed ACK of the first
        # (40 ms on Linux), and pyvisa-py 0.8.1 cannot set VI_ATTR_TCPIP_NODELAY.
        self._one_write = self.resource_name.upper().endswith("::SOCKET")

    @classmethod
    def open(cls, resource_name: str, *, limits: Mapping[str, float] | None = None,
             manager: pyvisa.ResourceManager | None = None, timeout_ms: int = 5000) -> Any:
        """Open `resource_name` (pyvisa-py unless a manager is given) and wrap it."""
        return cls(open_resource(resource_name, manager, timeout_ms), limits)

    def close(self) -> None:
        self.resource.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- traffic --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _io(self, command: str) -> Iterator[None]:
        try:
            yield
        except pyvisa.errors.VisaIOError as error:
            if error.error_code == StatusCode.error_timeout:
                raise InstrumentTimeout(f"{self.resource_name}: no reply to {command!r} within "
                                        f"{self.resource.timeout:g} ms{self._why(command)}"
                                        ) from error
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

    def query(self, command: str) -> str:
        self._check(command)
        with self._io(command):
            self.resource.write(command)
            return self.resource.read()

    @contextlib.contextmanager
    def extra_time(self, seconds: float) -> Iterator[None]:
        """Lengthen the timeout for a reply that legitimately takes `seconds` (a capture)."""
        saved = self.resource.timeout
        self.resource.timeout = saved + seconds * 1000
        try:
            yield
        finally:
            self.resource.timeout = saved

    def send(self, command: str) -> None:
        """Write without reading the error queue: the safety path, where no reply is trusted."""
        self._check(command)
        with self._io(command):
            self.resource.write(command)

    def write(self, command: str) -> None:
        """A setting: write it, then empty the error queue and raise on anything in it."""
        if self._one_write:
            self._check(command)
            with self._io(command):
                self.resource.write(f"{command}\n{ERROR_QUERY}")
                first = self.resource.read()
            self.check_errors(command, first)
        else:
            self.send(command)
            self.check_errors(command)

    def _why(self, command: str) -> str:
        """After a timeout: the instrument's own reason, if its error queue holds one."""
        try:
            self.check_errors(command)
        except InstrumentLostError:
            raise  # not a slow instrument: a gone one
        except InstrumentError as error:
            return f"; the instrument says: {str(error).partition(' -> ')[2] or error}"
        return ""

    def check_errors(self, command: str, first: str | None = None) -> None:
        """Read `SYST:ERR?` until it says 0 (`first`: a reply already read); raise on errors."""
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
        if errors:
            shown = "; ".join(f"{code} {message}" for code, message in errors)
            raise CommandError(f"{self.resource_name}: {command!r} -> {shown}", command, errors)

    def query_block(self, command: str, datatype: str = "f") -> tuple[float, ...]:
        """An IEEE 488.2 definite-length block of big-endian numbers, read by pyvisa's own
        `query_binary_values` (it reads on past newline bytes inside the block)."""
        self._check(command)
        with self._io(command):
            return self.resource.query_binary_values(command, datatype=datatype,
                                                     is_big_endian=True, container=tuple)

    def query_list(self, command: str) -> tuple[float, ...]:
        """A comma-separated answer, read by pyvisa's own `query_ascii_values`."""
        self._check(command)
        with self._io(command):
            return self.resource.query_ascii_values(command, container=tuple)

    # --- common commands ----------------------------------------------------------------------
    @cached_property
    def identity(self) -> Identity:
        return Identity.parse(self.query("*IDN?"), self.resource_name)

    def reset(self) -> None:
        self.write("*RST")

    def clear(self) -> None:
        self.send("*CLS")


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

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.number} of {self.resource_name}>"
