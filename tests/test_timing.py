"""bench.timing: no garbage-collector pass inside a timed section, the collector as it was
after it."""

import gc
from collections.abc import Iterator

import pytest

from bench.timing import undisturbed


class Collections:
    """The collections that start while `timing` is set, with collections as eager as they get
    (a pass at every allocation of a tracked object)."""

    def __init__(self) -> None:
        self.timing = False
        self.during: list[int] = []

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start" and self.timing:
            self.during.append(info["generation"])


@pytest.fixture
def collections() -> Iterator[Collections]:
    seen = Collections()
    threshold = gc.get_threshold()
    gc.set_threshold(1, 1, 1)
    gc.callbacks.append(seen)
    try:
        yield seen
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*threshold)


def _timed_cycles(seen: Collections) -> None:
    seen.timing = True
    for _ in range(100):
        node: list = []
        node.append(node)  # garbage only the collector frees
    seen.timing = False


def test_a_timed_section_sees_no_collection(collections: Collections) -> None:
    _timed_cycles(collections)
    assert collections.during  # outside a section the same allocations start collections
    collections.during.clear()
    with undisturbed():
        _timed_cycles(collections)
    assert collections.during == []
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off() -> None:
    gc.disable()
    try:
        with undisturbed():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
