"""The `bench` command: run the test plans, serve the emulators, list what the machine can see.

    bench run                          # every plan against the emulated station, report written
    bench run --station fixtures/desk-example.toml
    bench emulate --defect stuck-sensor
    bench list
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import signal
import sys
import threading
from pathlib import Path

from bench.station import (
    StationError,
    StationProfile,
    load_station,
    resolve_profile_path,
    with_defects,
)
from emulators.defects import DEFECTS

ROOT = Path(__file__).resolve().parent.parent
PLANS = ROOT / "testplans"


def _profile(args: argparse.Namespace) -> StationProfile:
    return with_defects(load_station(resolve_profile_path(args.station)), args.defect, "--defect")


def cmd_run(args: argparse.Namespace) -> int:
    import pytest

    from bench.record import load_record

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.reports) / "runs" / stamp
    station = resolve_profile_path(args.station)
    pytest_args = [str(PLANS), "--station", str(station), "--record", str(out / "record.jsonl"),
                   f"--html={out / 'report.html'}", "--self-contained-html",
                   f"--junitxml={out / 'junit.xml'}", "-p", "no:cacheprovider",
                   "--rootdir", str(ROOT), "-q", *args.pytest_args]
    for defect in args.defect:
        pytest_args += ["--defect", defect]
    code = pytest.main(pytest_args)
    record = out / "record.jsonl"
    verdict = load_record(record).verdict.name if record.exists() else "ERROR"
    print(f"\nverdict: {verdict}\nreport: {out / 'report.html'}\nrecord: {record}")
    return 0 if verdict == "PASS" else max(int(code), 1)


def cmd_emulate(args: argparse.Namespace) -> int:
    from emulators.host import EmulatedStation

    profile = _profile(args)
    if args.serial:
        profile = dataclasses.replace(
            profile, emulator=dataclasses.replace(profile.emulator, serial=args.serial))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmulatedStation(profile) as emulated:
        defects = ", ".join(profile.emulator.defects) or "none"
        print(f"emulated station {profile.station.id} (defects: {defects})")
        for role, resource in emulated.resources.items():
            print(f"  {role:6} {resource}")
        print("Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from serial.tools import list_ports

    ports = list_ports.comports()
    print("serial ports:")
    for port in ports:
        print(f"  {port.device:20} {port.description}")
    if not ports:
        print("  (none)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the test plans and write the report")
    run.add_argument("--station", help="station profile (default: the emulated station)")
    run.add_argument("--defect", action="append", default=[], choices=sorted(DEFECTS),
                     help="switch an emulated defect on (repeatable)")
    run.add_argument("--reports", default=str(ROOT / "reports"), help="where reports go")
    run.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    run.set_defaults(func=cmd_run)
    emulate = sub.add_parser("emulate", help="serve the emulated station until Ctrl-C")
    emulate.add_argument("--station", help="station profile (default: the emulated station)")
    emulate.add_argument("--defect", action="append", default=[], choices=sorted(DEFECTS))
    emulate.add_argument("--serial", choices=["pty", "socket"], help="serial transport")
    emulate.set_defaults(func=cmd_emulate)
    listing = sub.add_parser("list", help="list the serial ports (and instruments, radios) seen")
    listing.set_defaults(func=cmd_list)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except StationError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
