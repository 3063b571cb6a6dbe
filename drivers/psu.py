"""DC power supplies: one Python API over each make's own command set.

    >>> psu = open_supply("TCPIP0::10.0.0.7::5025::SOCKET",                 # doctest: +SKIP
    ...                   limits={"max_voltage": 4.4, "max_current": 0.5})
    >>> psu.family, sorted(psu.capabilities)                                # doctest: +SKIP
    ('E36300', ['ocp', 'ovp', 'readback', 'supply'])
    >>> out = psu.channel(1)                                                # doctest: +SKIP
    >>> out.voltage = 3.7; out.current_limit = 0.2; out.output = True       # doctest: +SKIP
    >>> psu.protect(1)                                                      # doctest: +SKIP
    {'ovp_v': 4.4, 'ocp': True}

`open_supply` reads `*IDN?` (unless the profile pins a model) and picks the family module that
drives it: Keysight E36300 (`psu_e36300.py`), Keysight N6700 (`psu_n6700.py`, array capture),
Rigol DP800 (`psu_dp800.py`), Siglent SPD3303X (`psu_spd3303x.py`). Every family gives the same
channel API (`voltage`, `current_limit`, `output`, `measured_voltage`, `current`), `protect()`
(the instrument's own OVP and OCP from the station limits, read back), `all_off()`, and a
declared `capabilities` set. A `LimitGuard` built from the family's `rules` and `allowed`
settings checks every message the driver sends, raw `write` included, against the station limits.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, ClassVar

import pyvisa

from drivers.errors import ResourceLostError
from drivers.limits import LimitGuard, Rule
from drivers.scpi import Channel, Instrument, InstrumentError, open_resource

OVP_TOLERANCE_V = 0.011  # readback of a protection level within the instruments' 10 mV step


class OutputLostError(ResourceLostError):
    """An output the bench switched on is found off (`bench safe`, a hand on the front panel, a
    protection trip): whatever the board did afterwards, it did unpowered."""


class SupplyChannel(Channel):
    """One output; each family's subclass carries its command text as `control` lines."""

    instrument: PowerSupply

    def __setattr__(self, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if name == "output":  # once sent and accepted: what the bench expects the output to be
            self.instrument.switched[self.number] = bool(value)

    @property
    def voltage_range(self) -> tuple[float, float]:
        return (0.0, self.instrument.ratings[self.number][0])

    @property
    def current_range(self) -> tuple[float, float]:
        return (0.0, self.instrument.ratings[self.number][1])


class PowerSupply(Instrument):
    """A supply of one family: ratings per model, capabilities, rules, the off message."""

    family: ClassVar[str] = ""
    models: ClassVar[dict[str, dict[int, tuple[float, float]]]] = {}  # model -> ch -> (V, A)
    capabilities: ClassVar[frozenset[str]] = frozenset()
    readback_resolution_a: ClassVar[float] = 1e-3  # MEAS:CURR? step, as the family states it
    rules: ClassVar[tuple[Rule, ...]] = ()
    allowed: ClassVar[tuple[str, ...]] = ()  # settings that set no level (drivers/limits.py)
    channel_class: ClassVar[type[SupplyChannel]] = SupplyChannel

    def __init__(self, resource: Any, limits: Mapping[str, float] | None = None,
                 model: str = "", section: str = "", *, reconnects: int = 0) -> None:
        super().__init__(resource, limits, section, reconnects=reconnects)
        self.model = model or next(iter(self.models))
        self.ratings = self.models.get(self.model) or next(iter(self.models.values()))
        self.channels = {n: self.channel_class(self, n) for n in self.ratings}
        self.guard = self.limit_guard(self.limits, self.resource_name, section)
        self.protected: set[int] = set()  # channels whose protection `reset` sets again
        self.switched: dict[int, bool] = {}  # channel -> the state the bench last switched it to
        self.io_timeout_s = 0  # the instrument's own I/O watchdog delay, where it has one

    @classmethod
    def limit_guard(cls, limits: Mapping[str, float], resource: str,
                    section: str = "") -> LimitGuard:
        """The guard of this family's messages; a refusal names where its `allowed` lives."""
        owner = next(c for c in cls.__mro__ if "allowed" in vars(c))
        return LimitGuard(cls.rules, limits, resource, section, allowed=cls.allowed,
                          listed_in=f"the {cls.family} allow-list ({owner.__module__}."
                                    f"{owner.__qualname__}.allowed)")

    def channel(self, number: int) -> SupplyChannel:
        try:
            return self.channels[number]
        except KeyError:
            raise ValueError(f"{self.resource_name}: no channel {number}; this "
                             f"{self.model} has {sorted(self.channels)}") from None

    def own(self, numbers: Collection[int]) -> None:
        """Drive only these channels: a slot's share of a supply that powers several boards, so
        its `all_off`, protection and checks never touch another slot's board."""
        self.channels = {n: self.channel(n) for n in numbers}

    def off_message(self) -> str:
        """Every output off in one write (newline-separated messages where a make needs it)."""
        raise NotImplementedError

    def all_off(self) -> None:
        """Every output off, without waiting for any reply: safe from a signal handler."""
        self.switched = dict.fromkeys(self.channels, False)
        self.send(self.off_message())

    def check_outputs(self) -> None:
        """Raise OutputLostError, naming the resource and the channel, for an output the bench
        switched on that the supply reports off (one query per channel switched on)."""
        for number in sorted(n for n, on in self.switched.items() if on):
            if not self.delivering(number):
                raise OutputLostError(
                    f"{self.resource_name} ({self.model}) channel {number}: output found off "
                    "although the bench had switched it on (switched off from outside the run: "
                    "`bench safe`, the front panel, another session, or a protection trip); "
                    "the run stops and does not power the board again")

    def delivering(self, number: int) -> bool:
        """Whether the output is on at its terminals; a family whose protection can hold an
        output off while its programmed state stays on says so here."""
        return bool(self.channel(number).output)

    def protect(self, number: int, io_timeout_s: int = 0) -> dict[str, object]:
        """Set the instrument's own OVP/OCP from the station limits and read them back; a make
        without them returns {} (the driver's limits are then the only ones). `io_timeout_s`:
        where the make has an I/O watchdog (N6700), it holds every output off after that long
        without a message, so a run killed with its watchdog still ends with the outputs off."""
        self.protected.add(number)
        self.io_timeout_s = io_timeout_s or self.io_timeout_s
        return self._protect(self.channel(number))

    def _protect(self, out: SupplyChannel) -> dict[str, object]:
        return {}

    def release(self) -> None:
        """The run is over and the outputs off: the instrument's own I/O watchdog stops, so it
        does not hold them off under the next user's hand an idle minute later."""

    def reset(self) -> None:
        """*RST returns protection levels to the instrument's maximum, so the guard refuses a
        raw `*RST`; this one sets the protection of every protected channel again at once."""
        guard, self.guard = self.guard, None
        try:
            super().reset()
        finally:
            self.guard = guard
        for number in sorted(self.protected):
            self.protect(number)

    def check_readback(self, what: str, wanted: object, got: object) -> None:
        same = (abs(float(got) - float(wanted)) <= OVP_TOLERANCE_V  # type: ignore[arg-type]
                if isinstance(wanted, float) else got == wanted)
        if not same:
            raise InstrumentError(f"{self.resource_name}: {what} set to {wanted!r} from the "
                                  f"station profile reads back {got!r}")


def family_of(model: str) -> type[PowerSupply]:
    """The family class that drives `model` (an `*IDN?` model field or a pinned name)."""
    from drivers.psu_dp800 import DP800
    from drivers.psu_e36300 import E36300
    from drivers.psu_n6700 import N6700
    from drivers.psu_spd3303x import SPD3303X

    for family in (E36300, N6700, DP800, SPD3303X):
        if model.upper() in family.models:
            return family
    known = ", ".join(m for f in (E36300, N6700, DP800, SPD3303X) for m in f.models)
    raise InstrumentError(f"no supply family drives model {model!r}; known models: {known}")


def open_supply(resource_name: str, *, limits: Mapping[str, float] | None = None,
                model: str = "", section: str = "[psu] ",
                manager: pyvisa.ResourceManager | None = None,
                timeout_ms: int = 5000, reconnects: int = 0) -> PowerSupply:
    """Open the supply at `resource_name` with the family its `*IDN?` (or `model`) names;
    `reconnects`: new sessions the driver may open in the run (see drivers/scpi.py)."""
    probe = Instrument(open_resource(resource_name, manager, timeout_ms), reconnects=reconnects)
    try:
        model = model or probe.identity.model  # *IDN? recovered as any query is
        supply = family_of(model)(probe.resource, limits, model.upper(), section,
                                  reconnects=reconnects)
    except BaseException:
        probe.close()
        raise
    supply.recovery, supply.traffic = probe.recovery, probe.traffic  # one session's history
    if "identity" in probe.__dict__:
        supply.__dict__["identity"] = probe.identity
    return supply
