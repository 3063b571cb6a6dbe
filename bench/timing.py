"""Timed sections of a plan, kept clear of the host's own pauses.

    with undisturbed():
        rtts = [dut.ping() for _ in range(50)]

A full collection of Python's cyclic garbage collector stops every thread of the bench for as
long as it takes to walk every object: 50-130 ms in a run's process (the drivers, Bumble, the
emulated board and instruments when they run there), measured on the CI machine. Landing in a
50-PING loop it was one round trip of 99 ms against a 60 ms limit: the host's pause, not the
board's. As `timeit` does, a timed section runs with the collector off; it runs again after
(reference counting frees everything else meanwhile).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def undisturbed() -> Iterator[None]:
    """The garbage collector off for the section (left as it was after)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
