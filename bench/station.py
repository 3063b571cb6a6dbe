"""Station profiles: TOML files that bind the roles a plan asks for to real or emulated resources.

    >>> profile = load_station(DEFAULT_PROFILE)
    >>> profile.dut.board, profile.dut.port
    ('ws100', 'emulator')

Every section is a frozen dataclass whose field names are the TOML keys; an unknown key, a missing
key or a wrong type is one `StationError` naming the file and the key. The resource `"emulator"`
means the bench starts citebench's own emulator for that role.

A profile holds what belongs to the desk: wiring, driver tuning, safety limits, calibration. It
names its board (`[dut] board`), whose kit (bench/kits.py) holds what belongs to the product:
its protocol, its plans, its defects and its product spec (expected firmware, limits).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import re
import tomllib
import types
import typing
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from bench.kits import BoardKit, KitError, board_kit, check_defects, check_knobs
from emulators.faults import UnknownFaultError, check_faults
from emulators.serial_transport import TRANSPORTS

EMULATOR = "emulator"
DEFAULT_PROFILE = Path(__file__).resolve().parent.parent / "fixtures" / "ws100-emulated.toml"
STATION_ENV = "CITEBENCH_STATION"


class StationError(ValueError):
    """The station profile is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class StationInfo:
    id: str
    description: str = ""
    operator: str = ""
    fail_on_expired_calibration: bool = False  # an instrument past its due date makes the run ERROR
    # set in the profile bench/slots.py writes for one slot's process: it owns only its supply
    # channel and leaves instrument-wide settings (*RST, *CLS, the I/O watchdog) to the batch
    slot: int = 0


@dataclass(frozen=True)
class EmulatorConfig:
    seed: int = 0
    defects: tuple[str, ...] = ()
    serial: str = "pty"  # "pty", "pty-by-id" (named by a stable by-id link) or "socket"
    provisioned: bool = True
    board_serial: str = ""  # the emulated board's serial number ("" keeps the model's default)
    psu_model: str = "E36312A"  # which supply family the emulator serves (its *IDN? and commands)
    faults: dict[str, float] = field(default_factory=dict)  # bench faults (emulators/faults.py)
    knobs: dict[str, float] = field(default_factory=dict)  # the board kit's knobs (BoardKit.knobs)
    kind: str = "python"  # "python": the kit's board model; "qemu": its firmware (qemu_board.py)
    firmware: str = ""  # qemu: the ELF, relative to the profile; its defects are builds of it
    machine: str = "mps2-an385"  # qemu: the -M machine
    physics: str = ""  # qemu: "module:attribute" of the kit's BoardPhysics
    qemu_args: tuple[str, ...] = ()  # qemu: more arguments, e.g. ["-icount", "shift=auto"]


@dataclass(frozen=True)
class DutConfig:
    board: str  # the board kit's name (`bench boards` lists them)
    port: str
    baudrate: int = 115200
    timeout_s: float = 1.0
    retries: int = 2
    # how long the link waits for a vanished port (USB re-enumeration) to come back at the same
    # path before the run stops with ERROR; 0: it stops at once
    reconnect_s: float = 0.0


@dataclass(frozen=True)
class PsuConfig:
    resource: str
    model: str = ""  # pins the supply family; "" picks it from *IDN?
    channel: int = 1
    nominal_voltage: float = 3.7
    max_voltage: float = 4.4
    max_current: float = 0.5
    calibration_due: dt.date | None = None
    timeout_ms: int = 5000  # a reply later than this puts the session out of step
    reconnects: int = 0  # new sessions the driver may open in a run after a drop (0: the run stops)
    io_watchdog_s: int = 60  # N6700: outputs held off after this long without a message; 0: off


@dataclass(frozen=True)
class DmmConfig:
    resource: str
    model: str = ""  # pins the meter model; "" picks it from *IDN?
    test_point: str = "vbat"
    calibration_due: dt.date | None = None
    timeout_ms: int = 5000
    reconnects: int = 0


@dataclass(frozen=True)
class RadioConfig:
    resource: str
    backend: str = "bumble"  # "bumble" (emulated controllers), "native" (the OS stack), "broker"
    name: str = ""
    address: str = ""
    scan_timeout_s: float = 5.0
    connect_retries: int = 2
    connect_timeout_s: float = 5.0
    reconnects: int = 0  # per link: re-establish a link lost under a step (docs/ble.md)


@dataclass(frozen=True)
class SlotConfig:
    """One board place of a station with several (`[[slot]]`): its own wiring; the supply, the
    meter and the radio are the station's, shared by every slot."""

    number: int
    port: str  # the board's serial port ("emulator": served by `bench run --slots`)
    channel: int = 1  # the supply channel that powers this board
    radio_name: str = ""  # what the board advertises ("" keeps [radio] name)
    radio_address: str = ""
    board_serial: str = ""  # an emulated board's serial number ("" derives one from the number)
    meter: bool = False  # the meter's probes sit on this board (one slot; none: the first)


@dataclass(frozen=True)
class ArchiveConfig:
    """Where a bench of a lab archives (docs/lab.md): the lab's index and this bench's own ledger
    chain. The same as `BENCH_INDEX` and `BENCH_ID` in the environment, which commands run
    without a station (`bench archive ...`) read."""

    index: str = ""  # "postgresql://user@host/db" (password in ~/.pgpass); "": the folder's SQLite
    bench_id: str = ""  # this bench's chain: ledger-<bench_id>.jsonl; "": the archive's ledger


@dataclass(frozen=True)
class StationProfile:
    path: Path
    sha256: str
    station: StationInfo
    dut: DutConfig
    emulator: EmulatorConfig | None = None
    psu: PsuConfig | None = None
    dmm: DmmConfig | None = None
    radio: RadioConfig | None = None
    archive: ArchiveConfig | None = None
    roles: tuple[str, ...] = field(default=())
    slots: tuple[SlotConfig, ...] = ()

    @property
    def meter_slot(self) -> int:
        """The slot whose board the meter probes: the one that says so, else the first."""
        return next((s.number for s in self.slots if s.meter), self.slots[0].number)

    def slot(self, number: int) -> SlotConfig:
        """The `[[slot]]` of that number; StationError naming the numbers there are."""
        for slot in self.slots:
            if slot.number == number:
                return slot
        raise StationError(f"{self.path}: no [[slot]] number {number}; it has "
                           f"{', '.join(str(s.number) for s in self.slots) or 'none'}")

    @property
    def kit(self) -> BoardKit:
        """The board kit of `[dut] board` (checked when the profile loaded)."""
        return board_kit(self.dut.board)

    def firmware_path(self) -> Path:
        """The QEMU station's firmware image, its path taken relative to the profile."""
        return (self.path.parent / self.emulator.firmware).resolve() if self.emulator else Path()

    def emulated_roles(self) -> tuple[str, ...]:
        """Roles whose resource is the bench's own emulator."""
        return tuple(role for role in self.roles if role_resource(self, role) == EMULATOR)


def _resource_key(role: str) -> str:
    return "port" if role == "dut" else "resource"


def role_resource(profile: StationProfile, role: str) -> str:
    """The resource a role is bound to: the dut's port, an instrument's or the radio's resource."""
    return getattr(getattr(profile, role), _resource_key(role))


def with_resources(profile: StationProfile, resources: dict[str, str]) -> StationProfile:
    """The profile with roles bound to other resources (a labgrid place's, resolved at run start:
    bench/labgrid_places.py)."""
    return dataclasses.replace(profile, **{
        role: dataclasses.replace(getattr(profile, role), **{_resource_key(role): resource})
        for role, resource in resources.items()})


_SECTIONS: dict[str, type] = {
    "station": StationInfo,
    "emulator": EmulatorConfig,
    "dut": DutConfig,
    "psu": PsuConfig,
    "dmm": DmmConfig,
    "radio": RadioConfig,
    "archive": ArchiveConfig,
    "slot": SlotConfig,  # an array of tables: [[slot]]
}
_ROLES = ("dut", "psu", "dmm", "radio")


def _check_type(value: object, hint: object, where: str) -> object:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        return _check_type(value, options[0], where)
    if origin is dict:
        if not isinstance(value, dict):
            raise StationError(f"{where} must be a table, got {type(value).__name__}")
        item = typing.get_args(hint)[1]
        return {key: _check_type(val, item, f"{where}.{key}") for key, val in value.items()}
    if origin is tuple:
        if not isinstance(value, list):
            raise StationError(f"{where} must be a list, got {type(value).__name__}")
        return tuple(_check_type(item, typing.get_args(hint)[0], f"{where}[]") for item in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is dt.date and isinstance(value, dt.datetime):
        return value.date()
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):  # type: ignore[arg-type]
        raise StationError(
            f"{where} must be {getattr(hint, '__name__', hint)}, got {type(value).__name__} "
            f"{value!r}"
        )
    return value


def _section(cls: type, data: object, where: str) -> object:
    if not isinstance(data, dict):
        raise StationError(f"{where} must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise StationError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                           f"known: {', '.join(fields)}")
    missing = [name for name, f in fields.items() if name not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise StationError(f"{where}: missing key(s) {', '.join(missing)}")
    values = {key: _check_type(value, hints[key], f"{where}.{key}") for key, value in data.items()}
    return cls(**values)


def load_station(path: str | os.PathLike[str]) -> StationProfile:
    """Load and validate a station profile; every error names the file and the key."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise StationError(f"station profile {path}: cannot read ({error.strerror})") from error
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise StationError(f"station profile {path}: not valid TOML ({error})") from error
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise StationError(f"{path}: unknown section(s) [{'], ['.join(unknown)}]; "
                           f"known: {', '.join(_SECTIONS)}")
    for required in ("station", "dut"):
        if required not in data:
            raise StationError(f"{path}: missing section [{required}]")
    slots = _slots(data.pop("slot", []), path)
    sections = {name: _section(_SECTIONS[name], data[name], f"{path}: [{name}]")
                for name in data}
    profile = StationProfile(
        path=path.resolve(),
        sha256=hashlib.sha256(raw).hexdigest(),
        roles=tuple(role for role in _ROLES if role in sections),
        slots=slots,
        **sections,  # type: ignore[arg-type]
    )
    try:
        kit = profile.kit
    except KitError as error:
        raise StationError(f"{path}: [dut].board: {error}") from None
    _check_emulation(profile, kit)
    _check_instrument_recovery(profile)
    _check_archive(profile)
    from bench.labgrid_places import place_refs  # imports this module

    place_refs(profile)  # a malformed labgrid:// resource stops the load, naming the role
    return profile


def _check_archive(profile: StationProfile) -> None:
    """`[archive]`: a PostgreSQL URL without a password (the profile is kept with every run's
    record), a bench id fit for a file name."""
    archive = profile.archive
    if archive is None:
        return
    where = f"{profile.path}: [archive]"
    if archive.index:
        url = urllib.parse.urlsplit(archive.index)
        if url.scheme not in ("postgresql", "postgres"):
            raise StationError(f"{where}.index = {archive.index!r}: a postgresql:// URL, or "
                               "leave it out for the archive's own SQLite index")
        if url.password is not None or "password=" in url.query:
            raise StationError(f"{where}.index holds a password: the profile goes with every "
                               "run's record; keep the password in ~/.pgpass")
    if archive.bench_id and not re.fullmatch(r"[A-Za-z0-9._-]+", archive.bench_id):
        raise StationError(f"{where}.bench_id = {archive.bench_id!r}: letters, digits, '.', "
                           "'_' and '-' only (it names the bench's ledger file)")


def use_lab_archive(profile: StationProfile) -> None:
    """Make `[archive]` what this process and its children archive with (the environment the
    archive's code reads); a different `BENCH_INDEX`/`BENCH_ID` already there is an error, not
    a choice: two indexes for one bench would split its runs."""
    from bench.index_db import INDEX_URL
    from bench.ledger import BENCH

    archive = profile.archive or ArchiveConfig()
    for variable, key, value in ((INDEX_URL, "index", archive.index),
                                 (BENCH, "bench_id", archive.bench_id)):
        if not value:
            continue
        if os.environ.get(variable, value) != value:
            raise StationError(f"{profile.path}: [archive].{key} = {value!r}, but {variable} = "
                               f"{os.environ[variable]!r} in the environment: keep one")
        os.environ[variable] = value


def _slots(data: object, path: Path) -> tuple[SlotConfig, ...]:
    """The `[[slot]]` tables; numbers, ports and supply channels each taken once."""
    if not isinstance(data, list):
        raise StationError(f"{path}: slot must be an array of tables ([[slot]]), got "
                           f"{type(data).__name__}")
    slots = tuple(_section(SlotConfig, item, f"{path}: [[slot]] #{i + 1}")
                  for i, item in enumerate(data))
    for key in ("number", "port", "channel"):
        seen: dict[object, int] = {}
        for i, slot in enumerate(slots):
            value = getattr(slot, key)
            if key == "number" and value < 1:
                raise StationError(f"{path}: [[slot]] #{i + 1}.number must be 1 or more, "
                                   f"got {value}")
            if value in seen and value != EMULATOR:
                raise StationError(f"{path}: [[slot]] #{i + 1}.{key} = {value!r} is already "
                                   f"slot #{seen[value] + 1}'s: two boards cannot share it")
            seen[value] = i
    if sum(slot.meter for slot in slots) > 1:
        raise StationError(f"{path}: [[slot]] meter = true on more than one slot: the meter's "
                           "probes sit on one board")
    return slots  # type: ignore[return-value]


def _check_instrument_recovery(profile: StationProfile) -> None:
    for role in ("psu", "dmm"):
        section = getattr(profile, role)
        if section is not None and (section.reconnects < 0 or section.timeout_ms <= 0):
            raise StationError(f"{profile.path}: [{role}].reconnects must be >= 0 and "
                               f"[{role}].timeout_ms > 0, got {section.reconnects} and "
                               f"{section.timeout_ms}")
    wdog = profile.psu.io_watchdog_s if profile.psu else 0
    if wdog != 0 and not 1 <= wdog <= 3600:  # the N6700's range; 0 leaves it off
        raise StationError(f"{profile.path}: [psu].io_watchdog_s must be 0 (off) or 1..3600 s, "
                           f"got {wdog}")


def _check_emulation(profile: StationProfile, kit: BoardKit) -> None:
    emulated = profile.emulated_roles()
    if emulated and profile.emulator is None:
        raise StationError(
            f"{profile.path}: role(s) {', '.join(emulated)} use \"{EMULATOR}\" but the profile has "
            "no [emulator] section"
        )
    if profile.emulator is not None:
        _check_kind(profile)
        _check_defect_names(profile, profile.emulator.defects,
                            f"{profile.path}: [emulator].defects")
        _check_fault_names(profile.emulator.faults, f"{profile.path}: [emulator].faults")
        _check_knob_names(kit, profile.emulator.knobs, f"{profile.path}: [emulator].knobs")
        _check_unique_id(kit, profile.emulator.board_serial,
                         f"{profile.path}: [emulator].board_serial")
        if profile.emulator.serial not in TRANSPORTS:
            raise StationError(f"{profile.path}: [emulator].serial must be one of "
                               f"{', '.join(TRANSPORTS)}, got {profile.emulator.serial!r}")
    radio = profile.radio
    if radio is not None and (radio.backend not in ("broker", "bumble", "native") or (
            radio.resource == EMULATOR and radio.backend != "bumble")):
        raise StationError(f"{profile.path}: [radio].backend must be \"bumble\", \"native\" or "
                           f"\"broker\" (a batch's slot; \"bumble\" when resource is "
                           f"\"{EMULATOR}\"), got {radio.backend!r}")


def _check_kind(profile: StationProfile) -> None:
    config = profile.emulator
    where = f"{profile.path}: [emulator]"
    if config.kind not in ("python", "qemu"):
        raise StationError(f"{where}.kind must be \"python\" or \"qemu\", got {config.kind!r}")
    if config.kind == "qemu":
        missing = [key for key in ("firmware", "physics") if not getattr(config, key)]
        if missing:
            raise StationError(f"{where}: kind \"qemu\" needs {' and '.join(missing)}")
        if profile.radio is not None and profile.radio.resource == EMULATOR:
            raise StationError(f"{where}: kind \"qemu\" has no radio (QEMU models none for a "
                               "Cortex-M): remove [radio] or give it a real resource")


def _check_defect_names(profile: StationProfile, names: tuple[str, ...] | list[str],
                        where: str) -> None:
    """A QEMU station's defects are builds of its firmware; a Python model's, its kit's."""
    if profile.emulator is not None and profile.emulator.kind == "qemu":
        from emulators.qemu_board import firmware_defects

        known = firmware_defects(profile.firmware_path())
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise StationError(f"{where}: unknown firmware defect(s) {', '.join(unknown)} for "
                               f"{profile.firmware_path()}; known: {', '.join(sorted(known))}")
        return
    try:
        check_defects(profile.kit, names, where)
    except KitError as error:
        raise StationError(str(error)) from None


def _check_knob_names(kit: BoardKit, knobs: dict[str, float], where: str) -> None:
    try:
        check_knobs(kit, knobs, where)
    except KitError as error:
        raise StationError(str(error)) from None


def _check_fault_names(faults: dict[str, float], where: str) -> dict[str, float]:
    try:
        return check_faults(faults, where)
    except UnknownFaultError as error:
        raise StationError(str(error)) from None


def with_faults(profile: StationProfile, faults: list[str], where: str) -> StationProfile:
    """The profile with the bench's own faults switched on, from NAME=VALUE strings."""
    if not faults:
        return profile
    if profile.emulator is None:
        raise StationError(f"{profile.path}: {where} needs a profile with an [emulator] section")
    parsed = {}
    for item in faults:
        name, sep, value = item.partition("=")
        try:
            parsed[name.strip()] = float(value) if sep else float("nan")
        except ValueError:
            raise StationError(f"{where} {item!r}: expected NAME=NUMBER") from None
        if not sep:
            raise StationError(f"{where} {item!r}: expected NAME=NUMBER")
    merged = {**profile.emulator.faults, **_check_fault_names(parsed, where)}
    return dataclasses.replace(profile,
                               emulator=dataclasses.replace(profile.emulator, faults=merged))


def _check_unique_id(kit: BoardKit, value: str, where: str) -> None:
    """What the emulated board will say it is must fit its protocol's identity field."""
    try:
        size = len(value.encode(kit.unique_id_encoding))
    except UnicodeEncodeError as error:
        raise StationError(f"{where}: {value!r} has a character the board's protocol cannot "
                           f"carry ({kit.unique_id_encoding}): {error.reason} at position "
                           f"{error.start}") from None
    if size > kit.unique_id_max_bytes:
        raise StationError(f"{where}: {size} bytes; the board's protocol carries at most "
                           f"{kit.unique_id_max_bytes}")
    if not value.isprintable():
        raise StationError(f"{where}: {value!r} holds control characters")


def with_defects(profile: StationProfile, defects: list[str], where: str) -> StationProfile:
    """The profile with extra emulated defects switched on (from a CLI flag named `where`)."""
    if not defects:
        return profile
    if profile.emulator is None:
        raise StationError(f"{profile.path}: {where} needs a profile with an [emulator] section")
    _check_defect_names(profile, defects, where)
    merged = tuple(sorted({*profile.emulator.defects, *defects}))
    return dataclasses.replace(profile,
                               emulator=dataclasses.replace(profile.emulator, defects=merged))


def resolve_profile_path(option: str | None) -> Path:
    """--station wins, then $CITEBENCH_STATION, then the emulated default station."""
    chosen = option or os.environ.get(STATION_ENV)
    return Path(chosen) if chosen else DEFAULT_PROFILE
