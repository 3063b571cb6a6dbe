"""The `bench` command: run the test plans, serve the emulators, list what the machine can see.

    bench run                          # the WS-100's plans against its emulated station
    bench run --station fixtures/tracker-emulated.toml
    bench run --station fixtures/ws100-desk.toml
    bench emulate --defect stuck-sensor
    bench emulate --psu-model N6705C
    bench emulate --psu-model N6705C --slots 4
    bench run --station fixtures/ws100-slots.toml --slots all
    bench safe --station fixtures/ws100-desk.toml
    bench boards --json
    bench lab release-stale            # places left acquired by runs killed with kill -9
    bench list

Every board-specific thing comes from the station's board kit (bench/kits.py): its plans, its
defect catalogue, its emulator.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench import folders
from bench.exitcodes import ExitCode
from bench.kits import KitError, installed_kits
from bench.record import load_record
from bench.station import (
    StationError,
    StationProfile,
    load_station,
    resolve_profile_path,
    use_lab_archive,
    with_defects,
    with_faults,
)
from emulators.faults import FAULTS
from emulators.serial_transport import TRANSPORTS
from emulators.supplies import SUPPLIES

ROOT = Path(__file__).resolve().parent.parent


def _profile(args: argparse.Namespace) -> StationProfile:
    profile = load_station(resolve_profile_path(args.station))
    return with_faults(with_defects(profile, args.defect, "--defect"),
                       getattr(args, "fault", []), "--fault")


def cmd_run(args: argparse.Namespace) -> int:
    import pytest

    from bench import archiving, endings, incoming
    from bench.kit_testing import PLAN_PLUGINS_OFF

    if args.slots:
        return _run_slots(args)
    endings.STOP.install()  # a signal from here on waits for a step boundary (or the end)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    reports = Path(args.reports)
    station = resolve_profile_path(args.station)
    profile = _profile(args)  # checks the profile and defects before anything else
    use_lab_archive(profile)
    plans = args.plan or [str(profile.kit.plans)]
    with folders.writing_into(reports):  # before anything is powered
        out = incoming.claim(reports, f"{stamp}-{os.getpid()}")  # until the verdict is known
    # `--option=value`: pytest takes a separate existing path (a station profile outside the
    # checkout, as every slot's is) for a test path, and looks for its ini file above the common
    # ancestor of both, "/": it found none, and a slot loaded plugins the ini file blocks
    pytest_args = [*plans, f"--station={station}", f"--record={out / 'record.jsonl'}",
                   f"--html={out / 'report.html'}", "--self-contained-html",
                   f"--junitxml={out / 'junit.xml'}", *PLAN_PLUGINS_OFF,
                   f"--rootdir={ROOT}", "--bench-run", "-q",
                   # `python -m bench` imported the plugin's package before pytest could rewrite it
                   "-W", "ignore::pytest.PytestAssertRewriteWarning", *args.pytest_args]
    for defect in args.defect:
        pytest_args += ["--defect", defect]
    for fault in args.fault:
        pytest_args += ["--fault", fault]
    if args.operator:
        pytest_args += ["--operator", args.operator]
    code = pytest.main(pytest_args)
    if incoming.nothing_recorded(out):
        archiving.abandon(out, reports)
        stopped = code == pytest.ExitCode.INTERRUPTED
        print(f"\nverdict: {'ABORTED' if stopped else 'ERROR'} (no record written: "
              f"{_no_record_reason(code)})")
        return (ExitCode.ABORTED if stopped else ExitCode.USAGE
                if code == pytest.ExitCode.USAGE_ERROR else ExitCode.ERROR)
    verdict = archiving.finish_run(out, reports, index=not args.no_index)
    if endings.STOP.pending:
        print(f"{endings.STOP.pending.split(':')[0]} came after the last step: the run was "
              "recorded and archived first")
    return verdict


def _run_slots(args: argparse.Namespace) -> int:
    """`bench run --slots`: one run per slot at once, then the batch's page and code."""
    from bench import slots

    profile = _profile(args)
    use_lab_archive(profile)  # the slots' processes inherit it
    chosen = slots.chosen_slots(profile, args.slots)
    run_args = [arg for plan in args.plan or () for arg in ("--plan", str(Path(plan).resolve()))]
    run_args += ["--no-index"] * args.no_index + (["--operator", args.operator]
                                                  if args.operator else [])
    run_args += ["--", *args.pytest_args] if args.pytest_args else []
    return slots.run_batch(profile, chosen, Path(args.reports), run_args)


def _no_record_reason(code: int) -> str:
    """Why pytest ended before the first step touched the station, in one line."""
    import pytest

    return {
        pytest.ExitCode.INTERRUPTED: "stopped before the first step",
        pytest.ExitCode.INTERNAL_ERROR: "pytest failed internally, see the traceback above",
        pytest.ExitCode.USAGE_ERROR: "usage error, see the message above",
        pytest.ExitCode.NO_TESTS_COLLECTED: "no test found in the plans given",
    }.get(code, f"no step used the station (pytest exit code {int(code)})")


def _archive_of(args: argparse.Namespace) -> None:
    """`bench archive ... --station P`: the index and ledger of P's `[archive]`."""
    if args.station:
        use_lab_archive(load_station(resolve_profile_path(args.station)))


def cmd_archive_verify(args: argparse.Namespace) -> int:
    from bench import verify_cli

    _archive_of(args)
    return verify_cli.run(Path(args.dir), args.head, args.key)


def cmd_archive_index(args: argparse.Namespace) -> int:
    from bench import archive, archiving, index_db, stats

    _archive_of(args)
    root = Path(args.dir)
    with folders.writing_into(root):
        archiving.recover(root)
        print(f"index: {archive.write_index(root, args.rebuild)}\n"
              f"statistics: {stats.write_statistics(root)}")
        damaged = index_db.damaged(index_db.connect(root), limit=-1)
    for row in damaged:
        record = root / row.folder / archive.RECORD
        with contextlib.suppress(OSError):  # a missing record is listed on the index page
            for damage in load_record(record).unreadable:
                print(f"bench: warning: record {record} {damage}", file=sys.stderr)
    return 0


def cmd_archive_query(args: argparse.Namespace) -> int:
    from bench import index_db, index_pages

    _archive_of(args)
    root = Path(args.dir)
    filters = index_db.Filters(args.board or "", args.verdict or "", args.since or "",
                               args.until or "", args.plan or "", args.firmware or "")
    target = Path(args.output) if args.output else root / "query.html"
    with folders.writing_into(root):
        page = index_pages.write_query(root, index_db.connect(root), filters, target)
        print(f"{index_db.count(index_db.connect(root), filters)} run(s): {page}")
    return 0


def cmd_archive_adopt(args: argparse.Namespace) -> int:
    from bench import audit

    refused = audit.adopt(Path(args.dir))
    for folder, why in refused:
        print(f"not adopted: {folder} ({why})")
    return ExitCode.FAIL if refused else ExitCode.PASS


def cmd_archive_keygen(args: argparse.Namespace) -> int:
    from bench import signing

    try:
        print(f"public key: {signing.keygen(Path(args.key))}\n"
              f"set {signing.KEY_VARIABLE}={args.key} on this station to sign its runs")
    except (signing.SigningError, FileExistsError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return ExitCode.USAGE
    return 0


def cmd_archive_demo_batch(args: argparse.Namespace) -> int:
    from bench import archive, stats

    reports = Path(args.reports)
    base = load_station(resolve_profile_path(args.station))
    with tempfile.TemporaryDirectory() as tmp:
        for board in range(args.count):
            serial = base.kit.unique_id_template.format(n=900001 + board)
            profile = stats.demo_profile(Path(tmp), args.seed + board, serial, base.path)
            plans = [arg for plan in args.plan for arg in ("--plan", str(Path(plan).resolve()))]
            done = subprocess.run([sys.executable, "-m", "bench", "run", "--station", str(profile),
                                   "--reports", str(reports), "--no-index", *plans],
                                  capture_output=True, text=True, cwd=ROOT)
            verdict = next((line for line in done.stdout.splitlines()
                            if line.startswith("verdict:")), "verdict: (none)")
            print(f"board {board + 1}/{args.count} {serial}: {verdict}", flush=True)
    print(f"index: {archive.write_index(reports)}\nstatistics: {stats.write_statistics(reports)}")
    return 0


def cmd_report_rebuild(args: argparse.Namespace) -> int:
    from bench import archiving

    record = Path(args.record)
    target = Path(args.output or f"{record.parent.name}-report.html")
    code = archiving.rebuild_report(record, target)
    if code != ExitCode.PASS:
        return code
    unreadable = load_record(record).unreadable
    for damage in unreadable:  # skipped: the report holds every other line
        print(f"bench: record {record} {damage}", file=sys.stderr)
    return ExitCode.USAGE if unreadable else ExitCode.PASS


def cmd_emulate(args: argparse.Namespace) -> int:
    from bench.emulation import emulate

    profile = _profile(args)
    if args.psu_model:
        profile = _with_psu_model(profile, args.psu_model)
    if args.serial:
        profile = dataclasses.replace(
            profile, emulator=dataclasses.replace(profile.emulator, serial=args.serial))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.slots:
        return _emulate_slots(profile, args.slots, stop)
    with emulate(profile) as emulated:
        defects = ", ".join(profile.emulator.defects) or "none"
        print(f"emulated station {profile.station.id}, board {profile.kit.name} "
              f"(defects: {defects})")
        for role, resource in emulated.resources.items():
            print(f"  {role:6} {resource}")
        if _power_on(emulated, profile):
            psu = profile.psu
            print(f"  (psu channel {psu.channel} on at {psu.nominal_voltage:g} V; "
                  f"OUTP OFF,(@{psu.channel}) powers the board down)")
        if "radio" in emulated.resources:
            print(f"  (radio: bleak with backend=bumble_backend(\"{emulated.resources['radio']}\") "
                  f"from drivers.bleak_bumble, or `bench list --radio "
                  f"{emulated.resources['radio']}`)")
        print("Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


def _emulate_slots(profile: StationProfile, count: int, stop: threading.Event) -> int:
    """`bench emulate --slots N`: N boards on one supply and one meter, until Ctrl-C."""
    from bench.emulation import emulate_slots
    from bench.slots import emulated_slots

    chosen = emulated_slots(profile, count)
    with emulate_slots(profile, chosen) as emulated:
        print(f"emulated station {profile.station.id}: {count} boards {profile.kit.name} on one "
              f"{profile.emulator.psu_model} and one meter")
        supply = emulated.instruments.get("psu")
        for slot in chosen:
            if supply is not None and profile.psu is not None:  # as on a desk already on
                with supply.device.lock:
                    supply.device.set_level(slot.channel, "volts", profile.psu.nominal_voltage)
                    supply.device.switch(slot.channel, True)
            print(f"  slot {slot.number} (supply channel {slot.channel}"
                  f"{' on' if supply is not None else ''})")
            for role, resource in emulated.resources[slot.number].items():
                print(f"    {role:6} {resource}")
        print("Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


def _power_on(emulated, profile: StationProfile) -> bool:
    """As on a desk where the supply is already on: the board answers at once."""
    if "psu" not in emulated.instruments or profile.psu is None:
        return False
    emulated.instruments["psu"].device.power_on(profile.psu.nominal_voltage)
    return True


def _with_psu_model(profile: StationProfile, model: str) -> StationProfile:
    """The profile with its emulated supply of `model` (`bench emulate --psu-model`)."""
    if profile.emulator is None:
        raise StationError(f"{profile.path}: --psu-model needs a profile with an [emulator] "
                           "section")
    return dataclasses.replace(profile,
                               emulator=dataclasses.replace(profile.emulator, psu_model=model))


def cmd_safe(args: argparse.Namespace) -> int:
    """Every output of the station's supply off, by hand (after a crash, before unplugging)."""
    from bench.watchdog import switch_off
    from drivers.scpi import InstrumentError

    profile = load_station(resolve_profile_path(args.station))
    psu = profile.psu
    if psu is None or psu.resource == "emulator":
        print(f"{profile.path}: no supply outside citebench's own emulator; nothing to switch")
        return ExitCode.PASS
    try:
        line = switch_off(psu.resource, psu.model, timeout_ms=args.timeout_ms)
    except InstrumentError as error:
        print(f"bench safe: {error}", file=sys.stderr)
        return ExitCode.ERROR
    print(line)
    return ExitCode.ERROR if "STILL ON" in line else ExitCode.PASS
def cmd_lab(args: argparse.Namespace) -> int:
    """Labgrid places: who holds them; release those a killed run of this host left acquired."""
    from bench import labgrid_places

    try:
        if args.task == "release-stale":
            stale = labgrid_places.release_stale(args.coordinator)
            for hold in stale:
                print(f"released place {hold.place} (held by {hold.owner}, no longer running)")
            if not stale:
                print("no place held by a citebench run that is gone")
        else:
            for place, owner in labgrid_places.holds(args.coordinator).items():
                print(f"{place:20} {owner or '(idle)'}")
    except ImportError:
        print("bench lab: labgrid is not installed: pip install 'citebench[labgrid]'",
              file=sys.stderr)
        return ExitCode.USAGE
    except labgrid_places.PlaceError as error:  # the coordinator, not the command line
        print(f"bench lab: {error}", file=sys.stderr)
        return ExitCode.ERROR
    return ExitCode.PASS


def cmd_boards(args: argparse.Namespace) -> int:
    kits = sorted(installed_kits().values(), key=lambda kit: kit.name)
    if args.json:
        print(json.dumps([kit.summary_json() for kit in kits], indent=2))
        return 0
    for kit in kits:
        print(f"{kit.name:10} {kit.summary}\n{'':10} plans {kit.plans}\n{'':10} emulated "
              f"station {kit.emulated_station}\n{'':10} defects: {', '.join(sorted(kit.defects))}")
    return 0


def cmd_new_board(args: argparse.Namespace) -> int:
    from bench.scaffold import ScaffoldError, new_board

    try:
        target = new_board(args.name, Path(args.dir))
    except ScaffoldError as error:
        print(f"bench: {error}", file=sys.stderr)
        return ExitCode.USAGE
    print(f"board kit {args.name!r} written to {target}\nnext:\n"
          f"  python3 -m pip install -e {target}\n"
          f"  python3 -m bench run --station {target / (args.name + '_kit') / 'emulated.toml'}")
    return 0


def cmd_defects(args: argparse.Namespace) -> int:
    kits = sorted(installed_kits().values(), key=lambda kit: kit.name)
    if args.board:
        kits = [kit for kit in kits if kit.name in args.board]
    if not args.matrix:
        for kit in kits:
            for name, defect in sorted(kit.defects.items()):
                print(f"{kit.name:8} {defect.face:9} {name:32} {defect.description}")
        return 0
    from bench.defect_matrix import matrix, problems, render_markdown

    rows = matrix(kits, jobs=args.jobs)
    if args.json:
        print(json.dumps([row.as_json() for row in rows], indent=2))
    else:
        for row in rows:
            print(f"{row.board:8} {row.defect or '(healthy)':32} "
                  f"{', '.join(row.caught_by) or row.error or '-'}")
    if args.write:
        Path(args.write).write_text(render_markdown(rows))
    found = problems(rows)
    for problem in found:
        print(f"bench: {problem}", file=sys.stderr)
    return ExitCode.FAIL if found else 0


def _defect_help() -> str:
    return "; ".join(f"{kit.name}: {', '.join(sorted(kit.defects))}"
                     for kit in sorted(installed_kits().values(), key=lambda kit: kit.name))


def cmd_list(args: argparse.Namespace) -> int:
    from serial.tools import list_ports

    ports = list_ports.comports()
    print("serial ports:")
    for port in ports:
        print(f"  {port.device:20} {port.description}")
    if not ports:
        print("  (none)")
    print("VISA resources (pyvisa-py):")
    for resource in _visa_resources():
        print(f"  {resource}")
    _list_ble(args)
    return 0


def _list_ble(args: argparse.Namespace) -> None:
    """BLE devices in range: through the Bumble backend on `--radio TRANSPORT`, through the
    emulated radio when the profile's [radio] is "emulator", else through bleak's native one."""
    from bench.emulation import emulate
    from drivers.ble import BleError, BleRadio

    profile = load_station(resolve_profile_path(args.station))
    radio = profile.radio
    with contextlib.ExitStack() as stack:
        if args.radio:
            backend, transport = "bumble", args.radio
        elif radio is not None and radio.resource == "emulator":
            emulated = stack.enter_context(emulate(profile))
            _power_on(emulated, profile)
            backend, transport = "bumble", emulated.resources["radio"]
        else:
            backend, transport = "native", ""
        ble = stack.enter_context(BleRadio(backend, transport))
        print(f"BLE devices ({ble.where}, {args.scan_s:g} s scan):")
        try:
            adverts = {a.address: a for a in ble.adverts(args.scan_s)}
        except BleError as error:
            print(f"  (unavailable: {error})")
            return
        for advert in adverts.values():
            data = " ".join(f"{k:04x}:{v.hex()}" for k, v in advert.manufacturer_data.items())
            print(f"  {advert.address}  {advert.name or '(no name)':16} rssi {advert.rssi:4} dBm"
                  f"  {data}")
        if not adverts:
            print("  (none)")


def _visa_resources() -> list[str]:
    """What pyvisa-py discovers; a raw SOCKET instrument announces nothing, so it is absent."""
    import warnings

    import pyvisa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # discovery backends that are not installed (zeroconf)
        return list(pyvisa.ResourceManager("@py").list_resources("?*")) or ["(none)"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the test plans and write the report")
    run.add_argument("--station", help="station profile (default: the emulated station)")
    run.add_argument("--defect", action="append", default=[], metavar="NAME",
                     help=f"switch an emulated defect of the station's board on (repeatable); "
                          f"{_defect_help()}")
    run.add_argument("--fault", action="append", default=[], metavar="NAME=VALUE",
                     help="switch a fault of the emulated bench on (repeatable): "
                          + ", ".join(sorted(FAULTS)))
    run.add_argument("--reports", default=str(ROOT / "reports"), help="where reports go")
    run.add_argument("--plan", action="append",
                     help="a test-plan file or folder (repeatable; default: its board's plans)")
    run.add_argument("--operator", help="who runs the bench (default: the profile's operator)")
    run.add_argument("--no-index", action="store_true", help="archive the run, skip the index")
    run.add_argument("--slots", metavar="all|1,3",
                     help="one run per [[slot]] of the station at once, and a batch page")
    run.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    run.set_defaults(func=cmd_run)
    archiving = sub.add_parser("archive", help="the lab archive of runs under reports/")
    tasks = archiving.add_subparsers(dest="task", required=True)
    verify = tasks.add_parser("verify", help="check every run against its SHA-256 manifest")
    verify.add_argument("dir", nargs="?", default=str(ROOT / "reports"),
                        help="a run folder or the archive root")
    verify.add_argument("--head", help="a ledger head hash kept elsewhere, to check against")
    verify.add_argument("--key", help="require every run signed by this public key (hex)")
    verify.set_defaults(func=cmd_archive_verify)
    index = tasks.add_parser("index", help="recover killed runs, index the runs archived since, "
                             "their pages and the statistics")
    index.add_argument("dir", nargs="?", default=str(ROOT / "reports"), help="archive root")
    index.add_argument("--rebuild", action="store_true",
                       help="re-read every record and rewrite every page")
    index.set_defaults(func=cmd_archive_index)
    query = tasks.add_parser("query", help="a page of the runs matching filters")
    query.add_argument("dir", nargs="?", default=str(ROOT / "reports"), help="archive root")
    for name in ("board", "verdict", "since", "until", "plan", "firmware"):
        query.add_argument(f"--{name}")
    query.add_argument("-o", "--output", help="HTML file (default: <archive>/query.html)")
    query.set_defaults(func=cmd_archive_query)
    for task in (verify, index, query):
        task.add_argument("--station", help="a station profile whose [archive] names the lab's "
                          "index (else BENCH_INDEX, else the folder's own)")
    adopt = tasks.add_parser("adopt", help="ledger the intact runs archived before the ledger")
    adopt.add_argument("dir", nargs="?", default=str(ROOT / "reports"), help="archive root")
    adopt.set_defaults(func=cmd_archive_adopt)
    keygen = tasks.add_parser("keygen", help="make an Ed25519 station key to sign manifests")
    keygen.add_argument("key", help="private key file to create (its .pub goes beside it)")
    keygen.set_defaults(func=cmd_archive_keygen)
    batch = tasks.add_parser("demo-batch", help="archive N emulated boards (seed, serial each)")
    batch.add_argument("count", type=int)
    batch.add_argument("--seed", type=int, default=1000, help="seed of the first board")
    batch.add_argument("--station", help="emulated station profile the boards derive from "
                       "(default: the default emulated station)")
    batch.add_argument("--reports", default=str(ROOT / "reports"), help="archive root")
    batch.add_argument("--plan", action="append", default=[],
                       help="plan file(s) each board runs (default: every plan)")
    batch.set_defaults(func=cmd_archive_demo_batch)
    report = sub.add_parser("report", help="reports rebuilt from run records")
    report_tasks = report.add_subparsers(dest="task", required=True)
    rebuild = report_tasks.add_parser("rebuild", help="HTML report from a (partial) record")
    rebuild.add_argument("record", help="a record.jsonl")
    rebuild.add_argument("-o", "--output", help="HTML file (default: <run folder>-report.html)")
    rebuild.set_defaults(func=cmd_report_rebuild)
    emulate = sub.add_parser("emulate", help="serve the emulated station until Ctrl-C")
    emulate.add_argument("--station", help="station profile (default: the emulated station)")
    emulate.add_argument("--defect", action="append", default=[], metavar="NAME",
                         help=f"switch an emulated defect on (repeatable); {_defect_help()}")
    emulate.add_argument("--serial", choices=TRANSPORTS, help="serial transport")
    emulate.add_argument("--slots", type=int, metavar="N",
                         help="N boards sharing one supply (N6705C: 4, E36312A: 3) and meter")
    emulate.add_argument("--psu-model", choices=sorted(SUPPLIES),
                         help="emulated supply model (default: the profile's [emulator] psu_model)")
    emulate.set_defaults(func=cmd_emulate)
    safe = sub.add_parser("safe", help="switch every supply output of a station off")
    safe.add_argument("--station", help="station profile (default: the emulated station)")
    safe.add_argument("--timeout-ms", type=int, default=5000, help="VISA timeout per supply")
    safe.set_defaults(func=cmd_safe)
    scaffold = sub.add_parser("new-board", help="write a new board kit package to start from")
    scaffold.add_argument("name", help="board name (lower case; it names the Python package)")
    scaffold.add_argument("--dir", default=".", help="where the kit's folder goes")
    scaffold.set_defaults(func=cmd_new_board)
    defects = sub.add_parser("defects", help="the emulated defects of every board, and the "
                             "matrix of what catches each")
    defects.add_argument("--matrix", action="store_true",
                         help="run every board's plan against each defect (minutes)")
    defects.add_argument("--json", action="store_true", help="the matrix as JSON")
    defects.add_argument("--board", action="append", help="only this board (repeatable)")
    defects.add_argument("--jobs", type=int, default=2, help="plan runs at once")
    defects.add_argument("--write", help="also write the matrix as markdown to this file")
    defects.set_defaults(func=cmd_defects)
    lab = sub.add_parser("lab", help="labgrid places the benches run on (docs/lab.md)")
    lab_tasks = lab.add_subparsers(dest="task", required=True)
    for name, text in (("release-stale", "release the places that citebench runs of this host "
                        "held when they were killed (kill -9)"),
                       ("show", "every place of the coordinator and who holds it")):
        task = lab_tasks.add_parser(name, help=text)
        task.add_argument("--coordinator", help="HOST:PORT (default: $LG_COORDINATOR, else "
                          "127.0.0.1:20408)")
        task.set_defaults(func=cmd_lab)
    boards = sub.add_parser("boards", help="the installed board kits")
    boards.add_argument("--json", action="store_true", help="as a JSON list of objects")
    boards.set_defaults(func=cmd_boards)
    listing = sub.add_parser("list", help="list the serial ports (and instruments, radios) seen")
    listing.add_argument("--station", help="station profile (default: the emulated station)")
    listing.add_argument("--radio", help="Bumble HCI transport to scan through "
                         "(e.g. tcp-client:127.0.0.1:PORT from `bench emulate`)")
    listing.add_argument("--scan-s", type=float, default=1.5, help="BLE scan time in s")
    listing.set_defaults(func=cmd_list)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (StationError, KitError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return ExitCode.USAGE
    except folders.FolderError as error:
        print(f"bench: {error}", file=sys.stderr)
        return ExitCode.ERROR


if __name__ == "__main__":
    sys.exit(main())
