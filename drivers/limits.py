"""The station's limits applied to every message a supply driver sends, raw ones included.

    >>> guard = LimitGuard(KEYSIGHT_RULES, {"max_voltage": 4.4}, "TCPIP0::lab::SOCKET", "[psu] ")
    >>> guard("VOLT 3.7,(@1)")
    >>> guard("VOLT:PROT 6.18,(@1)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    drivers.scpi.LimitError: ... refused: 6.18 V exceeds the station limit [psu] max_voltage = 4.4 V

A `control` checks the value it formats, but `psu.write("VOLT:PROT 6.18,(@1)")` is text: the
guard reads it as the instrument would (every unit of a compound message, the header path
that `;` keeps, short and long forms, numeric header suffixes, suffix units, MIN/MAX/DEF) and
refuses, before anything is sent, any unit that would set a voltage, a current or a protection
level above the profile's limit, switch a protection off, recall a stored state (`*RCL`,
whose setpoints cannot be seen) or reset the protection levels to their maximum (`*RST`: the
driver's `reset()` sets them again from the profile). Each family lists its rules; headers
it does not list pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from drivers.scpi import LimitError
from protocols.scpi import SuffixError, header_forms, scaled, split_outside

UNITS = {"max_voltage": "V", "max_current": "A"}


@dataclass(frozen=True)
class Rule:
    """A header whose parameter `arg` (negative counts from the end) is held under `limit`;
    `arming` rules instead refuse OFF/0 (switching a protection off)."""

    header: str
    limit: str
    arg: int = 0
    arming: bool = False


KEYSIGHT_RULES = (  # E36300 and N6700 programming guides
    Rule("[SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", "max_voltage"),
    Rule("[SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]", "max_current"),
    Rule("[SOURce]:VOLTage:PROTection[:LEVel]", "max_voltage"),
    Rule("[SOURce]:VOLTage:LIMit[:POSitive][:IMMediate][:AMPLitude]", "max_voltage"),
    Rule("[SOURce]:CURRent:LIMit[:POSitive][:IMMediate][:AMPLitude]", "max_current"),
    Rule("APPLy", "max_voltage", 1),
    Rule("APPLy", "max_current", 2),
)


class LimitGuard:
    """Callable check of one outgoing message against `limits` under a family's `rules`."""

    def __init__(self, rules: Sequence[Rule], limits: Mapping[str, float], resource: str,
                 section: str = "") -> None:
        self.limits, self.resource, self.section = dict(limits), resource, section
        self.rules: dict[tuple[str, ...], list[Rule]] = {}
        for rule in rules:
            if rule.limit in self.limits:
                for form in header_forms(rule.header):
                    self.rules.setdefault(form, []).append(rule)
        self._passed: set[str] = set()  # messages already checked: the hot path is a set lookup

    def __call__(self, message: str) -> None:
        if message in self._passed:
            return
        try:
            units = split_outside(message, ";")
        except ValueError:
            units = [message]  # unbalanced: the instrument will say -102; nothing to check
        path: tuple[str, ...] = ()
        for unit in units:
            path = self._unit(message, unit.strip(), path)
        if len(self._passed) < 4096:
            self._passed.add(message)

    def _unit(self, message: str, unit: str, path: tuple[str, ...]) -> tuple[str, ...]:
        header, _, rest = unit.partition(" ")
        name = header.rstrip("?")
        if name.upper() == "*RCL" and self.limits:
            self._refuse(message, "*RCL recalls stored setpoints the driver cannot check "
                         "against the station limits")
        if name.upper() == "*RST" and self.limits:
            self._refuse(message, "*RST returns the protection levels to the instrument's "
                         "maximum; the driver's reset() sets them again from the profile")
        if name.startswith("*") or not name:
            return path
        if name.startswith(":"):
            path, name = (), name[1:]
        tokens = path + tuple(re.sub(r"(?<=[A-Z])\d+$", "", t) for t in name.upper().split(":"))
        if not header.endswith("?"):
            args = [a.strip() for a in rest.split(",")] if rest.strip() else []
            for rule in self.rules.get(tokens, ()):
                self._check(message, rule, args)
        return tokens[:-1]

    def _check(self, message: str, rule: Rule, args: list[str]) -> None:
        plain = [a for a in args if not a.startswith("(@")]  # channel lists are not values
        index = rule.arg if rule.arg >= 0 else len(plain) + rule.arg
        if not 0 <= index < len(plain):
            return
        text, key = plain[index], rule.limit
        where = f"the station limit {self.section}{key} = {self.limits[key]:g} {UNITS[key]}"
        if rule.arming:
            if text.upper() in ("OFF", "0"):
                self._refuse(message, f"switching that protection off would lift {where}")
            return
        try:
            value = scaled(text, UNITS[key])
        except SuffixError:
            return  # the instrument refuses a wrong unit itself (-131)
        if value is None:
            if text.upper().startswith(("MAX", "DEF")):
                self._refuse(message, f"{text} is the instrument's own maximum, not {where}")
            return
        if value > self.limits[key]:
            self._refuse(message, f"{value:g} {UNITS[key]} exceeds {where}")

    def _refuse(self, message: str, why: str) -> None:
        raise LimitError(f"{self.resource}: {message!r} refused: {why}")
