"""citebench's pytest plugin: wires options to fixtures and hands the work to `bench/`.

    pytest testplans --station fixtures/desk-example.toml --html report.html --self-contained-html

Registered through the `pytest11` entry point. Role fixtures (`station`, `dut`, instruments, radio)
live in the `fixtures` package; this module holds the options, the `measure` and `run_record`
fixtures, and the hooks that turn each test into a step of the run record.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest

from bench import endings
from bench.measure import Outcome, StepRecorder
from bench.record import RunRecord
from bench.session import BenchSession
from bench.station import StationError

pytest_plugins = ["fixtures.station", "fixtures.serial", "fixtures.instruments",
                  "fixtures.radio"]

SESSION = pytest.StashKey[BenchSession]()
RECORDER = pytest.StashKey[StepRecorder]()
PHASES = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("citebench")
    group.addoption("--station", default=None,
                    help="station profile (TOML); default $CITEBENCH_STATION, else the emulated")
    group.addoption("--record", default=None, help="path of the run record (JSON Lines)")
    group.addoption("--defect", action="append", default=[],
                    help="switch an emulated board defect on (repeatable)")
    group.addoption("--operator", default=None,
                    help="who runs the bench (default: the station profile's operator)")
    group.addoption("--bench-run", action="store_true", help=argparse.SUPPRESS)


@pytest.hookimpl(tryfirst=True)  # before junitxml's, which reads the xmlpath set here
def pytest_configure(config: pytest.Config) -> None:
    record = config.getoption("--record")
    html = getattr(config.option, "htmlpath", None)
    if html:  # the record and the JUnit file go beside the HTML report unless placed elsewhere
        record = record or str(Path(html).parent / "record.jsonl")
        config.option.xmlpath = config.option.xmlpath or str(Path(html).parent / "junit.xml")
    session = BenchSession(config.getoption("--station"), Path(record) if record else None,
                           Path(config.rootpath), config.getoption("--defect"),
                           config.getoption("--operator"))
    try:
        session.profile  # noqa: B018 - load now so a wrong profile stops the run at once
    except StationError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[SESSION] = session
    endings.install_sigterm()
    hooks = endings.EndingHooks(config, session, _record_aborted)
    config.pluginmanager.register(hooks, "citebench-endings")
    if config.pluginmanager.hasplugin("html"):
        from bench import report

        config.pluginmanager.register(report.HtmlHooks(session), "citebench-html")


def bench_session(config: pytest.Config) -> BenchSession:
    return config.stash[SESSION]


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
    item.stash[PHASES][call.when] = (report, call.excinfo)
    endings.report_bench_error(report, call)
    if call.when == "call" and item.config.pluginmanager.hasplugin("html"):
        from bench.report import measurement_extras

        report.extras = [*getattr(report, "extras", []), *measurement_extras(recorder)]
    if call.when == "teardown":
        _record_step(item, recorder)
    return report


def _step_outcome(phases: dict) -> tuple[Outcome, str]:
    worst, message = Outcome.PASS, ""
    for when in ("setup", "call", "teardown"):
        if when not in phases:
            continue
        report, excinfo = phases[when]
        if report.skipped:
            outcome = Outcome.SKIP
        elif report.passed:
            continue
        elif when == "call" and endings.board_fault(excinfo):
            outcome = Outcome.FAIL  # the DUT is out of its specification
        else:
            outcome = Outcome.ERROR  # the bench could not test: a port, a timeout, a bug
        if outcome > worst or not message:
            worst = max(worst, outcome)
            message = str(report.longrepr)[-2000:] if report.longrepr else ""
    return worst, message


def _record_step(item: pytest.Item, recorder: StepRecorder) -> None:
    session = bench_session(item.config)
    phases = item.stash[PHASES]
    endings.after_step(item, phases)
    if session.record is None:
        return
    outcome, message = _step_outcome(phases)
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
