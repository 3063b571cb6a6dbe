"""The station's limits applied to every message a supply driver sends, raw ones included.

    >>> guard = LimitGuard(KEYSIGHT_RULES, {"max_voltage": 4.4}, "TCPIP0::lab::SOCKET", "[psu] ",
    ...                    allowed=("OUTPut[:STATe]",), listed_in="the example's allow-list")
    >>> guard("VOLT 3.7,(@1);:OUTP ON,(@1)")
    >>> guard("VOLT:PROT 6.18,(@1)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    drivers.scpi.LimitError: ... refused at offset 0: 6.18 V exceeds ... [psu] max_voltage = 4.4 V
    >>> guard("VOLT 3.7\\nVOLT\\t5")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    drivers.scpi.LimitError: ... refused at offset 9: 5 V exceeds ... [psu] max_voltage = 4.4 V
    >>> guard("INIT:TRAN (@1)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    drivers.scpi.LimitError: ... offset 0: the setting INIT:TRAN is not on the example's ...

A `control` checks the value it formats, but `psu.write("VOLT:PROT 6.18,(@1)")` is text: the
guard reads it with the lexer the emulated instruments execute with (`protocols.scpi.
program_units`): every message of the write (each line feed ends one), every unit of a compound
message with the header path `;` keeps (and, for an instrument that does not keep it, from the
root too), space or tab between header and parameters, short and long forms in any case, numeric
header suffixes, suffix units. Before anything is sent it refuses any unit that would set a
voltage, a current or a protection level above the profile's limit, or to a level it cannot read
as a number (MAX, DEF, UP, `#H..`: the instrument's own levels), switch a protection off
(anything but ON or a non-zero number), recall a stored state (`*RCL`, whose setpoints cannot be
seen) or reset the protection levels to their maximum (`*RST`: the driver's `reset()` sets them
again from the profile); and, when the profile sets limits, any message it cannot lex (a control
character, an unbalanced quote, an empty unit), since it cannot know what a real instrument
would make of it, a carriage return no line feed follows (an instrument that ends a message at
CR would read what follows as another message), and any setting whose header, read either way,
is neither ruled nor on the family's allow-list (`allowed` next to `rules` in the family's
class): a command nobody listed (a preset, a timer, an arbitrary waveform) may apply a level no
rule reads. Queries pass: they set nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from drivers.scpi import LimitError
from protocols.scpi import (
    TERMINATOR,
    ProgramUnit,
    ScpiSyntaxError,
    SuffixError,
    header_forms,
    program_messages,
    program_units,
    scaled,
)

UNITS = {"max_voltage": "V", "max_current": "A"}
# parameters that name a channel, not a value: `(@1,2)` (Keysight), `CH1` (Rigol, Siglent)
_CHANNEL = re.compile(r"\(@.*\)|CH\d+", re.IGNORECASE | re.DOTALL)
_STRING = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'', re.DOTALL)  # IEEE 488.2 7.7.5
# A CR that no LF follows; every write ends with an LF (pyvisa's write termination).
_BARE_CR = re.compile(f"\r(?!{TERMINATOR})")
# common commands that lift the limits whatever their parameters, and why
_REFUSED = {
    "*RCL": "*RCL recalls stored setpoints the driver cannot check against the station limits",
    "*RST": "*RST returns the protection levels to the instrument's maximum; the driver's "
            "reset() sets them again from the profile",
}
# Settings every family's allow-list starts with: IEEE 488.2 common commands and SCPI-99 status
# registers, which clear, mask, wait, trigger or save and set no level. *RST and *RCL stay
# refused (above); the macro commands (*DMC, *EMC) are left off: a macro hides what it runs.
COMMON_SETTINGS = (
    "*CLS", "*ESE", "*SRE", "*OPC", "*WAI", "*TRG", "*SAV", "*PSC", "STATus:PRESet",
    "STATus:OPERation:ENABle", "STATus:OPERation:PTRansition", "STATus:OPERation:NTRansition",
    "STATus:QUEStionable:ENABle", "STATus:QUEStionable:PTRansition",
    "STATus:QUEStionable:NTRansition",
)


@dataclass(frozen=True)
class Rule:
    """A header whose value parameter `arg` (negative counts from the end, None: every one, as
    in a list; channel lists and `CHn` words are not counted) is held under `limit`; `arming`
    rules instead refuse anything but ON or a non-zero number (switching a protection off),
    `only` rules anything but the words it lists (a mode that adds outputs in series)."""

    header: str
    limit: str
    arg: int | None = 0
    arming: bool = False
    only: tuple[str, ...] = ()


KEYSIGHT_RULES = (  # E36300 and N6700 programming guides
    Rule("[SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", "max_voltage"),
    Rule("[SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]", "max_current"),
    Rule("[SOURce]:VOLTage:PROTection[:LEVel]", "max_voltage"),
    Rule("[SOURce]:VOLTage:PROTection:STATe", "max_voltage", arming=True),
    Rule("[SOURce]:CURRent:PROTection:STATe", "max_current", arming=True),
    Rule("[SOURce]:VOLTage:LIMit[:POSitive][:IMMediate][:AMPLitude]", "max_voltage"),
    Rule("[SOURce]:CURRent:LIMit[:POSitive][:IMMediate][:AMPLitude]", "max_current"),
    # levels that reach the output later, on a trigger or as a list step
    Rule("[SOURce]:VOLTage[:LEVel]:TRIGgered[:AMPLitude]", "max_voltage"),
    Rule("[SOURce]:CURRent[:LEVel]:TRIGgered[:AMPLitude]", "max_current"),
    Rule("[SOURce]:LIST:VOLTage[:LEVel]", "max_voltage", None),
    Rule("[SOURce]:LIST:CURRent[:LEVel]", "max_current", None),
    Rule("APPLy", "max_voltage", 0),
    Rule("APPLy", "max_current", 1),
    Rule("OUTPut:PAIR", "max_voltage", only=("OFF",)),  # E36312A: outputs 2 and 3 in series
)


class LimitGuard:
    """Callable check of one outgoing message against `limits` under a family's `rules`;
    settings must be ruled or `allowed` (header patterns), and a refusal of one that is not
    names `listed_in`: the list and where it lives, so whoever needs a header can add it."""

    def __init__(self, rules: Sequence[Rule], limits: Mapping[str, float], resource: str,
                 section: str = "", *, allowed: Sequence[str], listed_in: str) -> None:
        self.limits, self.resource, self.section = dict(limits), resource, section
        self.rules: dict[tuple[str, ...], list[Rule]] = {}
        for rule in rules:
            if rule.limit in self.limits:
                for form in header_forms(rule.header):
                    self.rules.setdefault(form, []).append(rule)
        # a ruled header is allowed whichever limits the profile sets: its rules hold the rest
        self.allowed = {form for pattern in (*allowed, *(rule.header for rule in rules))
                        for form in header_forms(pattern)}
        self.listed_in = listed_in
        self._passed: set[str] = set()  # messages already checked: the hot path is a set lookup

    def __call__(self, message: str) -> None:
        if message in self._passed or not self.limits:
            return
        cr = _BARE_CR.search(message + TERMINATOR)
        if cr:
            self._refuse(message, cr.start(), "a carriage return without a line feed is white "
                                              "space to IEEE 488.2 but ends the message on an "
                                              "instrument that terminates on CR, which would "
                                              "read what follows as another message; send CR LF "
                                              "or a space")
        for start, line in program_messages(message):
            try:
                for unit in program_units(line):
                    self._unit(message, unit, start + unit.offset)
            except ScpiSyntaxError as error:
                self._refuse(message, start + error.offset,
                             f"the guard cannot read it ({error}), so it cannot know what the "
                             "instrument would set")
        if len(self._passed) < 4096:
            self._passed.add(message)

    def _unit(self, message: str, unit: ProgramUnit, at: int) -> None:
        if unit.bare[0] in _REFUSED:
            self._refuse(message, at, _REFUSED[unit.bare[0]])
        if unit.query:
            return
        hidden = [a for a in unit.args if ";" in a and not _STRING.fullmatch(a)]
        if hidden:  # a parser that stops at the `;` and resumes after it reads another unit
            self._refuse(message, at, f"the `;` inside {hidden[0]!r} may end a unit for the "
                                      "instrument; the guard cannot know what follows it")
        values = [a for a in unit.args if not _CHANNEL.fullmatch(a)]
        for rule in dict.fromkeys(r for nodes in (unit.bare, unit.rooted)
                                  for r in self.rules.get(nodes, ())):
            if rule.arg is None:
                picked = values
            else:
                index = rule.arg if rule.arg >= 0 else len(values) + rule.arg
                picked = values[index:index + 1] if 0 <= index < len(values) else []
            for text in picked:
                self._check(message, at, rule, text)
        # after the rules, so a level above a limit is named as such
        for nodes, how in ((unit.bare, ""), (unit.rooted, ", as an instrument that starts each "
                                                           "unit at the root reads it,")):
            if nodes not in self.allowed:
                self._refuse(message, at, f"the setting {':'.join(nodes)}{how} is not on "
                                          f"{self.listed_in}; add it there if it can set no "
                                          "level, or a Rule if it can")

    def _check(self, message: str, at: int, rule: Rule, text: str) -> None:
        key = rule.limit
        where = f"the station limit {self.section}{key} = {self.limits[key]:g} {UNITS[key]}"
        if rule.only:
            if text.upper() not in rule.only:
                self._refuse(message, at, f"{text!r} couples outputs, which could lift {where}; "
                                          f"only {'|'.join(rule.only)} passes")
            return
        if rule.arming:
            if not _armed(text):
                self._refuse(message, at, f"{text!r} switches that protection off, which "
                                          f"would lift {where}")
            return
        if text.upper() in ("MIN", "MINIMUM"):
            return
        try:
            value = scaled(text, UNITS[key])
        except SuffixError as error:
            self._refuse(message, at, f"{error}: the guard cannot hold it under {where}")
        if value is None:
            self._refuse(message, at, f"{text!r} is not a number the guard can hold under "
                                      f"{where} (MAX, DEF, UP are the instrument's own levels)")
        if abs(value) > self.limits[key]:
            self._refuse(message, at, f"{value:g} {UNITS[key]} exceeds {where}")

    def _refuse(self, message: str, at: int, why: str) -> NoReturn:
        raise LimitError(f"{self.resource}: {message!r} refused at offset {at}: {why}")


def _armed(text: str) -> bool:
    """Whether a boolean parameter says ON: the word, or a number that rounds to non-zero."""
    if text.upper() == "ON":
        return True
    try:
        value = scaled(text, "")
    except SuffixError:
        return False
    return value is not None and round(value) != 0
