"""Board kits: everything that is one board's, found through the `citebench.boards` entry points.

    >>> kit = board_kit("ws100")
    >>> kit.codec().sequenced, sorted(kit.defects)[:2]
    (True, ['adv-missing-manufacturer-data', 'bad-serial'])

A team ships its board as a kit in its own package:

    # pyproject.toml
    [project.entry-points."citebench.boards"]
    myboard = "myboard.kit:KIT"

The core (serial link, station loading, fixtures, emulator host, record, archive, CLI) talks to a
board only through a `BoardKit`. Its heavy parts are named by import path ("module:attribute")
and imported on first use, so a station never imports what it does not use (an emulator on a
desk, Bumble for a board without radio). docs/adding-a-board.md is the guide.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import subprocess
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from bench.measure import Limit

GROUP = "citebench.boards"


class KitError(ValueError):
    """A kit is missing, broken, or does not fit the station asking for it."""


@dataclass(frozen=True)
class Defect:
    """A switch on the kit's emulator; `face` is where it shows: serial, power, radio, identity."""

    description: str
    face: str


@dataclass(frozen=True)
class Identity:
    """Who the board says it is, in the schema every kit shares.

    `unique_id` names the archive folder, so it must be what tells two boards apart (a serial
    number, a chip id); `extra` holds the kit's own fields (part number, radio address).
    """

    unique_id: str
    firmware: str
    hw_revision: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def as_record(self, board: str) -> dict[str, Any]:
        return {"board": board, "unique_id": self.unique_id, "firmware": self.firmware,
                "hw_revision": self.hw_revision, "extra": dict(self.extra)}


@dataclass(frozen=True)
class ProductSpec:
    """What the product must measure, from the kit's spec file (TOML), apart from any station.

    `[product]` holds names (part number, expected firmware); `[limits]` holds numbers the
    plans compare against, each `{low, high, units}` or a plain number; other tables are the
    kit's own (radio identity, battery capacity).
    """

    path: Path
    data: Mapping[str, Any]

    @classmethod
    def load(cls, path: Path) -> ProductSpec:
        try:
            return cls(path, tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise KitError(f"product spec {path}: {error}") from error

    def __getitem__(self, dotted: str) -> Any:
        """`spec["product.expect_firmware"]`; a missing key names the file and the key."""
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise KitError(f"product spec {self.path}: no key {dotted!r}")
            node = node[part]
        return node

    def limit(self, id: str) -> Limit:
        """The measurement declared as `[limits] <id>`, for `measure(spec.limit(id), value)`.

        An entry is `{name, units, low, high, low_strict, high_strict, nominal, resolution}`
        (all optional; `name` defaults to the id) or a plain number, an inclusive high limit.
        The id is what statistics and the defect matrix key on, so it must never change; the
        name is only shown. A plan asking for an id the spec lacks, or an entry with a key or
        value that is not one of these, is an error naming the file and the id.
        """
        table = self.data.get("limits", {})
        if not isinstance(table, Mapping) or id not in table:
            near = difflib.get_close_matches(id, list(table) if isinstance(table, Mapping)
                                             else [], n=3)
            raise KitError(f"product spec {self.path}: no measurement {id!r} in [limits]"
                           + (f"; did you mean {', '.join(near)}?" if near else ""))
        entry = table[id]
        entry = dict(entry) if isinstance(entry, Mapping) else {"high": entry}
        unknown = sorted(set(entry) - set(LIMIT_KEYS))
        if unknown:
            raise KitError(f"product spec {self.path}: [limits] {id}: unknown key(s) "
                           f"{', '.join(unknown)}; known: {', '.join(LIMIT_KEYS)}")
        for key, value in entry.items():
            if not isinstance(value, LIMIT_KEYS[key]) or (
                    isinstance(value, bool) and bool not in LIMIT_KEYS[key]):
                raise KitError(f"product spec {self.path}: [limits] {id}: {key} = {value!r} "
                               f"is not {' or '.join(t.__name__ for t in LIMIT_KEYS[key])}")
        return Limit(id=id, **{"name": id, **entry})


# The keys of a `[limits]` entry and the TOML types each takes (an int is a number too).
LIMIT_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,), "units": (str,), "low": (int, float), "high": (int, float),
    "low_strict": (bool,), "high_strict": (bool,), "nominal": (int, float, str, bool),
    "resolution": (int, float)}


def _load(target: str) -> Any:
    module, _, attribute = target.partition(":")
    try:
        found: Any = importlib.import_module(module)
        for part in attribute.split(".") if attribute else ():
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise KitError(f"cannot load {target!r}: {error}") from error
    return found


@dataclass(frozen=True)
class BoardKit:
    """One board's kit. Import paths ("module:attribute") are loaded on first use.

    codec     -> a `protocols.codec.Codec` class (called with no argument)
    driver    -> called with (link, spec): the object the `dut` fixture hands to plans; it has
                 `link` and `start()` (bring the board to a known state: reset, banner)
    identity  -> called with the driver: an `Identity` (raises drivers.errors.IdentityError)
    emulator  -> called with `emulators.interfaces.BoardSettings`: an `EmulatedBoard`
    """

    name: str
    summary: str
    codec: str
    driver: str
    identity: str
    emulator: str
    defects: Mapping[str, Defect]
    plans: Path
    spec: Path
    emulated_station: Path
    faces: tuple[str, ...] = ("serial", "power")
    # a module whose FORMATS (characteristic UUID -> construct) and MANUFACTURER_PAYLOAD the
    # BLE driver decodes notifications and advertising with; "" for a board without them
    radio_protocol: str = ""
    # what the identity field of the board's protocol carries (checked on [emulator] settings)
    unique_id_max_bytes: int = 255
    unique_id_encoding: str = "ascii"
    unique_id_template: str = "DEMO-{n:06d}"  # ids of emulated demo boards (archive demo-batch)
    # the emulator's knobs: name -> what it sets (and in which unit). A knob moves one quantity
    # the plans measure (`[emulator] knobs = {name = value}`), so a test can push that quantity
    # just past its limit and see exactly that measurement fail (docs/defects.md)
    knobs: Mapping[str, str] = field(default_factory=dict)

    def load(self, part: str) -> Any:
        """The object behind one of the import-path fields (codec, driver, identity, emulator,
    radio_protocol); a path without ":attribute" names a module."""
        return _load(getattr(self, part))

    def product_spec(self) -> ProductSpec:
        return ProductSpec.load(self.spec)

    def owns_plan(self, path: Path) -> bool:
        """True when `path` (a plan file or folder) lies in this kit's plans."""
        path, plans = path.resolve(), self.plans.resolve()
        return path == plans or plans in path.parents or path in plans.parents

    def summary_json(self) -> dict[str, Any]:
        return {"name": self.name, "summary": self.summary, "faces": list(self.faces),
                "defects": sorted(self.defects), "plans": str(self.plans),
                "spec": str(self.spec), "emulated_station": str(self.emulated_station)}


class KitWarning(UserWarning):
    """A kit that failed to load, left out: the other boards still run."""


@cache
def _discovered() -> tuple[dict[str, BoardKit], dict[str, str]]:
    """The kits registered under `citebench.boards` that load, by name, and why the others do
    not. One team's broken package must not stop every board's runs, so its kit is left out
    with one warning naming the package; asking for that board is then the error."""
    kits: dict[str, BoardKit] = {}
    broken: dict[str, str] = {}
    for entry in entry_points(group=GROUP):
        try:
            kits[entry.name] = _load_kit(entry)
        except KitError as error:
            broken[entry.name] = str(error)
            warnings.warn(f"{error}; board {entry.name!r} is left out", KitWarning, stacklevel=3)
    return kits, broken


def _load_kit(entry: EntryPoint) -> BoardKit:
    dist = entry.dist  # the package that registered it: what the operator can fix or remove
    where = f"{entry.value}, package {dist.name} {dist.version}" if dist else entry.value
    try:
        kit = entry.load()
    except Exception as error:  # whatever a team's import does wrong, it is that kit's fault
        raise KitError(f"board kit {entry.name!r} ({where}) failed to load: "
                       f"{type(error).__name__}: {error}") from error
    if not isinstance(kit, BoardKit) or kit.name != entry.name:
        raise KitError(f"entry point {entry.name!r} ({where}) must be a BoardKit named "
                       f"{entry.name!r}")
    return kit


def installed_kits() -> dict[str, BoardKit]:
    """Every kit registered under `citebench.boards` that loads, by name (a broken one is left
    out with a `KitWarning`)."""
    return _discovered()[0]


def board_kit(name: str) -> BoardKit:
    """The kit of board `name`; a kit that failed to load is an error here, naming its package."""
    kits, broken = _discovered()
    if name in broken:
        raise KitError(broken[name])
    if name not in kits:
        installed = ", ".join(sorted(kits)) or "(none)"
        raise KitError(f"no board kit named {name!r}; installed: {installed} (kits register "
                       f"under the {GROUP!r} entry points)")
    return kits[name]


def kit_identity(kit: BoardKit) -> dict[str, str | None]:
    """Which kit made a record: its name, the version of the distribution whose entry point
    provides it, and `git describe` of the folder holding the kit's module when that folder is
    a git checkout (None otherwise, or for a kit not registered as an entry point)."""
    entry = next((e for e in entry_points(group=GROUP) if e.name == kit.name), None)
    version = entry.dist.version if entry is not None and entry.dist is not None else None
    commit = None
    if entry is not None:
        found = importlib.util.find_spec(entry.module)
        if found is not None and found.origin:
            commit = _git_describe(Path(found.origin).parent)
    return {"name": kit.name, "version": version, "commit": commit}


def _git_describe(folder: Path) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), "describe", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def check_knobs(kit: BoardKit, knobs: Mapping[str, float], where: str) -> None:
    unknown = sorted(set(knobs) - set(kit.knobs))
    if unknown:
        raise KitError(f"{where}: unknown knob(s) {', '.join(unknown)} for board {kit.name!r}; "
                       f"known: {', '.join(sorted(kit.knobs)) or '(none)'}")


def check_defects(kit: BoardKit, names: tuple[str, ...] | list[str], where: str) -> None:
    unknown = sorted(set(names) - set(kit.defects))
    if unknown:
        raise KitError(f"{where}: unknown defect(s) {', '.join(unknown)} for board "
                       f"{kit.name!r}; known: {', '.join(sorted(kit.defects))}")
