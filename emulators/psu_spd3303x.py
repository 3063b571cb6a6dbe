"""An emulated Siglent SPD3303X: exactly the commands its manual lists, and nothing else.

    >>> from emulators.ws100_board import BoardModel
    >>> board = BoardModel(powered=False)
    >>> psu = SPD3303X(board, seed=1)
    >>> psu.execute("CH1:VOLT 3.7"); psu.execute("OUTP CH1,ON"); psu.execute("SYST:STAT?")
    b'0x0010'
    >>> board.shutdown()

Commands follow the Siglent SPD3303X/SPD3303X-E Quick Start / User Manual, "Remote control:
command list" (QS0503X-E01B): `*IDN?`, `*SAV`, `*RCL`, `INSTrument`, `CHn:VOLTage`,
`CHn:CURRent`, `MEASure:{VOLTage|CURRent|POWEr}? CHn`, `OUTPut CHn,{ON|OFF}`, `OUTPut:TRACK`,
`SYSTem:ERRor?`, `SYSTem:VERSion?`, `SYSTem:STATus?`. It has no IEEE 488.2 status system (no
`*ESR?`, `*OPC?`, `*RST`), no OVP or OCP, and no output query: the output state is bit 4
(CH1) and 5 (CH2) of `SYSTem:STATus?`. Anything else is "Undefined header" in its error queue
and a query of it is never answered, so a client times out as it does on the instrument.
CH3 is fixed (2.5, 3.3 or 5 V by a front-panel switch: 3.3 V here).
"""

from __future__ import annotations

from typing import ClassVar

from emulators.psu import SupplyEmulator
from emulators.scpi import Call, ScpiError, scpi

CH3_VOLTS = 3.3


class SPD3303X(SupplyEmulator):
    idn = "Siglent Technologies,SPD3303X,SPD3XIDD000001,1.01.01.02.07R2,V3.0"
    ratings: ClassVar[dict[int, tuple[float, float]]] = {1: (32.0, 3.2), 2: (32.0, 3.2),
                                                         3: (CH3_VOLTS, 3.2)}
    readback_resolution_a = 1e-3

    def reset(self) -> None:
        super().reset()
        for out in self.outputs.values():
            out.ovp_on = False
        self.outputs[3].volts = CH3_VOLTS
        self.selected = 1
        self.saved: dict[int, dict[int, tuple[float, float]]] = {}

    def format_error(self, code: int, text: str) -> str:
        return f"{code}  {text}"

    def _channel(self, call: Call, programmable: bool = True) -> int:
        ch = call.suffix if call.suffix is not None else self.selected
        if ch not in ((1, 2) if programmable else tuple(self.ratings)):
            raise ScpiError(-113, f"CH{ch}")
        return ch

    def _named(self, call: Call, index: int) -> int:
        word = call.arg(index).upper()
        if word not in ("CH1", "CH2", "CH3"):
            raise ScpiError(-224, f"{call.args[index]!r} is not CH1|CH2|CH3")
        return int(word[2:])

    def _level(self, call: Call, attr: str, unit: str) -> str | None:
        ch = self._channel(call)
        if call.query:
            return f"{getattr(self.outputs[ch], attr):.3f}"
        call.no_more_than(1)
        high = self.ratings[ch][0 if attr == "volts" else 1]
        self.set_level(ch, attr, call.number(0, low=0.0, high=high, default=0.0, unit=unit))
        return None

    @scpi("[CH]:VOLTage")
    def _voltage(self, call: Call) -> str | None:
        return self._level(call, "volts", "V")

    @scpi("[CH]:CURRent")
    def _current(self, call: Call) -> str | None:
        return self._level(call, "amps_limit", "A")

    @scpi("INSTrument[:SELEct]")
    def _select(self, call: Call) -> str | None:
        if call.query:
            return f"CH{self.selected}"
        call.no_more_than(1)
        self.selected = self._named(call, 0)
        return None

    @scpi("OUTPut", "set")
    def _output(self, call: Call) -> None:
        call.no_more_than(2)
        self.switch(self._named(call, 0), call.boolean(1))

    @scpi("OUTPut:TRACK", "set")
    def _track(self, call: Call) -> None:
        call.no_more_than(1)
        if call.choice(0, ("0", "1", "2")) != "0":
            raise ScpiError(-221, "series and parallel modes are not emulated")

    @scpi("MEASure:VOLTage", "query")
    def _meas_volts(self, call: Call) -> str:
        call.no_more_than(1)
        return f"{self.measured_volts(self._named(call, 0)):.3f}"

    @scpi("MEASure:CURRent", "query")
    def _meas_amps(self, call: Call) -> str:
        call.no_more_than(1)
        return f"{self.measured_amps(self._named(call, 0)):.3f}"

    @scpi("MEASure:POWEr", "query")
    def _meas_power(self, call: Call) -> str:
        ch = self._named(call, 0)
        return f"{self.measured_volts(ch) * self.measured_amps(ch):.3f}"

    @scpi("SYSTem:STATus", "query")
    def _status(self, call: Call) -> str:
        return f"0x{(self.outputs[1].on << 4) | (self.outputs[2].on << 5):04X}"

    @scpi("SYSTem:VERSion", "query")
    def _version(self, call: Call) -> str:
        return "1.01.01.02.07R2"

    @scpi("*SAV", "set")
    def _save(self, call: Call) -> None:
        slot = int(call.number(0, low=1, high=5, default=1))
        self.saved[slot] = {ch: (o.volts, o.amps_limit) for ch, o in self.outputs.items()}

    @scpi("*RCL", "set")
    def _recall(self, call: Call) -> None:
        slot = int(call.number(0, low=1, high=5, default=1))
        for ch, (volts, amps) in self.saved.get(slot, {}).items():
            self.set_level(ch, "amps_limit", amps)
            self.set_level(ch, "volts", volts)
