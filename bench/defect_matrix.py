"""The defect matrix: for every defect of every installed board, what catches it.

    bench defects --matrix                 # every board, every defect, table on the console
    bench defects --matrix --json          # [{"board", "defect", "face", "caught_by", ...}]
    bench defects --matrix --write docs/defects.md

Each defect is switched on in its kit's emulated station and the kit's whole plan runs against
it (`pytest <plans> --station <emulated> --defect NAME`); the run record says which steps and
which measurements failed, each by its stable id from the kit's spec (so renaming a measurement
does not change the matrix; an undeclared one, or one of a record before ids, by its name).
The healthy board runs the same way: anything it fails is a false failure, and the matrix is
only trusted when there is none. Runs go two at a time (one per core).
A kit's QEMU stations (fixtures/<board>-*.toml with `[emulator] kind = "qemu"`) add rows of their
own, labelled by the profile's name: the healthy firmware, then each defect build of it
(firmware/<board>/defects.toml); they are left out where qemu-system-arm is missing.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.kit_testing import PLAN_PLUGINS_OFF
from bench.kits import BoardKit
from bench.record import load_record, measurement_key
from bench.station import load_station
from emulators.qemu import qemu_available
from emulators.qemu_board import firmware_defects

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Row:
    """One board's defect (or `defect=""`, the healthy board) and what failed on it."""

    board: str
    defect: str
    face: str
    description: str
    caught_by: list[str] = field(default_factory=list)  # failing measurements' ids
    failed_steps: list[str] = field(default_factory=list)  # node ids of failed/errored steps
    plans: list[str] = field(default_factory=list)  # plan files those steps belong to
    error: str = ""  # the run could not be judged (no record): the matrix is not valid
    station: str = ""  # the station profile run, when not the kit's emulated station

    def as_json(self) -> dict:
        return asdict(self)


def firmware_stations(kit: BoardKit) -> list[Path]:
    """The kit's QEMU station profiles, when QEMU can run here."""
    if qemu_available():
        return []
    candidates = sorted(kit.emulated_station.parent.glob(f"{kit.name}-*.toml"))
    return [path for path in candidates  # a spec or desk profile has no [emulator] kind
            if tomllib.loads(path.read_text()).get("emulator", {}).get("kind") == "qemu"]


def run_one(kit: BoardKit, defect: str, workdir: Path, timeout: float = 600,
            station: Path | None = None) -> Row:
    """Run the kit's plans against its emulated station (or `station`) with `defect` (or none)."""
    label = station.stem if station else kit.name
    record = workdir / f"{label}-{defect or 'healthy'}" / "record.jsonl"
    command = [sys.executable, "-m", "pytest", str(kit.plans),
               f"--station={station or kit.emulated_station}", f"--record={record}", "-q",
               *PLAN_PLUGINS_OFF, f"--rootdir={ROOT}"] + (["--defect", defect] if defect else [])
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    row = _describe(kit, defect, station)
    if not record.exists():
        return Row(**{**asdict(row), "error": f"no record (pytest exit {done.returncode}): "
                                               f"{done.stdout[-500:]}{done.stderr[-500:]}"})
    caught, steps, plans = failures(record)
    return Row(row.board, row.defect, row.face, row.description, caught, steps, plans,
               station=row.station)


def failures(record: Path) -> tuple[list[str], list[str], list[str]]:
    """A run's failing measurements (by id), its failed or errored steps, and their plans."""
    caught, steps, plans = set(), [], set()
    for step in load_record(record).steps:
        if step["outcome"] not in ("fail", "error"):
            continue
        steps.append(step["name"])
        plans.add(step["name"].split("::")[0])
        caught |= {measurement_key(m) for m in step.get("measurements", [])
                   if m.get("outcome") == "fail"}
    return sorted(caught), steps, sorted(plans)


def _describe(kit: BoardKit, defect: str, station: Path | None) -> Row:
    """The row's identity: a kit defect, or a firmware defect build of a QEMU station."""
    if station is None:
        info = kit.defects.get(defect)
        return Row(kit.name, defect, info.face if info else "", info.description if info else
                   "healthy board")
    build = _firmware_builds(station).get(defect, {})
    return Row(station.stem, defect, "firmware",
               build.get("description", "healthy firmware"), station=str(station))


def _firmware_builds(station: Path) -> dict[str, dict[str, str]]:
    return firmware_defects(load_station(station).firmware_path())


def matrix(kits: Iterable[BoardKit], jobs: int = 2) -> list[Row]:
    """Every defect of every kit, and each healthy board, in kit then defect order; then each
    QEMU station's healthy firmware and its defect builds."""
    work: list[tuple[BoardKit, str, Path | None]] = []
    for kit in kits:
        work += [(kit, defect, None) for defect in ["", *sorted(kit.defects)]]
        for station in firmware_stations(kit):
            work += [(kit, defect, station) for defect in ["", *sorted(_firmware_builds(station))]]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(lambda job: run_one(job[0], job[1], Path(tmp), station=job[2]),
                             work))


def render_markdown(rows: list[Row]) -> str:
    """docs/defects.md: defects with what catches them, then measurements with what they catch."""
    lines = ["# Defect matrix", "",
             "Generated by `bench defects --matrix --write docs/defects.md`: each defect switched "
             "on in its board's emulated station, the board's whole plan run against it.", "",
             "| board | defect | face | caught by (failing measurements) | plans |",
             "|---|---|---|---|---|"]
    for row in rows:
        caught = ", ".join(row.caught_by) or ("**none**" if row.defect else "(none: healthy)")
        plans = ", ".join(Path(p).name for p in row.plans) or "-"
        lines.append(f"| {row.board} | {row.defect or '(healthy)'} | {row.face or '-'} | "
                     f"{caught} | {plans} |")
    lines += ["", "| board | measurement | catches |", "|---|---|---|"]
    catches: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        for name in row.caught_by:
            catches.setdefault((row.board, name), []).append(row.defect)
    for (board, name), defects in sorted(catches.items()):
        lines.append(f"| {board} | {name} | {', '.join(sorted(d for d in defects if d))} |")
    return "\n".join(lines) + "\n"


def problems(rows: list[Row]) -> list[str]:
    """Why the matrix cannot be trusted: a defect nothing catches, a healthy board that fails."""
    found = []
    for row in rows:
        if row.error:
            found.append(f"{row.board} {row.defect or 'healthy'}: {row.error}")
        elif row.defect and not row.caught_by:
            found.append(f"{row.board} defect {row.defect!r} is caught by no named measurement")
        elif not row.defect and row.failed_steps:
            found.append(f"{row.board} healthy board fails {', '.join(row.failed_steps)}")
    return found
