"""An independent SCPI probe of `bench emulate`: raw pyvisa-py, none of citebench's drivers.

What a lab's own script would check before trusting an emulator: each `--psu-model` answers
`*IDN?` as that model; the Keysight models and the 34465A answer the IEEE 488.2 mandatory
common commands and status reporting (ESR bits by error class, STB with EAV/MAV/ESB/MSS, ESE
and SRE masks, *OPC, *OPC?, *WAI, *TST?), the SCPI-99 mandatory SYSTem and STATus commands,
suffix units and multipliers, MIN/MAX/DEF, and -410 for a query interrupted by the next
message; the SPD3303X answers only what its manual lists.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
import pyvisa

from tests.plan_runner import ROOT

IDN_MODEL = {"E36312A": "E36312A", "N6705C": "N6705C", "DP832": "DP832",
             "SPD3303X": "SPD3303X"}
ESR_QYE, ESR_EXE, ESR_CME = 4, 16, 32
STB_EAV, STB_MAV, STB_ESB, STB_MSS = 4, 16, 32, 64
# per instrument: a setting out of range (-222), suffix settings and what they read back
KEYSIGHT_PSU = {"out_of_range": "VOLT 1000,(@1)", "wrong_unit": "VOLT 3A,(@1)",
                "suffixes": [("VOLT 3300mV,(@1)", "VOLT? (@1)", 3.3),
                             ("CURR 20mA,(@1)", "CURR? (@1)", 0.02),
                             ("CURR 500uA,(@1)", "CURR? (@1)", 5e-4),
                             ("VOLT 3.7V,(@1)", "VOLT? (@1)", 3.7),
                             ("CURR MAX,(@1)", "CURR? (@1)", None),
                             ("CURR DEF,(@1)", "CURR? (@1)", 0.1)]}
METER = {"out_of_range": "SAMP:COUN 0", "wrong_unit": "VOLT:RANG 10A",
         "suffixes": [("VOLT:RANG 10V", "VOLT:RANG?", 10.0),
                      ("CURR:RANG 100mA", "CURR:RANG?", 0.1),
                      ("CURR:RANG 100uA", "CURR:RANG?", 1e-4),
                      ("SAMP:TIM 20us", "SAMP:TIM?", 20e-6),
                      ("SAMP:COUN MIN", "SAMP:COUN?", 1.0)]}


def emulate(model: str) -> tuple[subprocess.Popen, dict[str, str]]:
    process = subprocess.Popen([sys.executable, "-m", "bench", "emulate", "--psu-model", model],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    lines = [process.stdout.readline()]
    while "Ctrl-C" not in lines[-1] and lines[-1]:
        lines.append(process.stdout.readline())
    resources = {}
    for line in lines[1:-1]:
        role, _, resource = line.strip().partition(" ")
        resources[role] = resource.strip()
    return process, resources


@pytest.fixture(scope="module")
def stations() -> Iterator[dict[str, dict[str, str]]]:
    """`bench emulate --psu-model M` per model, started on first use, stopped at the end."""
    processes: list[subprocess.Popen] = []

    class Started(dict):
        def __missing__(self, model: str) -> dict[str, str]:
            process, self[model] = emulate(model)
            processes.append(process)
            return self[model]

    yield Started()
    for process in processes:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def manager() -> pyvisa.ResourceManager:
    return pyvisa.ResourceManager("@py")


def session(manager: pyvisa.ResourceManager, resource: str, timeout_ms: int = 2000):
    return manager.open_resource(resource, read_termination="\n", write_termination="\n",
                                 timeout=timeout_ms)


def drain(inst) -> list[int]:
    codes = []
    while (code := int(inst.query("SYST:ERR?").split(",")[0].split()[0])) != 0:
        codes.append(code)
    return codes


@pytest.mark.parametrize("model", sorted(IDN_MODEL))
def test_each_model_answers_idn_as_itself(stations, manager, model: str) -> None:
    resources = stations[model]
    with session(manager, resources["psu"]) as psu:
        assert psu.query("*IDN?").split(",")[1] == IDN_MODEL[model]
    with session(manager, resources["dmm"]) as dmm:
        assert dmm.query("*IDN?").split(",")[1] == "34465A"


def probe(inst, commands: dict) -> None:
    """The IEEE 488.2 / SCPI-99 probe; each assertion names what a real instrument does."""
    inst.write("*CLS")
    assert inst.query("*ESR?") == "+0" and drain(inst) == []
    # mandatory common commands
    assert inst.query("*TST?") in ("0", "+0")
    inst.write("*ESE 60;*SRE 32")
    assert (inst.query("*ESE?"), inst.query("*SRE?")) == ("+60", "+32")
    inst.write("*OPC")
    assert int(inst.query("*ESR?")) & 1, "*OPC sets the operation-complete bit"
    inst.write("*WAI")
    assert inst.query("*OPC?") == "1"
    # ESR bits by error class, EAV/ESB/MSS in the status byte
    inst.write("NO:SUCH:HEADER")
    stb = int(inst.query("*STB?"))
    assert stb & STB_EAV and stb & STB_ESB and stb & STB_MSS, stb
    assert int(inst.query("*ESR?")) & ESR_CME and drain(inst) == [-113]
    inst.write(commands["out_of_range"])
    assert int(inst.query("*ESR?")) & ESR_EXE and drain(inst) == [-222]
    assert int(inst.query("*STB?")) & (STB_EAV | STB_ESB) == 0
    # MAV: a reply waits in the output queue while the rest of the message runs
    assert int(inst.query("*IDN?;*STB?").rsplit(";", 1)[1]) & STB_MAV
    assert int(inst.query("*STB?")) & STB_MAV == 0
    # -410: the next message arrived before the reply was read
    inst.write_raw(b"*IDN?\nSYST:ERR?\n")
    assert inst.read().startswith("-410")
    assert int(inst.query("*ESR?")) & ESR_QYE
    # SCPI-99 mandatory
    assert inst.query("SYST:VERS?") == "1999.0"
    for register in ("OPER", "QUES"):
        int(inst.query(f"STAT:{register}?"))
        int(inst.query(f"STAT:{register}:COND?"))
        inst.write(f"STAT:{register}:ENAB 4")
        assert inst.query(f"STAT:{register}:ENAB?") == "+4"
    inst.write("STAT:PRES")
    assert inst.query("STAT:OPER:ENAB?") == "+0" and inst.query("STAT:QUES:ENAB?") == "+0"
    # suffix units, multipliers, MIN/MAX/DEF
    for setting, query, expected in commands["suffixes"]:
        inst.write(setting)
        value = float(inst.query(query))
        assert expected is None or value == pytest.approx(expected), setting
    inst.write(commands["wrong_unit"])
    assert drain(inst) == [-131]
    inst.write("*ESE 0;*SRE 0;*CLS")
    assert drain(inst) == []


@pytest.mark.parametrize("model", ["E36312A", "N6705C"])
def test_keysight_supplies_pass_the_probe(stations, manager, model: str) -> None:
    with session(manager, stations[model]["psu"]) as psu:
        probe(psu, KEYSIGHT_PSU)


def test_the_meter_passes_the_probe(stations, manager) -> None:
    with session(manager, stations["E36312A"]["dmm"]) as dmm:
        probe(dmm, METER)


def test_spd3303x_answers_only_what_its_manual_lists(stations, manager) -> None:
    with session(manager, stations["SPD3303X"]["psu"], timeout_ms=300) as psu:
        assert psu.query("SYST:VERS?") != "1999.0"  # its firmware version, not SCPI's
        psu.write("CH1:VOLT 3300mV")
        assert psu.query("CH1:VOLT?") == "3.300"
        with pytest.raises(pyvisa.errors.VisaIOError):
            psu.query("*ESR?")  # no status system: no answer, as on the instrument
        assert psu.query("SYST:ERR?").startswith("-113")
        psu.write_raw(b"CH1:VOLT?\nCH1:CURR?\n")  # no -410 either: both are answered
        assert psu.read() == "3.300" and float(psu.read()) >= 0


def test_rigol_takes_channels_in_the_header_and_as_parameters(stations, manager) -> None:
    with session(manager, stations["DP832"]["psu"]) as psu:
        psu.write(":SOUR2:VOLT 1500mV;:OUTP CH2,ON")
        assert float(psu.query(":SOUR2:VOLT?")) == 1.5 and psu.query(":OUTP? CH2") == "ON"
        psu.write(":APPL CH2,2.5,0.2")
        assert float(psu.query(":MEAS:VOLT? CH2")) == pytest.approx(2.5, abs=1e-3)
        psu.write(":OUTP CH2,OFF")
        assert drain(psu) == [] and psu.query("SYST:VERS?") == "1999.0"
