"""Several boards on one station: one `bench run` process per slot, and the batch around them.

    bench run --station fixtures/ws100-slots.toml --slots all      # every [[slot]]
    bench run --station fixtures/ws100-slots.toml --slots 1,3

Each slot is an ordinary run in its own process (its own record, report, archive entry and exit
code) on a profile written for it: the station's, with the slot's serial port, supply channel
and radio name, emulated resources replaced by the ones the batch serves, `[dmm]` only where the
meter's probes are (`[[slot]] meter`, else the first slot), and `[station] slot` set, which
tells the `psu` and `dmm` fixtures that the slot owns its channel only and that the
instrument-wide settings are the batch's. The batch does those once (every output off, `*CLS`,
an N6700's I/O watchdog, the meter's `*RST`) before the slots start, and every output off again
however it ends; it writes a page of the slots' verdicts and exits with the worst of their
codes. What the slots share is locked per transaction (drivers/scpi.py) and owned per channel
(drivers/psu.py); the station's one radio is the batch's radio broker's (bench/radio_broker.py),
each slot a session of it that addresses its own board only (`[radio] backend = "broker"`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import html
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.exitcodes import ExitCode
from bench.station import EMULATOR, SlotConfig, StationError, StationProfile
from bench.watchdog import HELD_FD
from bench.watchdog import RETRY_FOR_S as WATCHDOG_RETRY_FOR_S
from bench.watchdog import log_path as watchdog_log
from bench.zygote import SlotProcess, Zygote, ZygoteError
from emulators.qemu import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
BROKER_PREFIX, BROKER_READY = "broker:", "radio broker listening on"  # bench/radio_broker.py's
BROKER_START_S = 30.0  # bleak and Bumble imported, the central powered on
# the batch's code is its worst slot's, in this order of gravity
_GRAVITY = (ExitCode.PASS, ExitCode.FAIL, ExitCode.USAGE, ExitCode.ERROR, ExitCode.ABORTED)


@dataclass(frozen=True)
class SlotResult:
    """One slot's run as the batch saw it."""

    number: int
    code: int
    verdict: str
    report: str  # the archived report's path ("" when the run archived none)
    log: Path  # the slot process's output
    watchdog: str = ""  # what the slot's watchdog did, when the slot died without switching off


def chosen_slots(profile: StationProfile, text: str) -> list[SlotConfig]:
    """`all` or comma-separated slot numbers (`--slots 1,3`); StationError naming what is wrong."""
    if not profile.slots:
        raise StationError(f"{profile.path}: --slots needs [[slot]] sections; it has none")
    if text.strip() == "all":
        return list(profile.slots)
    try:
        numbers = [int(part) for part in text.split(",")]
    except ValueError:
        raise StationError(f"--slots {text!r}: expected all or numbers such as 1,3") from None
    return [profile.slot(number) for number in dict.fromkeys(numbers)]


def slot_profile(profile: StationProfile, slot: SlotConfig,
                 resources: dict[str, str], radio_address: str = "") -> str:
    """The TOML profile of one slot's run (see the module's docstring); `resources`: the
    concrete resource of each role the batch emulates or brokers (a `broker:` radio makes the
    slot's `[radio] backend` "broker"); `radio_address`: the slot's emulated board's."""
    sections: dict[str, dict] = {
        role: dataclasses.asdict(getattr(profile, role)) for role in profile.roles}
    sections = {"station": dataclasses.asdict(profile.station) | {
        "id": f"{profile.station.id}-slot{slot.number}", "slot": slot.number}} | sections
    if profile.emulator is not None and not resources:
        sections["emulator"] = dataclasses.asdict(profile.emulator)
    sections["dut"]["port"] = resources.get("dut", slot.port)
    if "psu" in sections:
        sections["psu"]["channel"] = slot.channel
    if slot.number != profile.meter_slot:  # its plans that read the meter skip, saying why
        sections.pop("dmm", None)
    if "radio" in sections:
        sections["radio"]["name"] = slot.radio_name or profile.radio.name
        sections["radio"]["address"] = (slot.radio_address or radio_address
                                        or profile.radio.address)
    for role, resource in resources.items():
        if role in sections:
            sections[role]["port" if role == "dut" else "resource"] = resource
    if resources.get("radio", "").startswith(BROKER_PREFIX):
        sections["radio"]["backend"] = "broker"
    unserved = [role for role, values in sections.items()
                if EMULATOR in (values.get("port"), values.get("resource"))]
    if unserved and "emulator" not in sections:
        raise StationError(f"{profile.path}: slot {slot.number}: role(s) {', '.join(unserved)} "
                           "are \"emulator\" but nothing serves them")
    lines = [f"# slot {slot.number} of {profile.path} (written by bench/slots.py)"]
    for name, values in sections.items():
        lines.append(f"\n[{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items() if value is not None]
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    """A TOML value of the types station profiles hold (TOML's basic strings escape as JSON's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def emulated_slots(profile: StationProfile, count: int) -> list[SlotConfig]:
    """`bench emulate --slots N`: the profile's first N slots, or N made up on channels 1..N
    of its emulated supply when it declares none."""
    from emulators.supplies import SUPPLIES

    if profile.slots:
        if count > len(profile.slots):
            raise StationError(f"{profile.path}: --slots {count}, but it declares "
                               f"{len(profile.slots)} [[slot]]")
        return list(profile.slots[:count])
    model = profile.emulator.psu_model if profile.emulator else ""
    channels = len(SUPPLIES[model].ratings) if model in SUPPLIES else 0
    if count < 1 or (profile.psu is not None and count > channels):
        raise StationError(f"--slots {count}: the emulated {model or 'supply'} has {channels} "
                           "channels, one per board (N6705C: 4, E36312A: 3; --psu-model)")
    return [SlotConfig(number, EMULATOR, number) for number in range(1, count + 1)]


def run_batch(profile: StationProfile, slots: Sequence[SlotConfig], reports: Path,
              run_args: Sequence[str]) -> int:
    """Run every slot at once, each `bench run` with `run_args` (plans, --no-index...) on its
    own profile; write the batch page; the worst slot's exit code."""
    started = dt.datetime.now(dt.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    folder = reports / "batches" / stamp
    folder.mkdir(parents=True, exist_ok=True)
    with Zygote.start(folder / "zygote.log") as zygote, \
            _served(profile, slots) as (resources, addresses), \
            tempfile.TemporaryDirectory() as tmp:
        shared = {role: resources[slots[0].number][role] for role in ("psu", "dmm")
                  if role in resources.get(slots[0].number, {})}
        with _shared_instruments(profile, shared), _stopped_by_signal() as stopped, \
                _radio_broker(profile, resources, Path(tmp), folder) as radio:
            processes: dict[int, tuple[SlotProcess, Path]] = {}
            lost: list[str] = []
            held: list[int] = []  # read ends: end-of-file once a slot and its watchdog are gone
            try:
                for slot in slots:
                    station = Path(tmp) / f"slot{slot.number}.toml"
                    station.write_text(slot_profile(
                        profile, slot, resources.get(slot.number, {}) | radio,
                        addresses.get(slot.number, "")), encoding="utf-8")
                    log = folder / f"slot{slot.number}.log"
                    read_end, write_end = os.pipe()
                    held.append(read_end)
                    try:
                        processes[slot.number] = (zygote.spawn(  # own session, as the zygote's
                            "bench", ["run", f"--station={station}", f"--reports={reports}",
                                      *run_args],
                            log=log, env=os.environ, held={HELD_FD: write_end},
                            name=f"bench-slot{slot.number}"), log)
                    finally:
                        os.close(write_end)
                for process, _ in processes.values():
                    process.wait()
            except ZygoteError as error:  # the slots it forked go on alone, ends unknown here
                lost.append(str(error))
            except KeyboardInterrupt:  # each slot ends its own run: ABORTED, its outputs off
                stopped.append("batch stopped")
                forked = list(zygote.slots.values())  # one whose start was interrupted too
                for process in forked:
                    process.send_signal(signal.SIGTERM)
                for process in forked:
                    process.wait()
            finally:
                _wait_for_watchdogs(held)
            results = [_result(number, process, log, started)
                       for number, (process, log) in processes.items()]
    page = write_batch_page(folder, profile, results)
    for result in results:
        print(f"slot {result.number}: {result.verdict} (exit {result.code}) "
              f"{result.report or result.log}"
              + (f"\n  its watchdog: {result.watchdog}" if result.watchdog else ""))
    for error in lost:
        print(f"batch ERROR: {error}")
    codes = [_exit_code(r.code) for r in results] + [ExitCode.ABORTED] * bool(stopped) \
        + [ExitCode.ERROR] * bool(lost)
    code = max(codes, key=_GRAVITY.index)
    print(f"\nbatch: {code.name}\nbatch page: {page}")
    return int(code)


def _exit_code(code: int) -> ExitCode:
    """A slot process's exit code; killed (negative) or unknown: the bench's ERROR."""
    return ExitCode(code) if code in {c.value for c in ExitCode} else ExitCode.ERROR


@contextlib.contextmanager
def _stopped_by_signal() -> Iterator[list[str]]:
    """SIGTERM and SIGHUP stop the batch as Ctrl-C does (KeyboardInterrupt), so it can stop its
    slots and still write its page; the list says whether it was stopped."""
    stopped: list[str] = []
    previous = {signum: signal.signal(signum, _interrupt)
                for signum in (signal.SIGTERM, signal.SIGHUP)} \
        if threading.current_thread() is threading.main_thread() else {}
    try:
        yield stopped
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def _served(profile: StationProfile, slots: Sequence[SlotConfig]
            ) -> Iterator[tuple[dict[int, dict[str, str]], dict[int, str]]]:
    """The emulated boards and instruments of the slots, for the batch's life: each slot's
    resources and its board's radio address ({} if none)."""
    if not profile.emulated_roles() and not any(s.port == EMULATOR for s in slots):
        yield {}, {}
        return
    from bench.emulation import emulate_slots

    with emulate_slots(profile, slots) as emulated:
        yield emulated.resources, {number: station.radio.address for number, station
                                   in emulated.stations.items() if hasattr(station, "radio")}


@contextlib.contextmanager
def _radio_broker(profile: StationProfile, resources: dict[int, dict[str, str]], tmp: Path,
                  folder: Path) -> Iterator[dict[str, str]]:
    """The station's one radio for every slot (bench/radio_broker.py) for the batch's life:
    `{"radio": "broker:<socket>"}`, its log in the batch's folder; {} for a station without
    `[radio]` or on the OS's own stack (which shares its adapter among processes itself)."""
    if profile.radio is None or profile.radio.backend != "bumble":
        yield {}
        return
    transport = next((r["radio"] for r in resources.values() if "radio" in r),
                     profile.radio.resource)
    path, log = tmp / "radio.sock", folder / "radio-broker.log"
    with log.open("w") as out:  # it holds the radio: it must not outlive the batch, kill -9 too
        broker = subprocess.Popen(
            [sys.executable, "-m", "bench.radio_broker", transport, str(path)],
            stdout=subprocess.PIPE, stderr=out, cwd=ROOT, start_new_session=True,
            preexec_fn=die_with_parent)
    try:
        ready = select.select([broker.stdout], [], [], BROKER_START_S)[0]
        line = broker.stdout.readline().decode() if ready else ""  # type: ignore[union-attr]
        if not line.startswith(BROKER_READY):
            tail = log.read_text(encoding="utf-8", errors="replace").strip()[-600:]
            raise StationError(f"radio broker on {transport} did not start within "
                               f"{BROKER_START_S} s (its log {log}): {tail or 'nothing'}")
        yield {"radio": BROKER_PREFIX + str(path)}
    finally:
        broker.terminate()  # every slot has ended: its links are gone or go now
        try:
            broker.wait(10)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()
        broker.stdout.close()  # type: ignore[union-attr]


@contextlib.contextmanager
def _shared_instruments(profile: StationProfile, resources: dict[str, str]) -> Iterator[None]:
    """The instrument-wide settings, once, before any slot starts; every output off at the end,
    however the batch ends (an exception, Ctrl-C: the slots' own runs end on theirs)."""
    from drivers.dmm import Multimeter
    from drivers.psu import open_supply

    psu = resources.get("psu") or (profile.psu.resource if profile.psu else "")
    dmm = resources.get("dmm") or (profile.dmm.resource if profile.dmm else "")
    if dmm:
        with Multimeter.open(dmm, timeout_ms=profile.dmm.timeout_ms) as meter:
            meter.clear()
            meter.reset()
    if not psu:
        yield
        return
    supply = open_supply(psu, model=profile.psu.model, timeout_ms=profile.psu.timeout_ms)
    try:
        supply.all_off()
        supply.clear()
        if "psu" not in resources and profile.psu.io_watchdog_s and hasattr(supply,
                                                                            "io_watchdog"):
            # the N6700's own I/O watchdog holds every output off once no session, the batch's
            # or a slot's, has spoken for this long (the batch and every slot killed at once)
            supply.io_timeout_s = supply.io_watchdog_s = profile.psu.io_watchdog_s
            supply.io_watchdog = True
        yield
    finally:
        try:
            supply.all_off()
            supply.release()
        finally:
            supply.close()


def _wait_for_watchdogs(held: list[int]) -> None:
    """Until every slot process and its watchdog have closed their ends of the batch's pipes
    (bench/watchdog.py), so the batch's last all-off never comes before a watchdog's; bounded by
    the time a watchdog keeps trying an unanswering supply."""
    deadline = time.monotonic() + WATCHDOG_RETRY_FOR_S + 5
    try:
        while held and (left := deadline - time.monotonic()) > 0:
            for fd in select.select(held, [], [], left)[0]:
                if not os.read(fd, 64):
                    held.remove(fd)
                    os.close(fd)
    finally:
        for fd in held:
            os.close(fd)


def _result(number: int, process: SlotProcess, log: Path, started: dt.datetime
            ) -> SlotResult:
    code = process.returncode
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    verdict = next((line.split(":", 1)[1].strip() for line in reversed(lines)
                    if line.startswith("verdict:")), f"none (exit {code})")
    report = next((line.split(":", 1)[1].strip() for line in reversed(lines)
                   if line.startswith("report:")), "")
    watchdog = watchdog_log(process.pid)  # only this batch's: not a recycled pid's old log
    acted = watchdog.read_text(encoding="utf-8", errors="replace").strip().splitlines() \
        if watchdog.exists() and watchdog.stat().st_mtime >= started.timestamp() else []
    return SlotResult(number, code, verdict, report, log, acted[-1] if acted else "")


def write_batch_page(folder: Path, profile: StationProfile,
                     results: Sequence[SlotResult]) -> Path:
    """A static page of the batch (no script: it reads in a mail client) and its JSON twin."""
    rows = "".join(
        f"<tr><td>{r.number}</td><td>{html.escape(r.verdict)}</td><td>{r.code}</td>"
        f"<td>{_link(folder, r.report) if r.report else ''}</td>"
        f"<td>{_link(folder, str(r.log))}</td><td>{html.escape(r.watchdog)}</td></tr>"
        for r in results)
    page = folder / "batch.html"
    page.write_text(
        f"<!doctype html><meta charset=utf-8><title>batch {folder.name}</title>"
        f"<h1>Batch {folder.name}: {html.escape(profile.station.id)}</h1>"
        f"<p>station profile {html.escape(str(profile.path))}</p>"
        "<table><tr><th>slot</th><th>verdict</th><th>exit code</th><th>report</th>"
        f"<th>log</th><th>watchdog (a slot that died)</th></tr>{rows}</table>\n", encoding="utf-8")
    (folder / "batch.json").write_text(json.dumps(
        {"station": profile.station.id, "profile": str(profile.path),
         "slots": [dataclasses.asdict(r) | {"log": str(r.log)} for r in results]}, indent=1),
        encoding="utf-8")
    return page


def _link(folder: Path, target: str) -> str:
    relative = os.path.relpath(target, folder)
    return f'<a href="{html.escape(relative)}">{html.escape(relative)}</a>'
