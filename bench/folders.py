"""Whether the reports folder can take what a command writes, asked before anything is powered.

    check("reports")                    # FolderError: one line naming the folder and the reason
    with writing_into(Path("reports")):  # the same, and an OSError or SQLite error on the way
        ...                             # (the disk filled, a sub-folder read-only) becomes one

A run into a read-only or full folder used to power the board, measure, then end in a traceback
with exit 1 (FAIL for a good board), or in pytest's INTERNALERROR and an empty record. The bench
cannot test then, so it says so first: exit 3 (ERROR) with one line, nothing written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

MIN_FREE = 32 * 2**20  # a run's record, report, JUnit file and pages with room (bytes)


class FolderError(Exception):
    """The reports folder cannot take a run: not writable, or too full."""


def check(root: Path, min_free: int | None = None) -> None:
    """Create `root` if needed, write and delete a file in it, and require `min_free` bytes free
    (MIN_FREE by default)."""
    needed = MIN_FREE if min_free is None else min_free
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=root, prefix=".writable.")
        os.close(fd)
        os.unlink(probe)
        free = shutil.disk_usage(root).free
    except FileExistsError:
        raise FolderError(f"reports folder {root} is a file, not a folder") from None
    except OSError as error:
        raise FolderError(f"reports folder {root} is not writable: "
                          f"{error.strerror or error}") from None
    if free < needed:
        raise FolderError(f"reports folder {root} has {free / 2**20:.1f} MiB free; the bench "
                          f"needs {needed / 2**20:.0f} MiB to write into it")


@contextlib.contextmanager
def writing_into(root: Path, min_free: int | None = None) -> Iterator[None]:
    """`check(root)`, then turn a write that fails on the way into a FolderError naming it."""
    check(root, min_free)
    try:
        yield
    except (OSError, sqlite3.Error) as error:
        raise FolderError(f"reports folder {root}: {error}") from None
