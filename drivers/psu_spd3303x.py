"""Siglent SPD3303X / SPD3303X-E: `CHn:VOLT`, `OUTP CHn,ON`, output state in `SYST:STAT?`.

Commands follow the Siglent SPD3303X/X-E Quick Start (QS0503X-E01B), "Remote control: command
list". The make has no IEEE 488.2 status system (`*CLS` is drained through `SYST:ERR?`
instead), no OVP or OCP (so no `ovp`/`ocp` capability: the driver's limits are the only ones
and the record says so), no output query (bits 4 and 5 of `SYST:STAT?`), and CH3 is fixed.
Readback resolves 1 mV / 1 mA (10 mV / 10 mA on the -E).
"""

from __future__ import annotations

from typing import ClassVar

from drivers.limits import COMMON_SETTINGS, Rule
from drivers.psu import PowerSupply, SupplyChannel
from drivers.scpi import control, measurement


class SPD3303XChannel(SupplyChannel):
    voltage = control("CH{ch}:VOLT?", "CH{ch}:VOLT {value:.3f}", "V",
                      values="voltage_range", limit="max_voltage")
    current_limit = control("CH{ch}:CURR?", "CH{ch}:CURR {value:.3f}", "A",
                            values="current_range", limit="max_current")
    measured_voltage = measurement("MEAS:VOLT? CH{ch}", "V")
    current = measurement("MEAS:CURR? CH{ch}", "A")

    @property
    def output(self) -> bool:
        status = int(self.query("SYST:STAT?"), 16)
        return bool(status & (1 << (3 + self.number)))  # CH1: bit 4, CH2: bit 5

    @output.setter
    def output(self, on: bool) -> None:
        self.write(f"OUTP CH{self.number},{'ON' if on else 'OFF'}", idempotent=True)


class SPD3303X(PowerSupply):
    family = "SPD3303X"
    models: ClassVar[dict[str, dict[int, tuple[float, float]]]] = {
        "SPD3303X": {1: (32.0, 3.2), 2: (32.0, 3.2)},
        "SPD3303X-E": {1: (32.0, 3.2), 2: (32.0, 3.2)},
    }
    capabilities = frozenset({"supply", "readback"})
    rules = (Rule("[CH]:VOLTage", "max_voltage"), Rule("[CH]:CURRent", "max_current"),
             # TIMEr:SET CHn,<group>,<volts>,<amps>,<seconds>: a step the timer applies later
             Rule("TIMEr:SET", "max_voltage", 1), Rule("TIMEr:SET", "max_current", 2),
             Rule("OUTPut:TRACK", "max_voltage", only=("0",)))  # 1: CH1 and CH2 in series
    # the make takes only *SAV of the common commands; the others get its own -113
    allowed = (*COMMON_SETTINGS, "INSTrument[:SELEct]", "OUTPut", "OUTPut:WAVE")
    channel_class = SPD3303XChannel
    compound_messages = False

    def off_message(self) -> str:
        # CH3 (the fixed 2.5/3.3/5 V output) is no slot's: it goes off with the whole supply
        fixed = (3,) if len(self.channels) == len(self.ratings) else ()
        return "\n".join(f"OUTP CH{n},OFF" for n in (*self.channels, *fixed))  # not compound

    def clear(self) -> None:
        """No *CLS on this make: empty the error queue by reading it."""
        self.clear_queue()
