"""QEMU station profiles: a wrong key or firmware defect is one StationError naming it (no QEMU
needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.station import StationError, load_station

ROOT = Path(__file__).resolve().parent.parent
STATION = ROOT / "fixtures" / "ws100-qemu.toml"
IMAGE = ROOT / "firmware" / "ws100" / "build" / "ws100.elf"


def test_station_errors_name_the_key(tmp_path: Path) -> None:
    text = STATION.read_text()
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace('firmware = "../firmware/ws100/build/ws100.elf"\n', ""))
    with pytest.raises(StationError, match=r"\[emulator\]: kind \"qemu\" needs firmware"):
        load_station(broken)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(text.replace("defects = []", 'defects = ["stuck-sensr"]').replace(
        "../firmware/ws100/build/ws100.elf", str(IMAGE)))
    with pytest.raises(StationError, match=r"unknown firmware defect.*stuck-sensr.*known: crc8"):
        load_station(wrong)


def test_a_qemu_station_with_an_emulated_radio_is_refused(tmp_path: Path) -> None:
    radio = tmp_path / "radio.toml"
    radio.write_text(STATION.read_text().replace("../firmware/ws100/build/ws100.elf", str(IMAGE))
                     + '\n[radio]\nresource = "emulator"\nbackend = "bumble"\n')
    with pytest.raises(StationError, match=r"kind \"qemu\" has no radio"):
        load_station(radio)
