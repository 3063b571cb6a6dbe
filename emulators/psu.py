"""An emulated three-channel DC supply (Keysight E36300 commands, N6705-style current capture).

    >>> board = BoardModel(powered=False)
    >>> psu = PsuEmulator(board, board_channel=1, seed=1)
    >>> psu.execute("VOLT 3.7,(@1);:OUTP ON,(@1)"); psu.execute("OUTP? (@1:2)")
    b'1,0'
    >>> board.shutdown()

The output of `board_channel` is wired to the board: output on or a new setpoint calls
`board.supply(volts)`, output off calls `board.supply(0)`, and the measured current is
`board.current_a(t)` plus seeded measurement noise, so the supply reads whatever the board's
mode, radio and boot physics say. The other channels are unloaded.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass

from emulators.scpi import (
    Call,
    ScpiDevice,
    ScpiError,
    ascii_array,
    binary_block,
    fmt_number,
    scpi,
)
from emulators.ws100_board import BoardModel

CHANNELS = (1, 2, 3)
MAX_V = {1: 6.18, 2: 25.75, 3: 25.75}  # E36312A ratings (with the 3 % over-range)
MAX_A = {1: 5.15, 2: 1.03, 3: 1.03}
MAX_POINTS = 1_000_000
MIN_INTERVAL_S = 10.24e-6
NOISE_FLOOR_A = 0.2e-6  # low-range noise of an N6781A-class SMU
NOISE_GAIN = 1e-3
PACE_S = 0.002  # capture threads sample in batches at this pace; the window is real time


@dataclass
class Output:
    """One channel's settings; `tripped` latches when the setpoint passed the OVP level."""

    volts: float = 0.0
    amps_limit: float = 0.1
    ovp: float = 0.0
    on: bool = False
    tripped: bool = False
    points: int = 1024
    interval_s: float = 1e-3
    capture: threading.Thread | None = None
    captured: list[float] | None = None


class PsuEmulator(ScpiDevice):
    idn = "Keysight Technologies,E36312A,CB00000001,2.1.0-1.0.4-1.12"

    def __init__(self, board: BoardModel, board_channel: int = 1, seed: int = 0) -> None:
        self.board = board
        self.board_channel = board_channel
        self.rng = random.Random(seed)
        self.changed = threading.Condition()  # notified on every command, for tests to await
        self.commands: deque[str] = deque(maxlen=1000)
        super().__init__()

    def reset(self) -> None:
        self.outputs = {ch: Output(ovp=MAX_V[ch]) for ch in CHANNELS}
        self.binary = False
        self.byte_order = ">"
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

    def _wire(self) -> None:
        out = self.outputs[self.board_channel]
        self.board.supply(out.volts if out.on else 0.0)

    # --- physics ------------------------------------------------------------------------------
    def _amps(self, ch: int, at: float) -> float:
        load = self.board.current_a(at) if ch == self.board_channel and self.outputs[ch].on else 0.0
        load = min(load, self.outputs[ch].amps_limit)  # constant-current mode clamps the load
        return load + self.rng.gauss(0.0, NOISE_FLOOR_A + NOISE_GAIN * load)

    def _acquire(self, ch: int, points: int, interval: float) -> list[float]:
        """Sample the channel's current over a real-time window, `points` samples apart."""
        clock = self.board.clock
        start = clock()
        samples: list[float] = []
        while len(samples) < points:
            due = min(points, int((clock() - start) / interval) + 1)
            samples.extend(self._amps(ch, start + i * interval) for i in range(len(samples), due))
            if len(samples) < points:
                time.sleep(PACE_S)  # the window is the measurement: time itself is the event
        return samples

    # --- source -------------------------------------------------------------------------------
    def _setting(self, call: Call, attr: str, high: dict[int, float], default: float) -> str | None:
        """`VOLT 3.7[,(@list)]`, `VOLT? [MIN|MAX|DEF,][(@list)]`; no list means channel 1."""
        listed = bool(call.args) and call.args[-1].startswith("(")
        channels = call.channels(len(call.args) - 1, CHANNELS) if listed else [1]
        call.no_more_than(1 + listed)
        if call.query:
            if len(call.args) > listed:  # VOLT? MAX,(@1): the bounds
                word = call.choice(0, ("MINimum", "MAXimum", "DEFault"))
                bounds = {"MIN": lambda ch: 0.0, "MAX": high.get, "DEF": lambda ch: default}
                return ",".join(fmt_number(bounds[word](ch)) for ch in channels)
            return ",".join(fmt_number(getattr(self.outputs[ch], attr)) for ch in channels)
        for ch in channels:
            value = call.number(0, low=0.0, high=high[ch], default=default)
            setattr(self.outputs[ch], attr, value)
            if attr == "volts" and self.outputs[ch].on and value > self.outputs[ch].ovp:
                self._trip(ch)
        self._wire()
        return None

    def _trip(self, ch: int) -> None:
        self.outputs[ch].on = False
        self.outputs[ch].tripped = True
        self._wire()
        raise ScpiError(-221, f"over-voltage protection tripped on channel {ch}")

    @scpi("[SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]")
    def _voltage(self, call: Call) -> str | None:
        return self._setting(call, "volts", MAX_V, 0.0)

    @scpi("[SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]")
    def _current(self, call: Call) -> str | None:
        return self._setting(call, "amps_limit", MAX_A, 0.1)

    @scpi("[SOURce]:VOLTage:PROTection[:LEVel]")
    def _ovp(self, call: Call) -> str | None:
        return self._setting(call, "ovp", MAX_V, 6.18)

    @scpi("[SOURce]:VOLTage:PROTection:TRIPped", "query")
    def _tripped(self, call: Call) -> str:
        return ",".join(str(int(self.outputs[ch].tripped)) for ch in self._channels(call, 0))

    @scpi("OUTPut:PROTection:CLEar", "set")
    def _clear_trip(self, call: Call) -> None:
        for ch in self._channels(call, 0):
            self.outputs[ch].tripped = False

    @scpi("OUTPut[:STATe]")
    def _output(self, call: Call) -> str | None:
        if call.query:
            return ",".join(str(int(self.outputs[ch].on)) for ch in self._channels(call, 0))
        on = call.boolean(0)
        for ch in self._channels(call, 1):
            if on and self.outputs[ch].volts > self.outputs[ch].ovp:
                self._trip(ch)
            self.outputs[ch].on = on and not self.outputs[ch].tripped
        self._wire()
        return None

    def _channels(self, call: Call, index: int) -> list[int]:
        call.no_more_than(index + 1)
        return call.channels(index, CHANNELS) if len(call.args) > index else [1]

    def _channel(self, call: Call, index: int) -> int:
        channels = self._channels(call, index)
        if len(channels) != 1:
            raise ScpiError(-221, "an acquisition takes exactly one channel")
        return channels[0]

    # --- measure ------------------------------------------------------------------------------
    @scpi("MEASure[:SCALar]:VOLTage[:DC]", "query")
    def _meas_volts(self, call: Call) -> str:
        return ",".join(
            fmt_number((self.outputs[ch].volts if self.outputs[ch].on else 0.0)
                       + self.rng.gauss(0.0, 50e-6))
            for ch in self._channels(call, 0))

    @scpi("MEASure[:SCALar]:CURRent[:DC]", "query")
    def _meas_amps(self, call: Call) -> str:
        now = self.board.clock()
        return ",".join(fmt_number(self._amps(ch, now)) for ch in self._channels(call, 0))

    # --- array capture ------------------------------------------------------------------------
    @scpi("SENSe:SWEep:POINts")
    def _points(self, call: Call) -> str | None:
        return self._sweep(call, "points", 1, MAX_POINTS, 1024)

    @scpi("SENSe:SWEep:TINTerval")
    def _interval(self, call: Call) -> str | None:
        return self._sweep(call, "interval_s", MIN_INTERVAL_S, 40_000.0, 1e-3)

    def _sweep(self, call: Call, attr: str, low: float, high: float, default: float) -> str | None:
        if call.query:
            ch = self._channel(call, 0)
            value = getattr(self.outputs[ch], attr)
            return str(value) if attr == "points" else fmt_number(value)
        value = call.number(0, low=low, high=high, default=default)
        for ch in self._channels(call, 1):
            setattr(self.outputs[ch], attr, int(value) if attr == "points" else value)
        return None

    @scpi("INITiate[:IMMediate]:ACQuire", "set")
    def _init(self, call: Call) -> None:
        ch = self._channel(call, 0)
        out = self.outputs[ch]
        if out.capture is not None and out.captured is None:
            raise ScpiError(-213, f"channel {ch} is already acquiring")
        out.captured = None

        def run() -> None:
            out.captured = self._acquire(ch, out.points, out.interval_s)

        out.capture = threading.Thread(target=run, name=f"psu capture ch{ch}", daemon=True)
        out.capture.start()

    @scpi("FETCh:ARRay:CURRent[:DC]", "query")
    def _fetch(self, call: Call) -> bytes:
        ch = self._channel(call, 0)
        out = self.outputs[ch]
        if out.capture is None:
            raise ScpiError(-230, f"no acquisition on channel {ch}")
        out.capture.join()
        return self._array(out.captured or [])

    @scpi("MEASure:ARRay:CURRent[:DC]", "query")
    def _measure_array(self, call: Call) -> bytes:
        ch = self._channel(call, 0)
        out = self.outputs[ch]
        return self._array(self._acquire(ch, out.points, out.interval_s))

    def _array(self, values: list[float]) -> bytes:
        return binary_block(values, self.byte_order + "f") if self.binary else ascii_array(values)

    @scpi("FORMat[:DATA]")
    def _format(self, call: Call) -> str | None:
        if call.query:
            return "REAL,32" if self.binary else "ASC,8"
        call.no_more_than(2)
        binary = call.choice(0, ("ASCii", "REAL")) == "REAL"
        if binary and len(call.args) == 2 and call.number(1, low=0, high=64, default=32) != 32:
            raise ScpiError(-224, "REAL supports 32-bit only")
        self.binary = binary
        return None

    @scpi("FORMat:BORDer")
    def _border(self, call: Call) -> str | None:
        if call.query:
            return "NORM" if self.byte_order == ">" else "SWAP"
        self.byte_order = ">" if call.choice(0, ("NORMal", "SWAPped")) == "NORM" else "<"
        return None
