"""A SCPI parser and instrument base for the emulators: headers, parameters, error queue.

    >>> class Box(ScpiDevice):
    ...     idn = "Acme,Box,0001,1.0"
    ...     @scpi("[SOURce]:VOLTage[:LEVel]")
    ...     def voltage(self, call):
    ...         if call.query:
    ...             return fmt_number(self.volts)
    ...         self.volts = call.number(0, low=0, high=6, default=0)
    ...     def reset(self):
    ...         self.volts = 0.0
    >>> box = Box()
    >>> box.execute("volt 1.5;:SOUR:VOLTAGE?")
    b'+1.50000000E+00'
    >>> box.execute("VOLT 9"), box.execute("SYST:ERR?")
    (None, b'-222,"Data out of range; 9 outside 0..6"')

Why our own: an emulator that accepts only the exact strings one driver sends proves nothing
about a real instrument. This one follows IEEE 488.2 / SCPI-99 where drivers meet it: mnemonics
in short or long form in any case, optional `[nodes]`, `;` keeping the header path and `;:`
returning to the root, channel lists `(@1,2)` `(@1:3)`, MIN/MAX/DEF, a bounded error queue with
the standard codes, arrays as comma lists or definite-length binary blocks. Whatever arrives,
`execute` returns (an error lands in the queue); it never raises.
"""

from __future__ import annotations

import re
import struct
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from protocols.scpi import (
    ProgramUnit,
    ScpiSyntaxError,
    SuffixError,
    header_forms,
    program_units,
    scaled,
    short_form,
)

ERROR_QUEUE_SIZE = 20

# The standard messages of the codes the emulators raise (SCPI-99 vol. 2, chapter 21.8).
ERRORS = {
    0: "No error",
    -100: "Command error",
    -101: "Invalid character",
    -102: "Syntax error",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -131: "Invalid suffix",
    -138: "Suffix not allowed",
    -200: "Execution error",
    -211: "Trigger ignored",
    -213: "Init ignored",
    -214: "Trigger deadlock",
    -221: "Settings conflict",
    -222: "Data out of range",
    -223: "Too much data",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -310: "System error",
    -313: "Calibration memory lost",
    -321: "Out of memory",
    -330: "Self-test failed",
    -350: "Queue overflow",
    -363: "Input buffer overrun",
    -410: "Query INTERRUPTED",
}

# IEEE 488.2 standard event status register bits, and the error class each code sets (11.5.1).
ESR_OPC, ESR_QYE, ESR_DDE, ESR_EXE, ESR_CME, ESR_PON = 1, 4, 8, 16, 32, 128
# Status byte bits: error queue not empty (SCPI-99 EAV), QUES summary, MAV, ESB, MSS, OPER summary.
STB_EAV, STB_QUES, STB_MAV, STB_ESB, STB_MSS, STB_OPER = 4, 8, 16, 32, 64, 128


def _error_class(code: int) -> int:
    """The ESR bit an error code sets: -1xx command, -2xx execution, -3xx device, -4xx query."""
    return {1: ESR_CME, 2: ESR_EXE, 3: ESR_DDE, 4: ESR_QYE}.get(-code // 100, 0)


class ScpiError(Exception):
    """Raised by a handler to put `code` (and an optional detail) in the error queue."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(code, detail)
        self.code = code
        self.text = ERRORS[code] + (f"; {detail}" if detail else "")


def fmt_number(value: float) -> str:
    """Numbers the way SCPI instruments answer them (NR3): `+3.70000000E+00`."""
    return f"{value:+.8E}"


def ascii_array(values: Sequence[float]) -> bytes:
    return ",".join(f"{v:+.6E}" for v in values).encode()


def binary_block(values: Sequence[float], fmt: str = ">f") -> bytes:
    """IEEE 488.2 definite-length block: `#` + digit count + byte count + data."""
    data = struct.pack(f"{fmt[0]}{len(values)}{fmt[1]}", *values)
    size = str(len(data)).encode()
    return b"#" + str(len(size)).encode() + size + data


_SPECIALS = {"MIN": "MIN", "MINIMUM": "MIN", "MAX": "MAX", "MAXIMUM": "MAX", "DEF": "DEF",
             "DEFAULT": "DEF"}
_BOOLEANS = {"ON": True, "1": True, "OFF": False, "0": False}
_CHANNELS = re.compile(r"\(@\s*([0-9:,\s]+)\)$")


@dataclass(frozen=True)
class Pending:
    """A handler's answer that takes real time (a capture window): the device waits for it
    with its lock released, so another session can still switch an output off meanwhile."""

    wait: Callable[[], None]
    result: Callable[[], bytes | str | None]


@dataclass
class Call:
    """One parsed program message unit, handed to its handler."""

    header: str
    query: bool
    args: list[str] = field(default_factory=list)
    suffix: int | None = None  # a header's numeric suffix: `SOUR2:VOLT`, `CH1:CURR` (SCPI-99 6.2.5)

    def arg(self, index: int) -> str:
        if index >= len(self.args):
            raise ScpiError(-109, f"{self.header} needs parameter {index + 1}")
        return self.args[index]

    def number(self, index: int, *, low: float, high: float, default: float,
               unit: str = "") -> float:
        """A numeric parameter or MIN/MAX/DEF, checked against [low, high] (-222 outside).

        `unit` is the suffix the parameter takes (`V`, `A`, `S`), with an optional multiplier
        (`3300mV`, `20uA`); another unit is -131, any suffix where none is taken -138."""
        text = self.arg(index).upper()
        special = _SPECIALS.get(text)
        if special:
            return {"MIN": low, "MAX": high, "DEF": default}[special]
        try:
            value = scaled(text, unit)
        except SuffixError as error:
            raise ScpiError(error.code, f"{self.header}: {error}") from None
        if value is None:
            raise ScpiError(-104, f"{self.args[index]!r} is not a number")
        slack = 1e-9 * max(abs(low), abs(high))  # 20 * 1e-6 is a hair under 20e-6
        if not low - slack <= value <= high + slack:
            raise ScpiError(-222, f"{value:g} outside {low:g}..{high:g}")
        return value

    def boolean(self, index: int) -> bool:
        text = self.arg(index).upper()
        if text not in _BOOLEANS:
            raise ScpiError(-224, f"{self.args[index]!r} is not ON|OFF|1|0")
        return _BOOLEANS[text]

    def choice(self, index: int, options: Sequence[str]) -> str:
        """One of `options` given as long forms (`"IMMediate"`), answered in short form."""
        text = self.arg(index).upper()
        for option in options:
            if text in (option.upper(), short_form(option)):
                return short_form(option)
        raise ScpiError(-224, f"{self.args[index]!r} is not one of {'|'.join(options)}")

    def channels(self, index: int, valid: Sequence[int]) -> list[int]:
        """A channel list `(@1)`, `(@1,3)` or `(@1:3)`; a channel the unit lacks is -222."""
        match = _CHANNELS.match(self.arg(index).replace(" ", ""))
        if not match:
            raise ScpiError(-104, f"{self.args[index]!r} is not a channel list")
        found: list[int] = []
        for part in match.group(1).split(","):
            first, colon, last = part.partition(":")
            if not first or (colon and not last):
                raise ScpiError(-102, f"channel list {self.args[index]!r}")
            found.extend(range(int(first), int(last or first) + 1))
        bad = [ch for ch in found if ch not in valid]
        if bad or not found:
            raise ScpiError(-222, f"no channel {bad} in this unit")
        return found

    def no_more_than(self, count: int) -> None:
        if len(self.args) > count:
            raise ScpiError(-108, f"{self.header} takes {count} parameter(s)")


def scpi(header: str, forms: str = "set,query") -> Callable[[Callable], Callable]:
    """Mark a method as the handler of `header` in the given forms ("set", "query" or both)."""

    def mark(method: Callable) -> Callable:
        method.scpi_headers = (*getattr(method, "scpi_headers", ()), (header, forms))  # type: ignore[attr-defined]
        return method

    return mark


class ScpiDevice:
    """Base of an emulated instrument: error queue, header matching, `*IDN?` and `SYST:ERR?`.

    The IEEE 488.2 common commands and status reporting (`Ieee4882`) and the SCPI-99 mandatory
    subsystems (`Scpi99`) are mixins: a model gets exactly what its programming manual claims.
    """

    idn = "citebench,emulator,0,0"
    interrupts_queries = False  # IEEE 488.2 6.3.2.3 -410 (the server asks; see Ieee4882)
    _table: ClassVar[dict[tuple[str, ...], tuple[Callable, str]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[tuple[str, ...], tuple[Callable, str]] = {}
        for klass in reversed(cls.__mro__):
            for method in vars(klass).values():
                for header, forms in getattr(method, "scpi_headers", ()):
                    for combo in header_forms(header):
                        table[combo] = (method, forms)
        cls._table = table

    def __init__(self) -> None:
        self.errors: deque[tuple[int, str]] = deque()
        self.lock = threading.RLock()
        self.esr = ESR_PON  # power-on: the first *ESR? says the instrument was switched on
        self.pending: list[threading.Thread] = []  # operations *OPC, *OPC? and *WAI wait for
        self.reset()

    def reset(self) -> None:
        """*RST: the instrument's defaults; subclasses extend it."""

    # --- the message loop ---------------------------------------------------------------------
    def execute(self, message: str) -> bytes | None:
        """Run one program message; returns the response line (without newline) if any query."""
        with self.lock:
            replies: list[bytes] = []
            try:
                for unit in program_units(message):
                    self.replies_waiting = bool(replies)
                    reply = self._unit(unit)
                    if reply is not None:
                        replies.append(reply)
            except ScpiSyntaxError as error:  # the rest of the message is discarded (IEEE 488.2)
                self.push_error(error.code, f"{ERRORS[error.code]}; {error}")
            except ScpiError as error:
                self.push_error(error.code, error.text)
            except Exception as error:  # an emulator bug must show in the queue, not kill a session
                self.push_error(-200, f"{ERRORS[-200]}; {type(error).__name__}: {error}")
            self.after_message()
            return b";".join(replies) if replies else None

    def after_message(self) -> None:
        """Hook run after every message (status registers latch their events here)."""

    def _unit(self, unit: ProgramUnit) -> bytes | None:
        tokens, query = unit.nodes, unit.query
        handler, forms = self._table.get(tokens, (None, ""))
        suffix = None
        if handler is None:  # `SOUR2:VOLT`, `CH1:CURR`: the node's numeric suffix is a parameter
            handler, forms = self._table.get(unit.bare, (None, ""))
            suffix = unit.suffix
        if handler is None or ("query" if query else "set") not in forms:
            raise ScpiError(-113, f"{':'.join(tokens)}{'?' if query else ''}")
        reply = handler(self, Call(unit.header, query, list(unit.args), suffix))
        if isinstance(reply, Pending):
            self.lock.release()
            try:
                reply.wait()
            finally:
                self.lock.acquire()
            reply = reply.result()
        return reply.encode() if isinstance(reply, str) else reply

    def push_error(self, code: int, text: str) -> None:
        # the message goes out as an ASCII string in double quotes, whatever the input held
        text = text.encode("ascii", "backslashreplace").decode().replace('"', "'")
        self.esr |= _error_class(code)
        if len(self.errors) >= ERROR_QUEUE_SIZE:
            self.errors[-1] = (-350, ERRORS[-350])
        else:
            self.errors.append((code, text))

    def wait_pending(self) -> None:
        """Block until every pending operation (a capture in flight) has completed."""
        for operation in list(self.pending):
            operation.join()
        self.pending = [op for op in self.pending if op.is_alive()]

    def format_error(self, code: int, text: str) -> str:
        """One `SYST:ERR?` answer; a make with another format overrides it."""
        return f'{code:+d},"{text}"'

    @scpi("*IDN", "query")
    def _idn(self, call: Call) -> str:
        call.no_more_than(0)
        return self.idn

    @scpi("SYSTem:ERRor[:NEXT]", "query")
    def _error(self, call: Call) -> str:
        code, text = self.errors.popleft() if self.errors else (0, ERRORS[0])
        return self.format_error(code, text)


class Ieee4882:
    """IEEE 488.2 mandatory common commands and status reporting (chapters 10 and 11).

    ESR bits follow the error class of each code pushed; the status byte's MAV is set when a
    reply of the same message waits in the output queue (`*IDN?;*STB?`), EAV when the error
    queue holds an entry, ESB/QUES/OPER from their registers under their enable masks, and MSS
    when any bit enabled by `*SRE` is set. Over a socket a query "is read" once its reply is
    sent; a query followed by another message in the same write is interrupted (-410), as on
    GPIB or USBTMC where the controller must read before it sends again.
    """

    interrupts_queries = True
    esr: int
    errors: deque[tuple[int, str]]
    replies_waiting: bool = False

    def reset_status(self) -> None:
        """Registers *CLS clears; *RST leaves ESE/SRE alone (IEEE 488.2 10.32)."""
        self.errors.clear()
        self.esr &= ~0xFF
        self.opc_armed = False

    def status_byte(self) -> int:
        self._complete_opc()
        stb = STB_EAV if self.errors else 0
        stb |= STB_MAV if self.replies_waiting else 0
        stb |= STB_ESB if self.esr & getattr(self, "ese", 0) else 0
        stb |= getattr(self, "summary_bits", lambda: 0)()
        return stb | (STB_MSS if stb & getattr(self, "sre", 0) & ~STB_MSS else 0)

    def _complete_opc(self) -> None:
        if getattr(self, "opc_armed", False) and not any(op.is_alive() for op in self.pending):
            self.esr |= ESR_OPC
            self.opc_armed = False

    @scpi("*RST", "set")
    def _rst(self, call: Call) -> None:
        call.no_more_than(0)
        self.reset()

    @scpi("*CLS", "set")
    def _cls(self, call: Call) -> None:
        call.no_more_than(0)
        self.reset_status()
        getattr(self, "clear_events", lambda: None)()

    @scpi("*ESE")
    def _ese(self, call: Call) -> str | None:
        return self._mask(call, "ese")

    @scpi("*SRE")
    def _sre(self, call: Call) -> str | None:
        return self._mask(call, "sre")

    def _mask(self, call: Call, name: str) -> str | None:
        if call.query:
            call.no_more_than(0)
            return f"{getattr(self, name, 0):+d}"
        call.no_more_than(1)
        setattr(self, name, int(call.number(0, low=0, high=255, default=0)))
        return None

    @scpi("*ESR", "query")
    def _esr(self, call: Call) -> str:
        call.no_more_than(0)
        self._complete_opc()
        value, self.esr = self.esr, 0
        return f"{value:+d}"

    @scpi("*STB", "query")
    def _stb(self, call: Call) -> str:
        call.no_more_than(0)
        return f"{self.status_byte():+d}"

    @scpi("*OPC")
    def _opc(self, call: Call) -> str | Pending | None:
        call.no_more_than(0)
        if call.query:
            return Pending(self.wait_pending, lambda: "1")
        self.opc_armed = True
        self._complete_opc()  # nothing pending: complete at once
        return None

    @scpi("*WAI", "set")
    def _wai(self, call: Call) -> Pending:
        call.no_more_than(0)
        return Pending(self.wait_pending, lambda: None)

    @scpi("*TST", "query")
    def _tst(self, call: Call) -> str:
        call.no_more_than(0)
        return "+0"  # self-test passed


class ByteOrder:
    """FORMat:BORDer of an instrument that sends binary blocks: NORMal (big-endian, the *RST
    state, which the model's reset() sets in `byte_order`) or SWAPped (little-endian)."""

    byte_order = ">"

    @scpi("FORMat:BORDer")
    def _border(self, call: Call) -> str | None:
        if call.query:
            return "NORM" if self.byte_order == ">" else "SWAP"
        self.byte_order = ">" if call.choice(0, ("NORMal", "SWAPped")) == "NORM" else "<"
        return None


class Scpi99:
    """The SCPI-99 mandatory subsystems (vol. 1, 4.2): SYSTem:VERSion? and the STATus registers.

    A model gives `operation_condition()` and `questionable_condition()` (bits of its manual);
    events latch on a condition's rising edge after every message, and read-and-clear.
    """

    def _status_init(self) -> None:
        if not hasattr(self, "events"):
            self.events = {"OPER": 0, "QUES": 0}
            self.enables = {"OPER": 0, "QUES": 0}
            self.conditions = {"OPER": 0, "QUES": 0}

    def condition(self, register: str) -> int:
        hook = {"OPER": "operation_condition", "QUES": "questionable_condition"}[register]
        return getattr(self, hook, lambda: 0)()

    def after_message(self) -> None:
        self._status_init()
        for register in ("OPER", "QUES"):
            now = self.condition(register)
            self.events[register] |= now & ~self.conditions[register]
            self.conditions[register] = now

    def summary_bits(self) -> int:
        self.after_message()  # latches what rose since the last message (and initializes)
        return ((STB_OPER if self.events["OPER"] & self.enables["OPER"] else 0)
                | (STB_QUES if self.events["QUES"] & self.enables["QUES"] else 0))

    def clear_events(self) -> None:
        self._status_init()
        self.events = {"OPER": 0, "QUES": 0}

    @scpi("SYSTem:VERSion", "query")
    def _version(self, call: Call) -> str:
        call.no_more_than(0)
        return "1999.0"

    @scpi("STATus:OPERation[:EVENt]", "query")
    def _oper_event(self, call: Call) -> str:
        return self._event(call, "OPER")

    @scpi("STATus:QUEStionable[:EVENt]", "query")
    def _ques_event(self, call: Call) -> str:
        return self._event(call, "QUES")

    def _event(self, call: Call, register: str) -> str:
        call.no_more_than(0)
        self.after_message()
        value, self.events[register] = self.events[register], 0
        return f"{value:+d}"

    @scpi("STATus:OPERation:CONDition", "query")
    def _oper_condition(self, call: Call) -> str:
        call.no_more_than(0)
        return f"{self.condition('OPER'):+d}"

    @scpi("STATus:QUEStionable:CONDition", "query")
    def _ques_condition(self, call: Call) -> str:
        call.no_more_than(0)
        return f"{self.condition('QUES'):+d}"

    @scpi("STATus:OPERation:ENABle")
    def _oper_enable(self, call: Call) -> str | None:
        return self._enable(call, "OPER")

    @scpi("STATus:QUEStionable:ENABle")
    def _ques_enable(self, call: Call) -> str | None:
        return self._enable(call, "QUES")

    def _enable(self, call: Call, register: str) -> str | None:
        self._status_init()
        if call.query:
            call.no_more_than(0)
            return f"{self.enables[register]:+d}"
        call.no_more_than(1)
        self.enables[register] = int(call.number(0, low=0, high=32767, default=0))
        return None

    @scpi("STATus:PRESet", "set")
    def _preset(self, call: Call) -> None:
        call.no_more_than(0)
        self.enables = {"OPER": 0, "QUES": 0}  # SCPI-99 vol. 2, 20.7: enables to 0
