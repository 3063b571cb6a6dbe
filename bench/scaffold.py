"""`bench new-board NAME`: a board kit that passes its own plan against its own emulator at once.

    bench new-board thermostat          # writes ./thermostat/ (a package with its entry point)
    pip install -e thermostat && bench run --station thermostat/thermostat_kit/emulated.toml

The kit is a separate package, as a hardware team's own would be: it registers itself under the
`citebench.boards` entry points and touches no file of citebench. Every part (frames declared
with construct, codec, driver, identity, emulator with its power face, defects, product spec,
plan, emulated station, a codec test) is small and meant to be replaced by the board's own;
docs/adding-a-board.md walks through each.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

TEMPLATE = Path(__file__).resolve().parent / "scaffold"
NAME = re.compile(r"[a-z][a-z0-9_]{0,30}")


class ScaffoldError(ValueError):
    """The board name or the target folder is not usable."""


def new_board(name: str, where: Path) -> Path:
    """Write the kit package for `name` under `where`; returns the package folder."""
    if not NAME.fullmatch(name):
        raise ScaffoldError(f"board name {name!r}: use lower-case letters, digits and _, "
                            f"starting with a letter (it becomes a Python package name)")
    target = where / name
    if target.exists():
        raise ScaffoldError(f"{target} already exists; choose another name or folder")
    for source in sorted(TEMPLATE.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        relative = source.relative_to(TEMPLATE).as_posix()
        relative = re.sub(r"^kit/", f"{name}_kit/", relative)
        out = target / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(Template(source.read_text()).substitute(name=name))
    return target
