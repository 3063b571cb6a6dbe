"""What `bench run` exits with: a CI job or a lab script tells a bad board from a broken bench.

    0 PASS     every step passed (skips allowed)
    1 FAIL     the board is out of its specification
    2 USAGE    the command line, the station profile or the plans chosen are wrong (a plan of
               another board, a plan that does not exist); nothing was powered
    3 ERROR    the bench could not test: a port, an instrument, a bug, or no record written;
               a lost resource (drivers.errors.ResourceLostError) stops the run with this code
    4 ABORTED  the run was stopped (signal, Ctrl-C) before it finished

INCOMPLETE has no code: it is the verdict folder of a run whose process was killed (SIGKILL, a
power cut) and so exited with nothing; the later `bench run` that archives it exits with its own
run's verdict, and `for_verdict("INCOMPLETE")` is ERROR for a script that reads it from an index.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    PASS = 0
    FAIL = 1
    USAGE = 2
    ERROR = 3
    ABORTED = 4


def for_verdict(verdict: str) -> ExitCode:
    """The exit code of a run whose record ended with `verdict` (a SKIP-only run passes)."""
    return ExitCode[verdict] if verdict in ExitCode.__members__ else (
        ExitCode.PASS if verdict == "SKIP" else ExitCode.ERROR)
