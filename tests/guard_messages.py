"""Raw supply messages in every header and separator form the instruments take, for fuzzing the
limit guard (tests/test_limit_guard.py; raise its EXAMPLES for a longer run).

Each model gets the settings its command set has (and a few its real relatives have that the
emulator does not, such as `APPLy` on the E36312A): short, long and mixed-case headers with
their optional nodes in or out, numeric header suffixes, relative headers that only mean
something after `;` kept the path, values as plain numbers, exponents, suffix units with
multipliers, MIN/MAX/DEF/UP, booleans as words and numbers, channel lists and `CHn` words,
and settings its real instruments take that are on no allow-list (a timer, a preset, an
arbitrary waveform); units joined by `;`, `;:`, line feeds or CR LF, with IEEE 488.2 white space
(and control characters that are not, and a CR that no LF follows) between header and
parameters. Values reach 1.5 times the limits.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from protocols.scpi import header_forms

LIMITS = {"max_voltage": 4.4, "max_current": 0.5}
# drawn uniformly, so the forms that only get a message refused (the last of each) are few
BLANKS = [" ", " ", "\t", "\t", "\r", "  ", " \t", "\t \r", " ", "\t", "\x0b", "\x0c"]
SEPARATORS = [";", ";:", "\n", "\r\n", "; ", " ;\t", ";", ";:", "\n", "\r\n", ";\n", ";;"]
WORDS = ["MIN", "MAX", "DEF", "minimum", "Maximum", "default", "UP", "DOWN", "#H5", "INF"]
BOOLEANS = ["ON", "OFF", "on", "oFf", "1", "0", "0.3", "0.6", "+1.0E0", "2"]
Unit = Callable[[st.DrawFn], str]


@st.composite
def spelled(draw: st.DrawFn, pattern: str, suffixes: str = "") -> str:
    """`pattern` as any spelling the instrument takes; `suffixes`: digits the first node may
    carry (`SOUR2`, `CH1`)."""
    nodes = list(draw(st.sampled_from(header_forms(pattern))))
    if suffixes:
        nodes[0] += draw(st.sampled_from(["", *suffixes]))
    text = ":".join(nodes)
    mask = draw(st.integers(0, 2 ** len(text) - 1))
    text = "".join(c.lower() if mask >> i & 1 else c for i, c in enumerate(text))
    return draw(st.sampled_from(["", ":"])) + text


@st.composite
def level(draw: st.DrawFn, limit: str) -> str:
    """A value up to 1.5 times `limit`, written any way a number with a suffix unit can be,
    or now and then a word (MAX, UP) that the guard cannot hold under a limit."""
    unit = "V" if limit == "max_voltage" else "A"
    if draw(st.integers(0, 7)) == 0:
        return draw(st.sampled_from(WORDS))
    value = draw(st.floats(0, 1.5 * LIMITS[limit]).map(lambda v: round(v, 4)))
    forms = [f"{value:g}", f"{value:.3E}", f"+{value:g}", f"{value:g}{unit}",
             f"{value:g} {unit.lower()}", f"{value * 1e3:g}m{unit}", f"{value * 1e3:g}M{unit}",
             f"{value / 1e3:g}k{unit}", f"{value * 1e6:g}u{unit}", f"{value * 1e3:g}E-3"]
    return draw(st.sampled_from(forms))


def _join(draw: st.DrawFn, header: str, *args: str) -> str:
    return header + draw(st.sampled_from(BLANKS)) + ",".join(a for a in args if a)


def _maybe(draw: st.DrawFn, options: list[str]) -> str:
    return draw(st.sampled_from(["", *options]))


def unlisted(settings: dict[str, list[str]]) -> Unit:
    """One of `settings` (header pattern: parameters), which the family's allow-list lacks."""
    def unit(draw: st.DrawFn) -> str:
        pattern = draw(st.sampled_from(sorted(settings)))
        return _join(draw, draw(spelled(pattern)), draw(st.sampled_from(settings[pattern])))
    return unit


def keysight(channels: int) -> list[Unit]:
    lists = ["(@1)", "(@2)", f"(@1:{channels})", "(@1,3)", "( @ 2 )"]
    volts = "[SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]"
    amps = "[SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]"

    def setting(pattern: str, limit: str) -> Unit:
        return lambda draw: _join(draw, draw(spelled(pattern, "12")),
                                  draw(level(limit)), _maybe(draw, lists))

    def switch(pattern: str) -> Unit:
        return lambda draw: _join(draw, draw(spelled(pattern)),
                                  draw(st.sampled_from(BOOLEANS)), _maybe(draw, lists))

    return [
        setting(volts, "max_voltage"), setting(amps, "max_current"),
        setting("[SOURce]:VOLTage:PROTection[:LEVel]", "max_voltage"),
        setting("LEVel[:IMMediate]", "max_voltage"), setting("PROTection", "max_voltage"),
        switch("[SOURce]:CURRent:PROTection:STATe"), switch("OUTPut[:STATe]"),
        lambda draw: _join(draw, draw(spelled("APPLy")), _maybe(draw, ["CH1", "ch2"]),
                           draw(level("max_voltage")), draw(level("max_current")),
                           _maybe(draw, lists)),
        unlisted({"[SOURce]:VOLTage:MODE": ["LIST,(@1)", "ARB,(@2)", "FIX"],
                  "INITiate[:IMMediate]:TRANsient": ["(@1)", ""]}),
    ]


def rigol() -> list[Unit]:
    def setting(pattern: str, limit: str) -> Unit:
        return lambda draw: _join(draw, draw(spelled(pattern, "123")), draw(level(limit)))

    def switch(pattern: str) -> Unit:
        return lambda draw: _join(draw, draw(spelled(pattern, "123")),
                                  draw(st.sampled_from(BOOLEANS)))

    names = ["CH1", "CH2", "CH3", "ch1"]
    return [
        setting("[SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", "max_voltage"),
        setting("[SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]", "max_current"),
        setting("[SOURce]:VOLTage:PROTection[:LEVel]", "max_voltage"),
        setting("[SOURce]:CURRent:PROTection[:LEVel]", "max_current"),
        switch("[SOURce]:VOLTage:PROTection:STATe"), switch("[SOURce]:CURRent:PROTection:STATe"),
        lambda draw: _join(draw, draw(spelled("OUTPut[:STATe]")), _maybe(draw, names),
                           draw(st.sampled_from(BOOLEANS))),
        lambda draw: _join(draw, draw(spelled("APPLy")), _maybe(draw, names),
                           draw(level("max_voltage")), _maybe(draw, [draw(level("max_current"))])),
        lambda draw: _join(draw, draw(spelled("INSTrument:NSELect")),
                           draw(st.sampled_from(["1", "2", "3", "2.0"]))),
        lambda draw: _join(draw, draw(spelled("OUTPut:OVP:VALue")), _maybe(draw, names),
                           draw(level("max_voltage"))),
        lambda draw: _join(draw, draw(spelled("OUTPut:OVP[:STATe]")), _maybe(draw, names),
                           draw(st.sampled_from(BOOLEANS))),
        unlisted({"TIMEr[:STATe]": ["ON", "OFF"], "PRESet[:APPLy]": [""]}),
    ]


def siglent() -> list[Unit]:
    def setting(pattern: str, limit: str) -> Unit:
        return lambda draw: _join(draw, draw(spelled(pattern, "123")), draw(level(limit)))

    names = ["CH1", "CH2", "ch1"]
    return [
        setting("[CH]:VOLTage", "max_voltage"), setting("[CH]:CURRent", "max_current"),
        lambda draw: _join(draw, draw(spelled("INSTrument[:SELEct]")),
                           draw(st.sampled_from(names))),
        lambda draw: _join(draw, draw(spelled("OUTPut")), draw(st.sampled_from(names)),
                           draw(st.sampled_from(BOOLEANS))),
        lambda draw: _join(draw, "*SAV", draw(st.sampled_from(["1", "2"]))),
        unlisted({"TIMEr": ["CH1,ON", "CH2,OFF"]}),
    ]


COMMON = [lambda draw: _join(draw, draw(st.sampled_from(["*RST", "*rst", "*RCL", "*rcl 1",
                                                          "*CLS", "*SAV 1"])))]
UNITS: dict[str, list[Unit]] = {"E36312A": keysight(3), "N6705C": keysight(4), "DP832": rigol(),
                                "SPD3303X": siglent()}


@st.composite
def messages(draw: st.DrawFn, model: str) -> str:
    """One write of one to four units of `model`'s settings, joined any way a write can be."""
    kinds = UNITS[model] + COMMON
    count = draw(st.integers(1, 4))
    units = [draw(st.sampled_from(kinds))(draw) for _ in range(count)]
    message = units[0]
    for unit in units[1:]:
        message += draw(st.sampled_from(SEPARATORS)) + unit
    return message
