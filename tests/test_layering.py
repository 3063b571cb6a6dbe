"""The layers stay apart: read from the source's own import statements."""

import ast
from pathlib import Path

from tests.plan_runner import ROOT

REPORT_INTERNALS = ("bench.report", "bench.svgplot", "bench.archive", "bench.stats",
                    "bench.record")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _offending(folder: str, banned: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        hits = sorted(name for name in _imports(path)
                      if any(name == b or name.startswith(b + ".") for b in banned))
        if hits:
            found[str(path.relative_to(ROOT))] = hits
    return found


def test_emulators_import_nothing_from_bench() -> None:
    assert _offending("emulators", ("bench",)) == {}


def test_fixtures_do_not_import_the_plugin() -> None:
    assert _offending("fixtures", ("bench.plugin",)) == {}


def test_plans_do_not_import_report_internals() -> None:
    assert _offending("testplans", REPORT_INTERNALS) == {}


def test_the_serial_link_knows_no_board() -> None:
    banned = ("protocols.ws100_frames", "protocols.ws100_messages", "drivers.ws100")
    for module in ("drivers/serial_link.py", "drivers/traffic.py", "emulators/host.py",
                   "emulators/serial_transport.py", "bench/plugin.py", "bench/station.py",
                   "fixtures/serial.py", "fixtures/station.py"):
        assert not _imports(ROOT / module) & set(banned), module
