"""The instrument lock: two slot processes sharing one emulated supply read only their own errors.

A supply has one error queue for all its sessions. Two processes each send a setting and drain
the queue after it (as two messages, the way VXI-11, USBTMC and GPIB sessions send them); without
a lock around that transaction, one drains the other's error and
raises it as its own (measured before slots existed: 41 foreign errors in one batch). Real
processes, real pyvisa-py sessions over loopback TCP to one emulated E36312A.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.dmm import DmmEmulator
from emulators.psu import E36312A
from emulators.scpi_server import ScpiServer
from emulators.ws100_board import BoardModel

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 60
# One slot's setting is refused by the instrument (-222: 99 V is beyond channel 2's 25 V range),
# the other's is valid: the first must see its error every time, the second never.
REFUSED, VALID = "VOLT 99,(@2)", "VOLT 1,(@3)"

HAMMER = """
import json, sys
from drivers.scpi import CommandError, Instrument
resource, command, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
errors = []
with Instrument.open(resource, timeout_ms=5000) as instrument:
    instrument._one_write = False  # two messages, as over VXI-11, USBTMC or GPIB
    print("ready", flush=True)
    sys.stdin.readline()  # both processes start hammering together
    for _ in range(rounds):
        try:
            instrument.write(command)
            errors.append([])
        except CommandError as error:
            errors.append([code for code, _ in error.errors])
print(json.dumps(errors), flush=True)
"""


CAPTURE = """
import json, sys
from drivers.dmm import Digitiser, Multimeter
resource, points, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with Multimeter.open(resource, timeout_ms=5000) as meter:
    digitiser = Digitiser(meter, 0.5)
    print("ready", flush=True)
    sys.stdin.readline()
    lengths = [len(digitiser.capture(points, 1e-4).amps) for _ in range(rounds)]
print(json.dumps(lengths), flush=True)
"""


@pytest.fixture
def supply() -> Iterator[ScpiServer]:
    board = BoardModel(powered=False, seed=3)
    try:
        with ScpiServer(E36312A(board, board_channel=1, seed=3)) as server:
            yield server
    finally:
        board.shutdown()


def _hammer(resource: str, command: str, script: str = HAMMER, rounds: int = ROUNDS
            ) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", script, resource, command, str(rounds)],
                               cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline().strip() == "ready"
    return process


def test_two_slot_processes_never_raise_each_others_errors(supply):
    refused, valid = _hammer(supply.resource, REFUSED), _hammer(supply.resource, VALID)
    for process in (refused, valid):
        process.stdin.write("go\n")
        process.stdin.flush()
    results = {}
    for name, process in (("refused", refused), ("valid", valid)):
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0, f"{name} slot process failed"
        results[name] = json.loads(out.strip().splitlines()[-1])
    foreign = [codes for codes in results["valid"] if codes]
    lost = [codes for codes in results["refused"] if codes != [-222]]
    assert not foreign, (f"{len(foreign)} of {ROUNDS} valid settings raised another slot's "
                         f"error, e.g. {foreign[:3]}")
    assert not lost, (f"{len(lost)} of {ROUNDS} refused settings did not raise their own -222 "
                      f"alone, e.g. {lost[:3]}")
    assert supply.device.errors == type(supply.device.errors)()  # nothing left in the queue


def test_a_capture_holds_the_meter_from_its_configuration_to_its_fetch():
    """Two slots digitise on one meter with different sample counts: each fetch returns its
    own count, never the other slot's configuration's."""
    board = BoardModel(seed=3)
    try:
        with ScpiServer(DmmEmulator(board, "vbat", seed=3)) as meter:
            slots = {points: _hammer(meter.resource, str(points), CAPTURE, rounds=12)
                     for points in (200, 300)}
            for process in slots.values():
                process.stdin.write("go\n")
                process.stdin.flush()
            for points, process in slots.items():
                out, _ = process.communicate(timeout=120)
                assert process.returncode == 0, f"the {points}-point slot failed"
                lengths = json.loads(out.strip().splitlines()[-1])
                assert lengths == [points] * 12, f"{points}-point captures fetched {lengths}"
    finally:
        board.shutdown()


@pytest.mark.parametrize("one_write", [True, False], ids=["raw socket", "two messages"])
def test_a_setting_says_when_it_left_after_another_slots_transaction(supply, one_write):
    """A timed step starts its clock as its setting leaves (`setting_sent_at`), not as it asks
    for it: on a crowded station the wait for the shared supply's lock is another slot's time
    (one slot in twelve 8-board batches failed `boot after brownout` on it)."""
    from drivers.psu import open_supply
    from drivers.scpi import instrument_lock

    held = threading.Event()
    released: list[float] = []

    def other_slot() -> None:
        with instrument_lock(supply.resource):
            held.set()
            # another slot's transaction, 0.2 s long: nothing to wait for but its length (this
            # thread's setting is asked for meanwhile, and waits for the lock)
            time.sleep(0.2)
            released.append(time.monotonic())

    with open_supply(supply.resource, model="E36312A") as psu:
        psu._one_write = one_write
        channel = psu.channel(1)
        holder = threading.Thread(target=other_slot)
        holder.start()
        held.wait(10)
        asked = time.monotonic()
        channel.voltage = 3.3
        holder.join()
        before_error_query = channel.setting_sent_at
    assert asked < released[0] <= before_error_query
    commands = list(supply.device.commands)
    assert commands[-2:] == ["VOLT 3.3,(@1)", "SYST:ERR?"], commands[-3:]
