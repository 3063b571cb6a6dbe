"""FAIL or ERROR: only the plan's own checks and the board's own answers can FAIL a board.

    outcome, message = step_outcome(phases, Path("testplans/ws100/test_link.py"), [])

A step FAILs when, in its body, a measurement is out of limits (the plugin fails the step with
no exception), the board answers out of its specification (a `drivers.errors.DutError`), or an
`assert` of the plan itself fails: the frame that raised the `AssertionError` is in the plan's
own file. The same `AssertionError` raised anywhere else (a driver, Bumble, bleak, a fixture,
a helper module) is a bench bug, not a finding about the board: ERROR, as is anything else
that stops a step (a lost port, a timeout). OpenHTF's `failure_exceptions` draws the same line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.measure import Outcome
from drivers.errors import DutError


def raised_in(error: BaseException, plan: Path) -> bool:
    """Whether the innermost frame of `error`'s traceback (where it was raised, however far it
    was re-raised since) runs code of the file `plan`."""
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve() == plan.resolve()


def board_fault(when: str, excinfo: pytest.ExceptionInfo | None, plan: Path) -> bool:
    """Whether a failed phase (`setup`, `call`, `teardown`) of a test in `plan` is the board's
    (FAIL) rather than the bench's (ERROR)."""
    if excinfo is None:
        return when == "call"  # a body that ran through with a measurement out of limits
    if excinfo.errisinstance(DutError):
        return True
    return (when == "call" and excinfo.errisinstance(AssertionError)
            and raised_in(excinfo.value, plan))


def step_outcome(phases: dict, plan: Path, bench_faults: list[str]) -> tuple[Outcome, str]:
    """The step's outcome and message from its phases' (report, excinfo, text as raised): the
    worst phase wins; a FAIL during a fault of the bench itself is the bench's ERROR."""
    worst, message = Outcome.PASS, ""
    for when in ("setup", "call", "teardown"):
        if when not in phases:
            continue
        report, excinfo, text = phases[when]
        if report.skipped:
            outcome = Outcome.SKIP
        elif report.passed:
            continue
        else:
            outcome = Outcome.FAIL if board_fault(when, excinfo, plan) else Outcome.ERROR
        if outcome > worst or not message:
            worst = max(worst, outcome)
            message = text[-2000:]
    if worst is Outcome.FAIL and bench_faults:
        return Outcome.ERROR, ("bench fault during a failed step, so the failure is not the "
                               "board's: " + "; ".join(bench_faults) + "\n" + message)[-2000:]
    return worst, message


def report_bench_error(report: pytest.TestReport, call: pytest.CallInfo, plan: Path) -> None:
    """Make the console and JUnit count a test body that failed for the bench's reason as an
    error, as the record does: both count a failed `call` as a failure and anything else as an
    error, so the report's phase is set to setup (its traceback still shows where it happened)."""
    if call.when == "call" and report.failed and not board_fault("call", call.excinfo, plan):
        report.when = "setup"
