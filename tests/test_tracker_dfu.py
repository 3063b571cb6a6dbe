"""The tracker's MCUboot and SMP GATT service: smpclient through drivers/dfu.py's BleLinkTransport
on our BLE driver (bleak's API, Bumble backend) to the emulated tracker's radio, at its ATT MTU
of 23. A reset drops the link, as the real tracker's radio restarts with its MCU."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("smpclient", reason="the dfu extra is not installed (pip install -e '.[dfu]')")

from drivers.ble import BleRadio
from drivers.dfu import BleLinkTransport, DfuDriver, DfuError, make_key, public_key_der, sign_image
from emulators.tracker_board import TrackerBoard
from emulators.tracker_radio import NUS_SERVICE, NusFace

ADDRESS = "F0:CA:FE:00:2A:17"  # the emulated tracker's


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes | Path]:
    where = tmp_path_factory.mktemp("tracker-dfu")
    key = make_key(where / "lab.pem")
    return {"key": key, "image": sign_image(random.Random(8).randbytes(3000), "2.2.0", key,
                                            where / "image.bin")}


@contextmanager
def tracker(signed, *defects: str) -> Iterator[tuple[TrackerBoard, BleRadio]]:
    board = TrackerBoard(seed=4, defects=defects)
    board.bootloader.provision(public_key_der(signed["key"]))
    face = NusFace(board).start()
    try:
        with BleRadio("bumble", face.resource, name="cb-track", connect_retries=2,
                      connect_timeout_s=2.0) as radio:
            yield board, radio
    finally:
        face.close()


def _reset(radio: BleRadio, dfu: DfuDriver, link) -> tuple[DfuDriver, object]:
    """SMP reset, the link lost with the board's radio, a new connection and its driver."""
    dfu.reset()
    assert link.wait_disconnected(10.0), "the link outlived the tracker's reset"
    dfu.close()
    fresh = radio.connect(ADDRESS)
    return DfuDriver(ADDRESS, BleLinkTransport(fresh)).open(), fresh


@pytest.mark.parametrize(("defects", "after_second_reset"), [
    ((), "2.1.0"), (("dfu-no-revert",), "2.2.0")])
def test_tested_image_runs_once_then_reverts(signed, defects, after_second_reset) -> None:
    """Upload in 20-byte writes, test, reset: the new image runs (IDENTIFY's firmware follows,
    one board state); unconfirmed, the next reset reverts, unless MCUboot never reverts."""
    with tracker(signed, *defects) as (board, radio):
        link = radio.connect(ADDRESS)
        dfu = DfuDriver(ADDRESS, BleLinkTransport(link)).open()
        assert link.mtu == 23
        dfu.upload(signed["image"])
        dfu.test(dfu.images()[1].hash)
        dfu, link = _reset(radio, dfu, link)
        assert (dfu.images()[0].version, board.identity.firmware) == ("2.2.0", "2.2.0")
        dfu, link = _reset(radio, dfu, link)
        assert board.identity.firmware == after_second_reset
        dfu.close()
        link.disconnect()


def test_no_confirm_defect_denies_confirming(signed) -> None:
    with tracker(signed, "dfu-no-confirm") as (_, radio), radio.connect(ADDRESS) as link, \
            DfuDriver(ADDRESS, BleLinkTransport(link)) as dfu, pytest.raises(DfuError) as refused:
        dfu.confirm()
    assert refused.value.code == "IMG_MGMT_ERR.IMAGE_CONFIRMATION_DENIED"


def test_without_the_dfu_extra_the_radio_serves_nus_only(monkeypatch) -> None:
    """No smp package: the tracker's radio is the one without mcumgr, not a broken one."""
    monkeypatch.setitem(sys.modules, "emulators.smp_server", None)  # as if never installable
    face = NusFace(TrackerBoard(seed=1))
    assert [str(service.uuid).lower() for service in face.services()] == [NUS_SERVICE.lower()]
