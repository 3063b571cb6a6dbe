"""How a run ends, recorded: the signal, the lost resource or the crash that ended it, the step
it interrupted (ABORTED) and the steps it never reached (not run, with the reason once).

    ending = RunEnding(planned=["t.py::a", "t.py::b"])
    ending.recorded("t.py::a"); ending.lost("t.py::a", PortLostError("/dev/pts/3 vanished"))
    ending.summary()  # {"cause": "resource_lost", ..., "not_run": ["t.py::b"], ...}

pytest by itself forgets the step a Ctrl-C or SIGTERM interrupts (no report is made for it) and
runs every remaining step after a port has gone, each failing with the same error. The plugin
feeds this object from its hooks; the record gets its summary in the `end` event, and pytest's
console and JUnit file get the same facts as reports (the interrupted step as an error, the
steps not run as skipped), so the three agree.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType

import pytest

from bench.session import BenchSession
from drivers.errors import ResourceLostError

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """The run's one handler for SIGINT, SIGTERM and SIGHUP (Ctrl-C, a CI runner's cancel, a
    closed terminal). The callbacks (the supplies' all-off) run at once, wherever the signal
    lands. Inside a step's set-up or body it then stops the step (KeyboardInterrupt: the step
    is ABORTED and its fixtures clean up); inside an import, as soon as the fixture or the step
    body importing returns. Anywhere else (a clean-up included) it waits for the next step
    boundary, where no further step starts:
    raised there, it lands in code that cannot take one (pytest's assertion rewriter compiling
    an import fails with SystemError, a crash with exit code 1: a FAIL nobody earned), or kills
    the process after its last step with the record half written. A second signal while one
    waits stops at once."""

    def __init__(self) -> None:
        self.pending = ""  # the stop a signal asked for outside a step, not yet acted on
        self.in_step = False
        self.on_signal: list[Callable[[str], str]] = []  # signal name -> note ("" for none)
        self._previous: dict[int, object] = {}

    def install(self) -> bool:
        """Handle the signals from now on (main thread only); False if already installed."""
        if threading.current_thread() is not threading.main_thread() or self._previous:
            return False
        self._previous = {signum: signal.signal(signum, self._handle) for signum in SIGNALS}
        return True

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous = {}

    def at_boundary(self) -> None:
        """Between steps: act on a signal that came outside one."""
        if self.pending:
            message, self.pending = self.pending, ""
            raise KeyboardInterrupt(message)

    def _handle(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        notes = [note for note in (callback(name) for callback in list(self.on_signal)) if note]
        message = ": ".join([name, *notes])
        if self.pending or (self.in_step and not _importing(frame)):
            raise KeyboardInterrupt(message)
        self.pending = message


def _importing(frame: FrameType | None) -> bool:
    """Whether the signal landed inside an import: pytest rewrites the asserts of every module
    of an entry-point plugin's distribution (ours: drivers, emulators...) as it is imported, and
    an exception inside that compile crashes pytest itself. Plans and fixtures import lazily."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


STOP = StopSignals()


def lost_resource(phases: dict) -> BaseException | None:
    """The ResourceLostError that ended one of a step's phases, if any."""
    for when in ("setup", "call", "teardown"):
        excinfo = phases[when][1] if when in phases else None
        if excinfo is not None and excinfo.errisinstance(ResourceLostError):
            return excinfo.value
    return None


@dataclass
class RunEnding:
    planned: list[str] = field(default_factory=list)
    done: set[str] = field(default_factory=set)
    running: str = ""
    running_since: float = 0.0
    cause: str = ""  # signal, resource_lost, stopped, exception
    detail: str = ""
    step: str = ""  # the step that was running (signal) or that lost the resource

    def started(self, nodeid: str) -> None:
        self.running, self.running_since = nodeid, time.time()

    def recorded(self, nodeid: str) -> None:
        self.done.add(nodeid)
        self.running = ""

    def lost(self, nodeid: str, error: BaseException) -> None:
        if not self.cause:
            self.cause, self.detail, self.step = ("resource_lost",
                                                  f"{type(error).__name__}: {error}", nodeid)

    def interrupted(self, error: BaseException) -> str:
        """A KeyboardInterrupt (Ctrl-C, SIGTERM, a stop the plugin asked for) ended the run; the
        step it interrupted, "" when none was running or it was already recorded."""
        if not self.cause:
            reason = str(error).split("\n")[0]
            self.cause, self.detail = "signal", reason or "SIGINT (Ctrl-C)"
            self.step = self.running
        return self.running if self.running not in self.done else ""

    def stopped(self, reason: str) -> None:
        """pytest stopped early by itself (`-x`, `--maxfail`)."""
        if not self.cause and reason:
            self.cause, self.detail = "stopped", reason

    def crashed(self, detail: str) -> None:
        if not self.cause:
            self.cause, self.detail = "exception", detail

    @property
    def not_run(self) -> list[str]:
        return [n for n in self.planned if n not in self.done and n != self.running]

    @property
    def not_run_reason(self) -> str:
        if self.cause == "resource_lost":
            return f"the run stopped after {self.step} lost a resource: {self.detail}"
        if self.cause:
            return f"the run ended ({self.cause}: {self.detail})"
        return "not reached"

    def summary(self) -> dict | None:
        """The `ending` of the record's end event; None when the run simply ran out of steps."""
        not_run = self.not_run
        if not self.cause and not not_run:
            return None
        return {"cause": self.cause or "unknown", "detail": self.detail, "step": self.step,
                "planned": len(self.planned), "not_run": not_run,
                "not_run_reason": self.not_run_reason}


def aborted_report(item: pytest.Item, reason: str, start: float, stop: float) -> pytest.TestReport:
    """The console's and JUnit's view of a step a signal interrupted: an error, as the record's
    ABORTED is (pytest makes no report of its own for it)."""
    return pytest.TestReport(item.nodeid, item.location, {}, "failed",
                             f"ABORTED: the run was ended by {reason} while this step ran",
                             "setup", [], stop - start, start, stop)


def not_run_report(item: pytest.Item, reason: str) -> pytest.TestReport:
    """The console's and JUnit's view of a step the run never reached: skipped, with the reason."""
    path, line, _ = item.location
    return pytest.TestReport(item.nodeid, item.location, {}, "skipped",
                             (str(path), (line or 0) + 1, f"not run: {reason}"), "setup", [])


ENDING = pytest.StashKey[RunEnding]()
ITEMS = pytest.StashKey[dict]()


def of(config: pytest.Config) -> RunEnding:
    return config.stash.setdefault(ENDING, RunEnding())


def after_step(item: pytest.Item, phases: dict) -> None:
    """A step has ended: note it, and stop the run if it lost a resource the bench needs."""
    ending = of(item.config)
    ending.recorded(item.nodeid)
    error = lost_resource(phases)
    if error is not None:
        ending.lost(item.nodeid, error)
        item.session.shouldstop = f"{item.nodeid} lost a resource: {error}"


class EndingHooks:
    """The plugin's hooks that see a run end; registered by bench.plugin."""

    def __init__(self, config: pytest.Config, bench: BenchSession, record_aborted) -> None:
        self._config = config
        self.bench = bench
        self.record_aborted = record_aborted  # (item, message) -> None: writes the ABORTED step

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        planned = [item.nodeid for item in session.items]
        of(session.config).planned = self.bench.planned = planned
        session.config.stash[ITEMS] = {item.nodeid: item for item in session.items}

    @pytest.hookimpl(tryfirst=True, wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        STOP.at_boundary()
        of(item.config).started(item.nodeid)
        STOP.in_step = True
        try:
            return (yield)
        finally:
            STOP.in_step = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self) -> None:
        STOP.in_step = False  # a clean-up cut short would leave it half done: it goes on

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self) -> Iterator[None]:
        result = yield
        if STOP.in_step:  # a signal that came during an import the fixture made
            STOP.at_boundary()
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self) -> Iterator[None]:
        result = yield
        STOP.at_boundary()  # a signal that came during an import the body made
        return result

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo) -> None:
        config = self._config
        ending = of(config)
        nodeid = ending.interrupted(excinfo.value)
        item = config.stash.get(ITEMS, {}).get(nodeid)
        if item is None:
            return
        start = ending.running_since
        message = f"ABORTED: the run was ended by {ending.detail} while this step ran"
        self.record_aborted(item, message)
        ending.recorded(nodeid)
        ending.running = nodeid  # still the interrupted one: not counted as not run
        config.hook.pytest_runtest_logreport(
            report=aborted_report(item, ending.detail, start, time.time()))

    def pytest_internalerror(self, excrepr: object) -> None:
        of(self._config).crashed(str(excrepr).strip().split("\n")[-1])


def finish(session: pytest.Session) -> dict | None:
    """At the session's end: steps never reached go to the console and JUnit as skipped (with
    the reason), and the record's `ending` is returned."""
    ending = of(session.config)
    ending.stopped(str(session.shouldfail or ""))
    items = session.config.stash.get(ITEMS, {})
    summary = ending.summary()
    if summary is not None:
        for nodeid in summary["not_run"]:
            if nodeid in items:
                session.config.hook.pytest_runtest_logreport(
                    report=not_run_report(items[nodeid], summary["not_run_reason"]))
    return summary
