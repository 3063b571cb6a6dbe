"""Emulated DC supplies: the physics every make shares, and the Keysight E36300 command set.

    >>> from emulators.ws100_board import BoardModel
    >>> board = BoardModel(powered=False)
    >>> psu = E36312A(board, board_channel=1, seed=1)
    >>> psu.execute("VOLT 3.7,(@1);:OUTP ON,(@1)"); psu.execute("OUTP? (@1:2)")
    b'1,0'
    >>> board.shutdown()

`SupplyEmulator` holds the outputs and couples the one wired to the board through `PowerFace`
only: output on or a new setpoint calls `power.supply(volts)`, output off `power.supply(0)`,
and the measured current is `power.current_a(t)` clamped by the current limit, plus seeded
noise, quantised to the model's readback resolution. Each make is a subclass that declares its
identity, ratings and resolution and carries its own command text (this module: Keysight
E36300; `psu_n6700.py`, `psu_dp800.py`, `psu_spd3303x.py`; `supplies.py` names them all).
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import ClassVar

from emulators.interfaces import PowerFace
from emulators.scpi import Call, Ieee4882, Scpi99, ScpiDevice, ScpiError, fmt_number, scpi

NOISE_GAIN = 1e-3
PACE_S = 0.002  # capture threads sample in batches at this pace; the window is real time
QUES_OV, QUES_OC = 1, 2  # questionable status bits of the Keysight supplies: OV and OC tripped


@dataclass
class Output:
    """One channel's settings and protection state."""

    volts: float = 0.0
    amps_limit: float = 0.1
    ovp: float = 0.0
    ovp_on: bool = True  # Keysight OVP is always armed; Rigol's has a state, off after *RST
    ocp_level: float = 0.0  # 0: OCP trips at the current limit (Keysight); Rigol sets a level
    ocp: bool = False  # over-current protection: the output trips instead of regulating current
    on: bool = False
    tripped: bool = False  # over-voltage protection latched
    oc_tripped: bool = False
    held_off: bool = False  # latched off by a protection that leaves `on` as programmed (WDOG)

    @property
    def live(self) -> bool:
        """Whether the terminals carry the setting (`on` is only the programmed state)."""
        return self.on and not self.held_off


class SupplyEmulator(ScpiDevice):
    """One supply: its outputs, their protection, and the board wired to `board_channel`."""

    ratings: ClassVar[dict[int, tuple[float, float]]] = {}  # channel -> (max V, max A)
    readback_resolution_a: ClassVar[float] = 1e-3
    noise_floor_a: ClassVar[float] = 0.2e-6

    def __init__(self, power: PowerFace, board_channel: int = 1, seed: int = 0) -> None:
        if board_channel not in self.ratings:
            raise ValueError(f"{type(self).__name__} has no channel {board_channel}; "
                             f"it has {sorted(self.ratings)}")
        self.power = power  # the first board's: its clock times every capture
        self.board_channel = board_channel
        self.boards: dict[int, PowerFace] = {board_channel: power}  # channel -> board it powers
        self.rng = random.Random(seed)
        self.changed = threading.Condition()  # notified on every command, for tests to await
        self.commands: deque[str] = deque(maxlen=1000)
        super().__init__()

    def reset(self) -> None:
        self.outputs = {ch: Output(ovp=self.limits(ch)["ovp"]) for ch in self.ratings}
        self._wire()

    def execute(self, message: str) -> bytes | None:
        reply = super().execute(message)
        with self.changed:
            self.commands.append(message)
            self.changed.notify_all()
        return reply

    def wait_command(self, prefix: str, timeout: float) -> bool:
        """Wait for a message that starts with `prefix` (tests synchronise on plan progress)."""
        with self.changed:
            return self.changed.wait_for(
                lambda: any(c.upper().startswith(prefix.upper()) for c in self.commands), timeout)

    def wire(self, channel: int, power: PowerFace) -> None:
        """Another board on `channel`: the slots of one station share one supply."""
        if channel not in self.ratings or channel in self.boards:
            raise ValueError(f"{type(self).__name__} channel {channel}: not free (it has "
                             f"{sorted(self.ratings)}, boards on {sorted(self.boards)})")
        with self.lock:
            self.boards[channel] = power
            self._wire()

    def _wire(self) -> None:
        for channel, power in self.boards.items():
            out = self.outputs[channel]
            power.supply(out.volts if out.live else 0.0)

    def questionable_condition(self) -> int:
        outs = self.outputs.values()
        return (QUES_OV if any(o.tripped for o in outs) else 0) | (
            QUES_OC if any(o.oc_tripped for o in outs) else 0)

    # --- physics ------------------------------------------------------------------------------
    def amps(self, ch: int, at: float) -> float:
        """The channel's current at `at`, with noise, before readback quantisation."""
        out = self.outputs[ch]
        board = self.boards.get(ch)
        load = board.current_a(at) if board is not None and out.live else 0.0
        if out.ocp and load > (out.ocp_level or out.amps_limit):
            out.on, out.oc_tripped = False, True
            self._wire()
            load = 0.0
        load = min(load, out.amps_limit)  # constant-current mode clamps the load
        return load + self.rng.gauss(0.0, self.noise_floor_a + NOISE_GAIN * load)

    def measured_amps(self, ch: int) -> float:
        step = self.readback_resolution_a
        return round(self.amps(ch, self.power.clock()) / step) * step

    def measured_volts(self, ch: int) -> float:
        out = self.outputs[ch]
        return (out.volts if out.live else 0.0) + self.rng.gauss(0.0, 50e-6)

    def acquire(self, ch: int, points: int, interval: float) -> list[float]:
        """Sample the channel's current over a real-time window, `points` samples apart."""
        clock = self.power.clock
        start = clock()
        samples: list[float] = []
        while len(samples) < points:
            due = min(points, int((clock() - start) / interval) + 1)
            samples.extend(self.amps(ch, start + i * interval) for i in range(len(samples), due))
            if len(samples) < points:
                time.sleep(PACE_S)  # the window is the measurement: time itself is the event
        return samples

    def set_level(self, ch: int, attr: str, value: float) -> None:
        """A setpoint; a voltage above the OVP level on a live output trips it (-221)."""
        setattr(self.outputs[ch], attr, value)
        out = self.outputs[ch]
        if attr in ("ovp", "volts") and out.on and out.ovp_on and out.volts > out.ovp:
            self._trip(ch)
        self._wire()

    def switch(self, ch: int, on: bool) -> None:
        out = self.outputs[ch]
        if on and out.ovp_on and out.volts > out.ovp:
            self._trip(ch)
        out.on = on and not out.tripped and not out.oc_tripped
        self._wire()

    def power_on(self, volts: float) -> None:
        """The board's channel on at `volts`, as a desk where the supply is already on."""
        with self.lock:
            self.set_level(self.board_channel, "volts", volts)
            self.switch(self.board_channel, True)

    def clear_protection(self, ch: int) -> None:
        out = self.outputs[ch]
        out.tripped = out.oc_tripped = out.held_off = False
        self._wire()  # an output held off comes back to its programmed state

    def _trip(self, ch: int) -> None:
        self.outputs[ch].on = False
        self.outputs[ch].tripped = True
        self._wire()
        raise ScpiError(-221, f"over-voltage protection tripped on channel {ch}")

    def limits(self, ch: int) -> dict[str, float]:
        volts, amps = self.ratings[ch]
        return {"volts": volts, "amps_limit": amps, "ovp": volts * 1.1}


class KeysightSupply(Ieee4882, Scpi99, SupplyEmulator):
    """Keysight channel-list commands (E36300 and N6700 programming guides): `VOLT 3.7,(@1)`."""

    defaults: ClassVar[dict[str, float]] = {"volts": 0.0, "amps_limit": 0.1}

    def _setting(self, call: Call, attr: str, unit: str) -> str | None:
        """`VOLT 3.7[,(@list)]`, `VOLT? [MIN|MAX|DEF,][(@list)]`; no list means channel 1."""
        listed = bool(call.args) and call.args[-1].startswith("(")
        channels = call.channels(len(call.args) - 1, tuple(self.ratings)) if listed else [1]
        call.no_more_than(1 + listed)
        if call.query:
            if len(call.args) > listed:  # VOLT? MAX,(@1): the bounds
                word = call.choice(0, ("MINimum", "MAXimum", "DEFault"))
                return ",".join(fmt_number({"MIN": 0.0, "MAX": self.limits(ch)[attr],
                                            "DEF": self._default(ch, attr)}[word])
                                for ch in channels)
            return ",".join(fmt_number(getattr(self.outputs[ch], attr)) for ch in channels)
        for ch in channels:
            self.set_level(ch, attr, call.number(0, low=0.0, high=self.limits(ch)[attr],
                                                 default=self._default(ch, attr), unit=unit))
        return None

    def _default(self, ch: int, attr: str) -> float:
        return self.defaults.get(attr, self.limits(ch)[attr])

    @scpi("[SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]")
    def _voltage(self, call: Call) -> str | None:
        return self._setting(call, "volts", "V")

    @scpi("[SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]")
    def _current(self, call: Call) -> str | None:
        return self._setting(call, "amps_limit", "A")

    @scpi("[SOURce]:VOLTage:PROTection[:LEVel]")
    def _ovp(self, call: Call) -> str | None:
        return self._setting(call, "ovp", "V")

    @scpi("[SOURce]:CURRent:PROTection:STATe")
    def _ocp(self, call: Call) -> str | None:
        if call.query:
            return ",".join(str(int(self.outputs[ch].ocp)) for ch in self._channels(call, 0))
        on = call.boolean(0)
        for ch in self._channels(call, 1):
            self.outputs[ch].ocp = on
        return None

    @scpi("[SOURce]:VOLTage:PROTection:TRIPped", "query")
    def _tripped(self, call: Call) -> str:
        return ",".join(str(int(self.outputs[ch].tripped)) for ch in self._channels(call, 0))

    @scpi("[SOURce]:CURRent:PROTection:TRIPped", "query")
    def _oc_tripped(self, call: Call) -> str:
        return ",".join(str(int(self.outputs[ch].oc_tripped)) for ch in self._channels(call, 0))

    @scpi("OUTPut:PROTection:CLEar", "set")
    def _clear_trip(self, call: Call) -> None:
        for ch in self._channels(call, 0):
            self.clear_protection(ch)

    @scpi("OUTPut[:STATe]")
    def _output(self, call: Call) -> str | None:
        if call.query:
            return ",".join(str(int(self.outputs[ch].on)) for ch in self._channels(call, 0))
        on = call.boolean(0)
        for ch in self._channels(call, 1):
            self.switch(ch, on)
        return None

    def _channels(self, call: Call, index: int) -> list[int]:
        call.no_more_than(index + 1)
        return call.channels(index, tuple(self.ratings)) if len(call.args) > index else [1]

    @scpi("MEASure[:SCALar]:VOLTage[:DC]", "query")
    def _meas_volts(self, call: Call) -> str:
        return ",".join(fmt_number(self.measured_volts(ch)) for ch in self._channels(call, 0))

    @scpi("MEASure[:SCALar]:CURRent[:DC]", "query")
    def _meas_amps(self, call: Call) -> str:
        return ",".join(fmt_number(self.measured_amps(ch)) for ch in self._channels(call, 0))


class E36312A(KeysightSupply):
    """Keysight E36312A: 6 V / 5 A and two 25 V / 1 A outputs (3 % over-range); no digitiser,
    so array capture commands are -113 as on the instrument."""

    idn = "Keysight Technologies,E36312A,CB00000001,2.1.0-1.0.4-1.12"
    ratings: ClassVar[dict[int, tuple[float, float]]] = {
        1: (6.18, 5.15), 2: (25.75, 1.03), 3: (25.75, 1.03)}
    readback_resolution_a = 0.25e-3

    def limits(self, ch: int) -> dict[str, float]:
        volts, amps = self.ratings[ch]
        return {"volts": volts, "amps_limit": amps, "ovp": volts + 0.5 if ch == 1 else 27.5}
