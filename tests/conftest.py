"""Fixtures shared by the test suite (the bench's own fixtures live in `fixtures/`)."""

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from bench.station import DEFAULT_PROFILE, STATION_ENV
from emulators.ws100_board import BoardModel
from protocols.ws100_messages import Mode

# Deterministic fuzzing in CI: the same examples every run, no example database on disk.
settings.register_profile("citebench", derandomize=True, database=None, deadline=None)
settings.load_profile("citebench")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "plan_run: runs `bench run` or plans in a subprocess "
                                       "(seconds each); scripts/mutation leaves these out")


@pytest.fixture(scope="session", autouse=True)
def _bench_active_in_subprocesses() -> Iterator[None]:
    """Plans the suite runs in a subprocess get the emulated station unless they name one; the
    suite's own process stays as pytest without citebench (the plugin is inert unless asked)."""
    previous = os.environ.get(STATION_ENV)
    os.environ.setdefault(STATION_ENV, str(DEFAULT_PROFILE))
    yield
    if previous is None:
        os.environ.pop(STATION_ENV, None)


@pytest.fixture
def board() -> Iterator[BoardModel]:
    """A powered emulated board in RADIO_TEST mode: 20 ms advertising keeps scans short.

    Modules that need another board (an unpowered one behind a supply) define their own.
    """
    board = BoardModel(seed=7)
    board.set_mode(Mode.RADIO_TEST)
    yield board
    board.shutdown()
