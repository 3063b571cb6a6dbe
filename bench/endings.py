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
from dataclasses import dataclass, field

import pytest

from bench.session import BenchSession
from drivers.errors import ResourceLostError


def install_sigterm() -> None:
    """Make SIGTERM (a CI runner's cancel, `kill`) end the run as Ctrl-C does, through
    KeyboardInterrupt, instead of killing the process before anything is recorded. A handler
    already installed by someone else is left in place."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt("SIGTERM")


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

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> None:
        of(item.config).started(item.nodeid)

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
