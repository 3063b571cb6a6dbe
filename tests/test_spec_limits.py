"""Every board's measurements are declared in its kit's spec file, by a stable id with the limits
next to it; a plan asking for an id the spec lacks is an error naming the file and the id."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.kits import KitError, ProductSpec, installed_kits
from bench.measure import Limit


def spec_of(tmp_path: Path, limits: str) -> ProductSpec:
    path = tmp_path / "spec.toml"
    path.write_text(f"[product]\nname = 'x'\n\n[limits]\n{limits}\n")
    return ProductSpec.load(path)


def test_an_entry_is_a_limit_with_its_id_name_sides_and_resolution(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, 'vbat = { name = "battery voltage", units = "V", low = 3.0, '
                             'high = 4.2, high_strict = true, resolution = 0.01 }\n'
                             'lost = 0\nflag = {}')
    assert spec.limit("vbat") == Limit("vbat", "battery voltage", "V", 3.0, 4.2,
                                       high_strict=True, resolution=0.01)
    assert spec.limit("lost") == Limit("lost", "lost", high=0)  # a plain number: the high limit
    assert spec.limit("flag") == Limit("flag", "flag")  # logged, or a nominal given at run time


def test_a_missing_id_names_the_spec_file_and_the_id(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, "vbat = 4.2\nvbat_min = 3.0\nrun_current = 0.1")
    with pytest.raises(KitError, match=re.escape(f"product spec {spec.path}: no measurement "
                                                 "'vbatt' in [limits]; did you mean vbat, "
                                                 "vbat_min?")):
        spec.limit("vbatt")
    with pytest.raises(KitError, match=r"no measurement 'sleep' in \[limits\]$"):
        spec.limit("sleep")


@pytest.mark.parametrize(("entry", "message"), [
    ("{ hihg = 4.2 }", "unknown key(s) hihg; known: name, units"),
    ('{ high = "4.2" }', "high = '4.2' is not int or float"),
    ("{ high = true }", "high = True is not int or float"),
    ('{ high_strict = "yes" }', "high_strict = 'yes' is not bool"),
])
def test_a_malformed_entry_names_the_file_the_id_and_the_key(tmp_path: Path, entry: str,
                                                             message: str) -> None:
    spec = spec_of(tmp_path, f"vbat = {entry}")
    with pytest.raises(KitError, match=re.escape(f"{spec.path}: [limits] vbat: {message}")):
        spec.limit("vbat")


@pytest.mark.parametrize("board", ["ws100", "tracker"])
def test_every_spec_entry_loads_and_every_plan_id_is_declared(board: str) -> None:
    """The ids the board's plans ask for (`spec.limit("id")`, `spec.limit(f"{x}_id")` expanded by
    hand below) are all in its spec, and no entry is malformed."""
    kit = installed_kits()[board]
    spec = kit.product_spec()
    declared = set(spec["limits"])
    assert all(spec.limit(id).id == id for id in declared)
    asked = set()
    for plan in kit.plans.glob("test_*.py"):
        asked |= set(re.findall(r'spec\.limit\("([^"{}]+)"\)', plan.read_text()))
    assert asked and asked <= declared, sorted(asked - declared)


def test_the_ws100_plans_hold_no_limit_of_their_own() -> None:
    """WS-100 limits live in its spec: no plan passes low= or high= literals to `measure`."""
    plans = installed_kits()["ws100"].plans
    literal = re.compile(r"\b(low|high)=-?[\d.]")
    found = [f"{plan.name}: {line.strip()}" for plan in plans.glob("test_*.py")
             for line in plan.read_text().splitlines() if literal.search(line)]
    assert found == []
