"""SCPI program-message grammar shared by the instrument drivers and the SCPI emulators.

    >>> header_forms("[SOURce]:VOLTage")[:2]
    [('SOURCE', 'VOLTAGE'), ('SOURCE', 'VOLT')]
    >>> round(scaled("3300mV", "V"), 9), round(scaled("20uA", "A"), 9), scaled("MAX", "V")
    (3.3, 2e-05, None)

One declaration of how a header expands (short and long forms, optional `[nodes]`), how a
message splits into units, and how a number with a suffix unit reads (IEEE 488.2 7.7.3), so the
driver that checks an outgoing command against the station's limits and the emulator that
executes it cannot disagree about what the command says.
"""

from __future__ import annotations

import re

NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)$")
# Multipliers instruments accept before V, A and s: `M` is milli (`MV` millivolt, `MA`
# milliampere); mega is `MA` only before HZ and OHM, which no parameter here takes.
MULTIPLIERS = {"": 1.0, "K": 1e3, "M": 1e-3, "U": 1e-6, "N": 1e-9, "P": 1e-12}


class SuffixError(ValueError):
    """A suffix that is not the parameter's unit (-131), or any suffix where none is taken
    (-138); `code` is the SCPI error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


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
