"""An emulated Rigol DP832: channels in the header (`:SOUR2:VOLT`) or as `CHn` parameters.

    >>> from emulators.ws100_board import BoardModel
    >>> board = BoardModel(powered=False)
    >>> psu = DP832(board, seed=1)
    >>> psu.execute(":SOUR1:VOLT 3.7;:OUTP CH1,ON"); psu.execute(":OUTP? CH1")
    b'ON'
    >>> board.shutdown()

Commands follow the Rigol DP800 Series Programming Guide (PGC01100-1110), chapters "SOURce",
"OUTPut", "MEASure", "APPLy", "INSTrument", IEEE 488.2 common commands and "STATus". OVP and
OCP have their own levels and states (off after *RST); readback resolves 1 mV / 1 mA.
"""

from __future__ import annotations

from typing import ClassVar

from emulators.psu import SupplyEmulator
from emulators.scpi import Call, Ieee4882, Scpi99, ScpiError, fmt_number, scpi


class DP832(Ieee4882, Scpi99, SupplyEmulator):
    idn = "RIGOL TECHNOLOGIES,DP832,DP8C000000001,00.01.16"
    ratings: ClassVar[dict[int, tuple[float, float]]] = {1: (32.0, 3.2), 2: (32.0, 3.2),
                                                         3: (5.3, 3.2)}
    readback_resolution_a = 1e-3

    def reset(self) -> None:
        super().reset()
        for out in self.outputs.values():
            out.ovp_on = False
        self.selected = 1

    def limits(self, ch: int) -> dict[str, float]:
        volts, amps = self.ratings[ch]
        return {"volts": volts, "amps_limit": amps, "ovp": volts * 1.1, "ocp_level": amps * 1.1}

    def _source(self, call: Call) -> int:
        ch = call.suffix if call.suffix is not None else self.selected
        if ch not in self.ratings:
            raise ScpiError(-113, f"no channel {ch} (SOUR{ch})")
        return ch

    def _named(self, call: Call, index: int) -> int:
        """A `CH1` parameter; absent, the selected channel."""
        if len(call.args) <= index:
            return self.selected
        word = call.args[index].upper()
        if word not in {f"CH{ch}" for ch in self.ratings}:
            raise ScpiError(-224, f"{call.args[index]!r} is not CH1|CH2|CH3")
        return int(word[2:])

    def _level(self, call: Call, attr: str, unit: str) -> str | None:
        ch = self._source(call)
        if call.query:
            return fmt_number(getattr(self.outputs[ch], attr))
        call.no_more_than(1)
        self.set_level(ch, attr, call.number(0, low=0.0, high=self.limits(ch)[attr],
                                             default=self.limits(ch)[attr], unit=unit))
        return None

    @scpi("[SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]")
    def _voltage(self, call: Call) -> str | None:
        return self._level(call, "volts", "V")

    @scpi("[SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]")
    def _current(self, call: Call) -> str | None:
        return self._level(call, "amps_limit", "A")

    @scpi("[SOURce]:VOLTage:PROTection[:LEVel]")
    def _ovp(self, call: Call) -> str | None:
        return self._level(call, "ovp", "V")

    @scpi("[SOURce]:CURRent:PROTection[:LEVel]")
    def _ocp_level(self, call: Call) -> str | None:
        return self._level(call, "ocp_level", "A")

    @scpi("[SOURce]:VOLTage:PROTection:STATe")
    def _ovp_state(self, call: Call) -> str | None:
        return self._state(call, "ovp_on")

    @scpi("[SOURce]:CURRent:PROTection:STATe")
    def _ocp_state(self, call: Call) -> str | None:
        return self._state(call, "ocp")

    def _state(self, call: Call, attr: str) -> str | None:
        ch = self._source(call)
        if call.query:
            return "ON" if getattr(self.outputs[ch], attr) else "OFF"
        call.no_more_than(1)
        setattr(self.outputs[ch], attr, call.boolean(0))
        self.set_level(ch, "volts", self.outputs[ch].volts)  # arming OVP below the setpoint trips
        return None

    @scpi("[SOURce]:VOLTage:PROTection:TRIPped", "query")
    def _ovp_tripped(self, call: Call) -> str:
        return "YES" if self.outputs[self._source(call)].tripped else "NO"

    @scpi("[SOURce]:VOLTage:PROTection:CLEar", "set")
    def _ovp_clear(self, call: Call) -> None:
        self.clear_protection(self._source(call))

    @scpi("OUTPut[:STATe]")
    def _output(self, call: Call) -> str | None:
        if call.query:
            call.no_more_than(1)
            return "ON" if self.outputs[self._named(call, 0)].on else "OFF"
        call.no_more_than(2)
        ch = self._named(call, 0) if len(call.args) == 2 else self.selected
        self.switch(ch, call.boolean(len(call.args) - 1))
        return None

    @scpi("INSTrument:NSELect")
    def _select(self, call: Call) -> str | None:
        if call.query:
            return str(self.selected)
        call.no_more_than(1)
        ch = int(call.number(0, low=1, high=len(self.ratings), default=1))
        self.selected = ch
        return None

    @scpi("MEASure[:VOLTage][:DC]", "query")
    def _meas_volts(self, call: Call) -> str:
        call.no_more_than(1)
        return f"{self.measured_volts(self._named(call, 0)):.3f}"

    @scpi("MEASure:CURRent[:DC]", "query")
    def _meas_amps(self, call: Call) -> str:
        call.no_more_than(1)
        return f"{self.measured_amps(self._named(call, 0)):.3f}"

    @scpi("APPLy")
    def _apply(self, call: Call) -> str | None:
        """`:APPL CH1,3.7,0.5`: setpoints of one channel in one command."""
        ch = self._named(call, 0)
        if call.query:
            out = self.outputs[ch]
            return f"CH{ch}:{self.ratings[ch][0]:g}V/{self.ratings[ch][1]:g}A," \
                   f"{out.volts:.3f},{out.amps_limit:.3f}"
        call.no_more_than(3)
        limits = self.limits(ch)
        volts = call.number(1, low=0.0, high=limits["volts"], default=0.0, unit="V")
        amps = (call.number(2, low=0.0, high=limits["amps_limit"], default=0.1, unit="A")
                if len(call.args) > 2 else self.outputs[ch].amps_limit)
        self.set_level(ch, "amps_limit", amps)
        self.set_level(ch, "volts", volts)
        return None
