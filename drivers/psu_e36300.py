"""Keysight E36300 (E36311A/12A/13A): channel-list commands, current by polled `MEAS:CURR?`.

Commands follow the Keysight E36300 Series Programming Guide (E36311-90008), "SOURce
subsystem" (`VOLT`, `CURR`, `VOLT:PROT`, `CURR:PROT:STAT`), "OUTPut subsystem", "MEASure
subsystem" and "APPLy". The E36300 has no digitiser: current against time is one `MEAS:CURR?`
per point, resolving `readback_resolution_a` at best (a sleeping board's microamps read as 0),
so it declares no `current_profiler`. Ratings include the 3 % over-range.
"""

from __future__ import annotations

from typing import ClassVar

from drivers.limits import COMMON_SETTINGS, KEYSIGHT_RULES
from drivers.psu import PowerSupply, SupplyChannel
from drivers.scpi import control, measurement


class KeysightChannel(SupplyChannel):
    """One output addressed by a channel list, `(@n)` (E36300 and N6700 alike)."""

    voltage = control("VOLT? (@{ch})", "VOLT {value:.6g},(@{ch})", "V",
                      values="voltage_range", limit="max_voltage")
    current_limit = control("CURR? (@{ch})", "CURR {value:.6g},(@{ch})", "A",
                            values="current_range", limit="max_current")
    ovp = control("VOLT:PROT? (@{ch})", "VOLT:PROT {value:.6g},(@{ch})", "V",
                  values="voltage_range", limit="max_voltage")
    ocp = control("CURR:PROT:STAT? (@{ch})", "CURR:PROT:STAT {value:d},(@{ch})", kind=bool)
    ovp_tripped = measurement("VOLT:PROT:TRIP? (@{ch})", kind=bool)
    output = control("OUTP? (@{ch})", "OUTP {value:d},(@{ch})", kind=bool)
    measured_voltage = measurement("MEAS:VOLT? (@{ch})", "V")
    current = measurement("MEAS:CURR? (@{ch})", "A")


class KeysightSupply(PowerSupply):
    """What E36300 and N6700 share: channel lists, OVP level, OCP as a state."""

    capabilities = frozenset({"supply", "readback", "ovp", "ocp"})
    rules = KEYSIGHT_RULES
    allowed = (*COMMON_SETTINGS, "OUTPut[:STATe]", "OUTPut:PROTection:CLEar",
               "INSTrument[:SELect]", "INSTrument:NSELect", "DISPlay[:WINDow][:STATe]",
               "DISPlay[:WINDow]:TEXT[:DATA]", "DISPlay[:WINDow]:TEXT:CLEar",
               "SYSTem:BEEPer[:IMMediate]", "SYSTem:BEEPer:STATe", "SYSTem:LOCal",
               "SYSTem:REMote", "SYSTem:RWLock")
    channel_class = KeysightChannel

    def off_message(self) -> str:
        return f"OUTP OFF,(@{','.join(str(n) for n in self.channels)})"

    def _protect(self, out: SupplyChannel) -> dict[str, object]:
        assert isinstance(out, KeysightChannel)
        out.ovp = self.limits["max_voltage"]
        out.ocp = True  # trips at the current limit (max_current) instead of regulating
        readback = {"ovp_v": out.ovp, "ocp": out.ocp}
        self.check_readback("VOLT:PROT", self.limits["max_voltage"], readback["ovp_v"])
        self.check_readback("CURR:PROT:STAT", True, readback["ocp"])
        return readback


class E36300(KeysightSupply):
    family = "E36300"
    models: ClassVar[dict[str, dict[int, tuple[float, float]]]] = {
        "E36312A": {1: (6.18, 5.15), 2: (25.75, 1.03), 3: (25.75, 1.03)},
        "E36311A": {1: (6.18, 5.15), 2: (25.75, 1.03), 3: (25.75, 1.03)},
        "E36313A": {1: (6.18, 10.3), 2: (25.75, 2.06), 3: (25.75, 2.06)},
    }
    readback_resolution_a = 0.25e-3  # as citebench's emulator models it; see the data sheet
