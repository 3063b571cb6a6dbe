"""bench/zygote.py: slots forked from one warmed interpreter are processes as Popen's are."""

from __future__ import annotations

import os
import select
import signal
from pathlib import Path

import pytest

from bench.zygote import Zygote, ZygoteError


def _probe(zygote: Zygote, argv: list[str], log: Path, held: int, **env: str):
    return zygote.spawn("tests.zygote_probe", argv, log=log, env=os.environ | env,
                        held={"PROBE_HELD_FD": held}, name="bench-probe", cwd=log.parent)


def test_a_forked_slot_gets_its_arguments_session_folder_environment_log_and_descriptor(
        tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    log = tmp_path / "slot.log"
    with Zygote.start(tmp_path / "zygote.log") as zygote:
        slot = _probe(zygote, ["7"], log, write_end, PROBE_VARIABLE="passed")
        os.close(write_end)
        assert slot.wait() == 7
    with os.fdopen(read_end, "rb") as held:  # end-of-file: nobody else kept a copy
        assert held.read() == b"written through the held descriptor\n"
    assert log.read_text().splitlines() == [
        "argv ['7']", "session leader True", f"cwd {tmp_path}", "name bench-probe",
        "variable passed", "to stderr", "atexit ran"]


def test_a_killed_slot_reports_the_signal_while_another_ends_with_its_code(
        tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    with Zygote.start(tmp_path / "zygote.log") as zygote:
        victim = _probe(zygote, ["wait"], tmp_path / "victim.log", write_end)
        other = _probe(zygote, ["3"], tmp_path / "other.log", write_end)
        os.close(write_end)
        assert select.select([read_end], [], [], 60)[0] and os.read(read_end, 8) == b"waiting\n"
        os.kill(victim.pid, signal.SIGKILL)
        assert (victim.wait(), other.wait()) == (-signal.SIGKILL, 3)
    os.close(read_end)


def test_a_gone_zygote_is_an_error_naming_its_log(tmp_path: Path) -> None:
    log = tmp_path / "zygote.log"
    with Zygote.start(log) as zygote:
        zygote.process.kill()
        zygote.process.wait()
        with pytest.raises(ZygoteError, match=rf"zygote \(pid {zygote.process.pid}\) is gone "
                                              rf"\(exit -9.*its log {log}"):
            _probe(zygote, ["0"], tmp_path / "slot.log", 2)
