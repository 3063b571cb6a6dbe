"""Rigol DP800 (DP831, DP832, DP832A, DP821, DP811): channels in the header or as `CHn`.

Commands follow the Rigol DP800 Series Programming Guide (PGC01100-1110): "SOURce"
(`:SOURn:VOLT`, `:SOURn:CURR`, `:SOURn:VOLT:PROT[:STAT]`, `:SOURn:CURR:PROT[:STAT]`),
"OUTPut" (`:OUTP CHn,ON|OFF`, `:OUTP? CHn`), "MEASure" (`:MEAS:VOLT? CHn`, `:MEAS:CURR? CHn`),
"APPLy" and "OUTPut:OVP/OCP". OVP and OCP have their own levels and states, off after *RST.
Readback resolves 1 mV / 1 mA (DP832), no capture.
"""

from __future__ import annotations

from typing import ClassVar

from drivers.limits import COMMON_SETTINGS, Rule
from drivers.psu import PowerSupply, SupplyChannel
from drivers.scpi import control, measurement


class DP800Channel(SupplyChannel):
    voltage = control(":SOUR{ch}:VOLT?", ":SOUR{ch}:VOLT {value:.6g}", "V",
                      values="voltage_range", limit="max_voltage")
    current_limit = control(":SOUR{ch}:CURR?", ":SOUR{ch}:CURR {value:.6g}", "A",
                            values="current_range", limit="max_current")
    ovp = control(":SOUR{ch}:VOLT:PROT?", ":SOUR{ch}:VOLT:PROT {value:.6g}", "V",
                  values="voltage_range", limit="max_voltage")
    ovp_on = control(":SOUR{ch}:VOLT:PROT:STAT?", ":SOUR{ch}:VOLT:PROT:STAT {value:d}",
                     kind=bool)
    ocp_level = control(":SOUR{ch}:CURR:PROT?", ":SOUR{ch}:CURR:PROT {value:.6g}", "A",
                        values="current_range", limit="max_current")
    ocp = control(":SOUR{ch}:CURR:PROT:STAT?", ":SOUR{ch}:CURR:PROT:STAT {value:d}",
                  kind=bool)
    ovp_tripped = measurement(":SOUR{ch}:VOLT:PROT:TRIP?", kind=bool)
    output = control(":OUTP? CH{ch}", ":OUTP CH{ch},{value:d}", kind=bool)
    measured_voltage = measurement(":MEAS:VOLT? CH{ch}", "V")
    current = measurement(":MEAS:CURR? CH{ch}", "A")


class DP800(PowerSupply):
    family = "DP800"
    models: ClassVar[dict[str, dict[int, tuple[float, float]]]] = {
        "DP832": {1: (32.0, 3.2), 2: (32.0, 3.2), 3: (5.3, 3.2)},
        "DP832A": {1: (32.0, 3.2), 2: (32.0, 3.2), 3: (5.3, 3.2)},
        "DP831": {1: (8.4, 5.3), 2: (32.0, 2.1), 3: (-32.0, 2.1)},
        "DP821": {1: (63.0, 1.05), 2: (8.4, 10.5)},
        "DP811": {1: (42.0, 10.5)},
    }
    capabilities = frozenset({"supply", "readback", "ovp", "ocp"})
    rules = (
        Rule("[SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", "max_voltage"),
        Rule("[SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]", "max_current"),
        Rule("[SOURce]:VOLTage[:LEVel]:TRIGger[:AMPLitude]", "max_voltage"),
        Rule("[SOURce]:CURRent[:LEVel]:TRIGger[:AMPLitude]", "max_current"),
        Rule("[SOURce]:VOLTage:PROTection[:LEVel]", "max_voltage"),
        Rule("[SOURce]:CURRent:PROTection[:LEVel]", "max_current"),
        Rule("[SOURce]:VOLTage:PROTection:STATe", "max_voltage", arming=True),
        Rule("[SOURce]:CURRent:PROTection:STATe", "max_current", arming=True),
        Rule("OUTPut:OVP:VALue", "max_voltage", -1),
        Rule("OUTPut:OCP:VALue", "max_current", -1),
        Rule("OUTPut:OVP[:STATe]", "max_voltage", -1, arming=True),
        Rule("OUTPut:OCP[:STATe]", "max_current", -1, arming=True),
        Rule("APPLy", "max_voltage", 0),
        Rule("APPLy", "max_current", 1),
    )
    allowed = (*COMMON_SETTINGS, "OUTPut[:STATe]", "[SOURce]:VOLTage:PROTection:CLEar",
               "[SOURce]:CURRent:PROTection:CLEar", "OUTPut:OVP:CLEar", "OUTPut:OCP:CLEar",
               "INSTrument[:SELect]", "INSTrument:NSELect", "DISPlay[:STATe]",
               "DISPlay:TEXT[:DATA]", "DISPlay:TEXT:CLEar", "SYSTem:BEEPer[:IMMediate]",
               "SYSTem:BEEPer[:STATe]", "SYSTem:LOCal", "SYSTem:REMote", "SYSTem:RWLock")
    channel_class = DP800Channel

    def off_message(self) -> str:
        return ";".join(f":OUTP CH{n},OFF" for n in self.channels)

    def _protect(self, out: SupplyChannel) -> dict[str, object]:
        if not isinstance(out, DP800Channel):  # unlike an assert: names the supply, survives -O
            raise TypeError(f"{self.resource_name}: channel {out.number} is a "
                            f"{type(out).__name__}, not a DP800Channel")
        out.ovp = self.limits["max_voltage"]
        out.ocp_level = self.limits["max_current"]
        out.ovp_on = out.ocp = True
        readback = {"ovp_v": out.ovp, "ovp": out.ovp_on, "ocp_a": out.ocp_level, "ocp": out.ocp}
        self.check_readback(":VOLT:PROT", self.limits["max_voltage"], readback["ovp_v"])
        self.check_readback(":CURR:PROT", self.limits["max_current"], readback["ocp_a"])
        self.check_readback(":VOLT:PROT:STAT", True, readback["ovp"])
        self.check_readback(":CURR:PROT:STAT", True, readback["ocp"])
        return readback
