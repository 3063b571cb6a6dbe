"""scripts/fuzz: every target runs the examples it is asked for, and a crash is reported."""

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.scripts import load_script

fuzz = load_script("fuzz")


@pytest.mark.parametrize("name", list(fuzz.TARGETS))
def test_every_target_runs_its_examples_clean(name: str) -> None:
    out = io.StringIO()
    count, crash = fuzz.fuzz(name, 60, seed=1, out=out)
    assert crash is None
    assert count >= 60  # shrinking never runs without a failure; generation runs them all
    assert out.getvalue().startswith(name) and " ok" in out.getvalue()


def test_a_crash_is_reported_with_its_input(monkeypatch) -> None:
    def broken(tick):
        @given(st.binary(min_size=1, max_size=4))
        def run(data: bytes) -> None:
            tick()
            assert data[0] != 0x42, "the decoder choked on 0x42"
        return run

    monkeypatch.setitem(fuzz.TARGETS, "broken", broken)
    out = io.StringIO()
    count, crash = fuzz.fuzz("broken", 2000, seed=1, out=out)
    assert "CRASH" in out.getvalue()
    assert "the decoder choked on 0x42" in crash
    assert "run(\n    data=b'B',\n)" in crash  # the input, shrunk to the one bad byte
    assert count > 0
