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


def test_every_board_has_its_decoders_fuzzed() -> None:
    """A new kit gets a codec target with its own valid frames, and its radio formats are in
    gatt-formats: no decoder of any board is left out of scripts/fuzz."""
    from bench.kits import installed_kits

    kits = installed_kits()
    assert {"ws100", "tracker"} <= set(kits)
    for board, kit in kits.items():
        assert f"{board}-codec" in fuzz.TARGETS and board in fuzz.KIT_FRAMES, board
        if kit.radio_protocol:
            formats = kit.load("radio_protocol").FORMATS
            assert {f"{board}:{uuid}" for uuid in formats} | {f"{board}:manufacturer"} <= set(
                fuzz._radio_formats()), board


@pytest.mark.parametrize("board", sorted(fuzz.KIT_FRAMES))
def test_the_frame_strategies_give_frames_their_codec_decodes(board: str) -> None:
    from bench.kits import installed_kits

    codec = installed_kits()[board].load("codec")()

    @given(fuzz.KIT_FRAMES[board]())
    def decodes(wire: bytes) -> None:
        (event,) = codec.decoder().feed(wire)
        assert not isinstance(event, Exception | str), event

    decodes()
