"""citebench's pytest plugin: wires options to fixtures and hands the work to `bench/`.

    pytest testplans/ws100 --station fixtures/ws100-desk.toml --html r.html --self-contained-html

Registered through the `pytest11` entry point, and inert unless asked: with no `--station`, no
`$CITEBENCH_STATION` and no `citebench_station` ini key, pytest runs as if citebench were not
installed (no profile loaded, no record, no `junit.xml` beside an HTML report). Once active it
loads the role fixtures (`station`, `spec`, `dut`, instruments, radio), skips at collection the
tests whose roles or capabilities the station lacks, refuses plans of another board, and turns
each test into a step of the run record.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pytest

from bench import endings, verdicts
from bench.measure import RECORDER, Outcome, StepRecorder
from bench.record import RunRecord
from bench.session import BenchSession
from bench.station import STATION_ENV, StationError, StationProfile

SESSION = pytest.StashKey[BenchSession]()
PHASES = pytest.StashKey[dict]()
ROLE_FIXTURES = ("dut", "psu", "dmm", "radio")  # a test using one needs that role


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("citebench")
    group.addoption("--station", default=None,
                    help="station profile (TOML); default $CITEBENCH_STATION, else the emulated")
    group.addoption("--record", default=None, help="path of the run record (JSON Lines)")
    group.addoption("--defect", action="append", default=[],
                    help="switch an emulated board defect on (repeatable)")
    group.addoption("--fault", action="append", default=[], metavar="NAME=VALUE",
                    help="switch a fault of the emulated bench on (repeatable), e.g. "
                         "serial.bit_error_rate=1e-4")
    group.addoption("--operator", default=None,
                    help="who runs the bench (default: the station profile's operator)")
    group.addoption("--bench-run", action="store_true", help=argparse.SUPPRESS)
    parser.addini("citebench_station", "station profile that activates citebench (like "
                  "--station)", default="")


def requested_station(config: pytest.Config) -> str | None:
    """The station profile asked for, or None: then the plugin stays inert."""
    ini = config.getini("citebench_station")
    return (config.getoption("--station") or os.environ.get(STATION_ENV)
            or (str(config.rootpath / ini) if ini else None))


@pytest.hookimpl(tryfirst=True)  # before junitxml's, which reads the xmlpath set here
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(*names): the roles (dut, psu, dmm, radio) and "
                            "capabilities (e.g. current_profiler) a test needs; skipped with the "
                            "reason where the station lacks one")
    station = requested_station(config)
    if station is None:
        return
    record = config.getoption("--record")
    html = getattr(config.option, "htmlpath", None)
    if html:  # the record and the JUnit file go beside the HTML report unless placed elsewhere
        record = record or str(Path(html).parent / "record.jsonl")
        config.option.xmlpath = config.option.xmlpath or str(Path(html).parent / "junit.xml")
    session = BenchSession(station, Path(record) if record else None,
                           Path(config.rootpath), config.getoption("--defect"),
                           config.getoption("--operator"), config.getoption("--fault"))
    try:
        session.profile  # noqa: B018 - load now so a wrong profile stops the run at once
    except StationError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[SESSION] = session
    # The radio's fixtures are declared on every station (bleak and Bumble load only when a test
    # takes the radio), so a test using `ble_link` on a station without [radio] is skipped at
    # collection for the missing role, never an ERROR for an unknown fixture.
    for name in ("fixtures.station", "fixtures.serial", "fixtures.instruments", "fixtures.radio"):
        config.pluginmanager.import_plugin(name)
    if endings.STOP.install():  # `bench run` installs it first, to cover its archiving too
        config.add_cleanup(endings.STOP.restore)
    hooks = endings.EndingHooks(config, session, _record_aborted)
    config.pluginmanager.register(hooks, "citebench-endings")
    if config.pluginmanager.hasplugin("html"):
        from bench import report

        config.pluginmanager.register(report.HtmlHooks(session), "citebench-html")


def bench_session(config: pytest.Config) -> BenchSession:
    """The active session; a test that needs the bench in an inactive run is skipped."""
    if SESSION not in config.stash:
        pytest.skip("citebench is not active: pass --station PATH, set $CITEBENCH_STATION or "
                    "the citebench_station ini key")
    return config.stash[SESSION]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Before anything is powered: refuse another board's plans, skip what the station lacks."""
    if SESSION not in config.stash:
        return
    from bench.requirements import check_plan_ownership, missing_requirements

    profile = bench_session(config).profile
    check_plan_ownership(profile, [Path(item.path) for item in items])
    for item in items:
        needed = [name for name in ROLE_FIXTURES if name in getattr(item, "fixturenames", ())]
        for marker in item.iter_markers("requires"):
            needed += list(marker.args)
        missing = missing_requirements(profile, needed)
        if missing:
            item.add_marker(pytest.mark.skip(reason=f"station {profile.station.id} "
                                                    f"({profile.path.name}) lacks {missing}"))


@pytest.fixture(scope="session")
def station_profile(pytestconfig: pytest.Config) -> StationProfile:
    """The active station profile (with --defect switches applied)."""
    return bench_session(pytestconfig).profile


@pytest.fixture(scope="session")
def run_record(pytestconfig: pytest.Config) -> RunRecord:
    """The run record of this session; fixtures add the DUT and instrument identities to it."""
    return bench_session(pytestconfig).activate()


@pytest.fixture
def measure(request: pytest.FixtureRequest, run_record: RunRecord) -> StepRecorder:
    """Take a measurement: `measure("rtt", 0.004, units="s", high=0.05)`; limits are numbers."""
    return request.node.stash[RECORDER]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if SESSION not in item.config.stash:
        return
    item.stash[RECORDER] = StepRecorder()
    item.stash[PHASES] = {"start": time.time()}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    recorder = item.stash.get(RECORDER, None)
    if recorder is None:
        return report
    if call.when == "call" and report.passed and recorder.failed:
        report.outcome = "failed"
        report.longrepr = "measurement(s) out of limits:\n" + "\n".join(
            f"  {m.name} = {m.value} {m.units} (limits {m.limits_text()})" for m in recorder.failed
        )
    item.stash[PHASES][call.when] = (report, call.excinfo, str(report.longrepr or ""))
    verdicts.report_bench_error(report, call, Path(item.path))
    from bench.report import visible_report

    visible_report(report)  # after the record's copy: the record keeps the text as it was
    if call.when == "call" and item.config.pluginmanager.hasplugin("html"):
        from bench.report import measurement_extras

        report.extras = [*getattr(report, "extras", []), *measurement_extras(recorder)]
    if call.when == "teardown":
        _record_step(item, recorder)
    return report


def _record_step(item: pytest.Item, recorder: StepRecorder) -> None:
    session = bench_session(item.config)
    phases = item.stash[PHASES]
    endings.after_step(item, phases)
    if session.record is None:
        return
    outcome, message = verdicts.step_outcome(phases, Path(item.path), recorder.bench_faults)
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    session.record.step(item.nodeid, doc.strip(), outcome, recorder.measurements,
                        recorder.attachments, phases["start"], time.time(), message)


def _record_aborted(item: pytest.Item, message: str) -> None:
    """The step a signal interrupted: ABORTED, with what it had measured until then."""
    session = bench_session(item.config)
    if session.record is None:
        return
    recorder = item.stash.get(RECORDER, StepRecorder())
    start = item.stash.get(PHASES, {}).get("start", time.time())
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    session.record.step(item.nodeid, doc.strip(), Outcome.ABORTED, recorder.measurements,
                        recorder.attachments, start, time.time(), message)


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int):
    if SESSION not in session.config.stash:
        return (yield)
    ending = endings.finish(session)
    verdict = bench_session(session.config).finish(
        interrupted=(ending or {}).get("cause") == "signal", ending=ending)
    if verdict is not None and verdict > Outcome.SKIP and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a run-level problem (calibration)
    result = yield  # pytest-html writes its report here
    if session.config.getoption("--bench-run"):
        _silence_html_path(session.config)
    return result


def _silence_html_path(config: pytest.Config) -> None:
    """`bench run` moves the report into the archive and prints its final path itself; pytest-html's
    own "Generated html report" line would name the staging folder, gone a moment later."""
    from pytest_html.basereport import BaseReport

    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, BaseReport):
            config.pluginmanager.unregister(plugin)
