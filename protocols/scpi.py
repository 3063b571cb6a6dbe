"""SCPI program-message grammar shared by the instrument drivers and the SCPI emulators.

    >>> header_forms("[SOURce]:VOLTage")[:2]
    [('SOURCE', 'VOLTAGE'), ('SOURCE', 'VOLT')]
    >>> round(scaled("3300mV", "V"), 9), round(scaled("20uA", "A"), 9), scaled("MAX", "V")
    (3.3, 2e-05, None)
    >>> [(u.nodes, u.args) for u in program_units("sour2:volt\t3.3;PROT 4V,(@1)")]
    [(('SOUR2', 'VOLT'), ('3.3',)), (('SOUR2', 'PROT'), ('4V', '(@1)'))]

One declaration of how a header expands (short and long forms, optional `[nodes]`), how a
message splits into units and each unit into header and parameters (`program_units`), and how
a number with a suffix unit reads (IEEE 488.2 7.7.3), so the driver that checks an outgoing
command against the station's limits and the emulator that executes it cannot disagree about
what the command says: a guard that split on a space while the instrument also split on a tab
let `VOLT\t5` through.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)$")
# Multipliers instruments accept before V, A and s: `M` is milli (`MV` millivolt, `MA`
# milliampere); mega is `MA` only before HZ and OHM, which no parameter here takes.
MULTIPLIERS = {"": 1.0, "K": 1e3, "M": 1e-3, "U": 1e-6, "N": 1e-9, "P": 1e-12}
# IEEE 488.2 7.4.1.2 white space, as far as our instruments take it: space, tab and carriage
# return separate a header from its parameters and pad units and parameters. Other control
# characters are -101 (Invalid character); the line feed ends a message (`program_messages`).
WHITESPACE = " \t\r"
TERMINATOR = "\n"
_BLANK = re.compile(f"[{WHITESPACE}]+")
_MNEMONIC = re.compile(r"[A-Z][A-Z0-9]*")
_NUMERIC_SUFFIX = re.compile(r"(?<=[A-Z])\d+$")  # `SOUR2`, `CH1`, `VOLT1` (SCPI-99 6.2.5)


class SuffixError(ValueError):
    """A suffix that is not the parameter's unit (-131), or any suffix where none is taken
    (-138); `code` is the SCPI error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class ScpiSyntaxError(ValueError):
    """A program message that does not lex: `code` is -101 (a character no message may hold)
    or -102 (syntax), `offset` where in the message the offending text starts."""

    def __init__(self, code: int, message: str, offset: int) -> None:
        super().__init__(message)
        self.code, self.offset = code, offset


@dataclass(frozen=True)
class ProgramUnit:
    """One unit of a program message, as the instrument reads it."""

    header: str  # as written: `sour2:volt?`
    nodes: tuple[str, ...]  # the full upper-case path, the one `;` kept included; `("*RST",)`
    query: bool
    args: tuple[str, ...]  # stripped of white space; channel lists and strings kept whole
    offset: int  # where the unit starts in its message

    @property
    def bare(self) -> tuple[str, ...]:
        """The nodes without their numeric suffixes: `SOUR2:VOLT` -> ("SOUR", "VOLT")."""
        return tuple(_NUMERIC_SUFFIX.sub("", node) for node in self.nodes)

    @property
    def rooted(self) -> tuple[str, ...]:
        """The bare nodes of the header as written, without the path `;` kept: what a parser
        that starts every unit at the root reads (not SCPI-99, but some instruments do)."""
        written = self.header.rstrip("?").lstrip(":").split(":")
        return self.bare[-len(written):]

    @property
    def suffix(self) -> int | None:
        """The first numeric header suffix (`SOUR2:VOLT` -> 2), a channel on most makes."""
        numbers = [node[len(bare):] for node, bare in zip(self.nodes, self.bare, strict=True)
                   if node != bare]
        return int(numbers[0]) if numbers else None


def program_messages(text: str) -> Iterator[tuple[int, str]]:
    """The messages of one write, each with its offset: every line feed ends one, and a line
    of nothing but white space is skipped, as the instrument's input does."""
    start = 0
    for line in text.split(TERMINATOR):
        if line.strip(WHITESPACE):
            yield start, line
        start += len(line) + 1


def program_units(message: str) -> Iterator[ProgramUnit]:
    """The units of one program message (no line feed) in order, the header path that `;`
    keeps and `;:` resets applied. Raises ScpiSyntaxError at the first unit that does not lex,
    after yielding the units before it (an instrument has run those); a bad character or an
    unbalanced quote or parenthesis is found before any unit."""
    for offset, char in enumerate(message):
        if not (" " <= char <= "~" or char in WHITESPACE):
            raise ScpiSyntaxError(-101, f"{char!r} in {message[:40]!r}", offset)
    try:
        texts = split_outside(message, ";")
    except ValueError as error:
        raise ScpiSyntaxError(-102, str(error), 0) from None
    path: tuple[str, ...] = ()
    start = 0
    for text in texts:
        unit = text.strip(WHITESPACE)
        offset = start + len(text) - len(text.lstrip(WHITESPACE))
        start += len(text) + 1
        if not unit:
            raise ScpiSyntaxError(-102, "empty command", offset)
        header, *params = _BLANK.split(unit, maxsplit=1)
        rest = params[0] if params else ""
        query = header.endswith("?")
        name = header[:-1] if query else header
        if name.startswith("*"):
            nodes: tuple[str, ...] = (name.upper(),)  # common commands leave the path alone
        else:
            if name.startswith(":"):
                path, name = (), name[1:]
            parts = name.upper().split(":")
            if not all(_MNEMONIC.fullmatch(part) for part in parts):
                raise ScpiSyntaxError(-102, f"header {header!r}", offset)
            nodes = path + tuple(parts)
            path = nodes[:-1]
        try:
            args = tuple(a.strip(WHITESPACE) for a in split_outside(rest, ",")) if rest else ()
        except ValueError as error:
            raise ScpiSyntaxError(-102, str(error), offset) from None
        if any(not a for a in args):
            raise ScpiSyntaxError(-102, f"empty parameter in {unit!r}", offset)
        yield ProgramUnit(header, nodes, query, args, offset)


def short_form(mnemonic: str) -> str:
    """The short form of a long mnemonic is all but its lower-case letters (`VOLTage` -> `VOLT`)."""
    return "".join(c for c in mnemonic if not c.islower())


def header_forms(pattern: str) -> list[tuple[str, ...]]:
    """Every upper-case spelling `[SOURce]:VOLTage[:LEVel]` allows: nodes optional or not, each
    in its long or short form."""
    nodes = re.findall(r"(\[?):?([A-Za-z*][A-Za-z0-9]*)\]?", pattern)
    variants: list[list[tuple[str, str]]] = [[]]
    for optional, name in nodes:
        node = (name.upper(), short_form(name).upper())
        variants = [[*v, node] for v in variants] + (variants if optional else [])
    forms: list[tuple[str, ...]] = []
    for variant in variants:
        combos: list[tuple[str, ...]] = [()]
        for long, short in variant:
            combos = [(*c, form) for c in combos for form in dict.fromkeys((long, short))]
        forms.extend(combos)
    return forms


def split_outside(text: str, separator: str) -> list[str]:
    """Split on `separator` outside quotes and parentheses; ValueError when unbalanced."""
    parts, depth, quote, start = [], 0, "", 0
    for i, c in enumerate(text):
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced ')'")
        elif c == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if quote or depth:
        raise ValueError("unterminated string or channel list")
    parts.append(text[start:])
    return parts


def scaled(text: str, unit: str) -> float | None:
    """The value of a numeric parameter in base units (`3300mV` -> 3.3), None if it is not a
    number (MIN, MAX, DEF, a word); SuffixError for a suffix the parameter does not take."""
    match = NUMBER.match(text.strip().upper())
    if not match:
        return None
    number, suffix = match.groups()
    if not suffix:
        return float(number)
    if not unit:
        raise SuffixError(-138, f"{text!r} takes no unit")
    prefix = suffix[:-len(unit)] if suffix.endswith(unit.upper()) else None
    if prefix is None or prefix not in MULTIPLIERS:
        raise SuffixError(-131, f"{text!r} takes {unit}")
    return float(number) * MULTIPLIERS[prefix]
