"""The software identity a lab needs to reproduce a run: versions and the plans' git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import bench

KEY_PACKAGES = ("pytest", "pytest-html", "pyserial", "construct", "pyvisa", "pyvisa-py", "bleak",
                "bumble")


def _git(plan_dir: Path, *args: str) -> str | None:
    try:
        # no optional lock: `git status` refreshing the index must never leave an index.lock
        # behind in the lab's repository when the run is killed or its disk is full
        done = subprocess.run(["git", "-C", str(plan_dir), *args], capture_output=True,
                              text=True, timeout=10, check=True,
                              env=os.environ | {"GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def software_identity(plan_dir: Path) -> dict:
    """citebench version, test-plan commit (and whether the tree was dirty), Python and packages."""
    packages = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    status = _git(plan_dir, "status", "--porcelain", "--", ".")
    return {
        "citebench": bench.__version__,
        "testplan_commit": _git(plan_dir, "rev-parse", "HEAD"),
        "testplan_dirty": None if status is None else bool(status),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
    }
