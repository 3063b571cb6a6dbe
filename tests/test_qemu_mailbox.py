"""The mailbox ABI: emulators/qemu_mailbox.py and firmware/ws100/mailbox.h agree (no QEMU)."""

from __future__ import annotations

import re
from pathlib import Path

from emulators.qemu_mailbox import MAGIC, VERSION, Layout, Mailbox

HEADER = Path(__file__).resolve().parent.parent / "firmware" / "ws100" / "mailbox.h"


def test_mailbox_layout_matches_the_firmware_header() -> None:
    """emulators/qemu_mailbox.Layout and firmware/ws100/mailbox.h: same fields, same offsets."""
    header = HEADER.read_text()
    declared = {name: int(offset, 16) for name, offset in
                re.findall(r"^\s+\w+ (\w+)(?:\[\d+\])?;\s+/\* (0x[0-9A-F]+)", header, re.M)}
    assert declared == {name: getattr(Layout, name).offset for name, _ in Layout._fields_}
    assert f"MAILBOX_MAGIC 0x{MAGIC:08X}u" in header and f"MAILBOX_VERSION {VERSION}u" in header


def test_a_new_mailbox_holds_magic_version_and_the_serial_in_flash(tmp_path: Path) -> None:
    with Mailbox.create(tmp_path / "ram", seed=5, serial="CB-WS1-000042") as box:
        raw = (tmp_path / "ram").read_bytes()[:0x2C + 14]
        assert raw[:4] == b"CBMB" and raw[4:6] == b"\x01\x00"
        assert int.from_bytes(raw[6:8], "little") == 300
        assert raw[0x2C:] == b"\x0dCB-WS1-000042"
        assert box.serial == "CB-WS1-000042"
