"""Digital multimeter driver: Keysight 34465A command set (34460A/61A/65A/70A, 34410A/11A).

    >>> dmm = Multimeter.open("TCPIP0::10.0.0.8::5025::SOCKET")      # doctest: +SKIP
    >>> dmm.measure_voltage()                                        # doctest: +SKIP
    3.70012
    >>> dmm.configure_voltage(10); dmm.sample_count = 5              # doctest: +SKIP
    >>> dmm.trigger_source = "BUS"; dmm.initiate(); dmm.trigger()    # doctest: +SKIP
    >>> dmm.fetch()                                                  # doctest: +SKIP
    [3.70011, 3.70013, 3.70012, 3.7001, 3.70012]

`CONF:...` sets function and range and returns the trigger system to its defaults (one trigger,
one sample, immediate source), as on the real meter; set counts and source after it.
"""

from __future__ import annotations

from drivers.scpi import Instrument, control


class Multimeter(Instrument):
    """DC volts and amps, range, sample count, trigger and fetch."""

    function = control("CONF?", kind=str)
    voltage_range = control("VOLT:RANG?", "VOLT:RANG {value:g}", "V", values=(0, 1000))
    current_range = control("CURR:RANG?", "CURR:RANG {value:g}", "A", values=(0, 3),
                            limit="max_current")
    sample_count = control("SAMP:COUN?", "SAMP:COUN {value:d}", values=(1, 50_000), kind=int)
    trigger_count = control("TRIG:COUN?", "TRIG:COUN {value:d}", values=(1, 50_000), kind=int)
    trigger_source = control("TRIG:SOUR?", "TRIG:SOUR {value}", values=("IMM", "BUS", "EXT"),
                             kind=str)

    def configure_voltage(self, range_v: float | None = None) -> None:
        self.write(f"CONF:VOLT:DC {_range(range_v)}")

    def configure_current(self, range_a: float | None = None) -> None:
        if range_a is not None:
            control.check(type(self).current_range, self, range_a, f"CONF:CURR:DC {range_a:g}")
        self.write(f"CONF:CURR:DC {_range(range_a)}")

    def initiate(self) -> None:
        self.write("INIT")

    def trigger(self) -> None:
        self.write("*TRG")

    def fetch(self) -> list[float]:
        return self.query_values("FETC?")

    def read(self) -> list[float]:
        return self.query_values("READ?")

    def measure_voltage(self) -> float:
        return float(self.query("MEAS:VOLT:DC?"))

    def measure_current(self) -> float:
        return float(self.query("MEAS:CURR:DC?"))


def _range(value: float | None) -> str:
    return "AUTO" if value is None else f"{value:g}"
