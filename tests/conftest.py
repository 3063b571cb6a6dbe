"""Fixtures shared by the test suite (the bench's own fixtures live in `fixtures/`)."""

from collections.abc import Iterator

import pytest
from hypothesis import settings

from emulators.board import BoardModel
from protocols.messages import Mode

# Deterministic fuzzing in CI: the same examples every run, no example database on disk.
settings.register_profile("citebench", derandomize=True, database=None, deadline=None)
settings.load_profile("citebench")


@pytest.fixture
def board() -> Iterator[BoardModel]:
    """A powered emulated board in RADIO_TEST mode: 20 ms advertising keeps scans short.

    Modules that need another board (an unpowered one behind a supply) define their own.
    """
    board = BoardModel(seed=7)
    board.set_mode(Mode.RADIO_TEST)
    yield board
    board.shutdown()
