"""DFU over the SMP GATT service: smpclient through drivers/dfu.py's BleLinkTransport on our BLE
driver (bleak's API, Bumble backend) to the emulated WS-100's radio."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("smpclient", reason="the dfu extra is not installed (pip install -e '.[dfu]')")

from bench.kits import board_kit
from drivers.ble import BleLink, BleRadio
from drivers.dfu import BleLinkTransport, DfuDriver, DfuError, make_key, public_key_der, sign_image
from emulators.radio import RadioFace
from emulators.ws100 import radio_identity
from emulators.ws100_board import BoardModel
from protocols.mcuboot_image import parse_image

ADDRESS = "C0:FF:EE:00:01:23"
RADIO_SPEC = radio_identity(board_kit("ws100").product_spec().data)


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes | Path]:
    where = tmp_path_factory.mktemp("ble-dfu")
    key, stranger = make_key(where / "lab.pem"), make_key(where / "stranger.pem", "ed25519")
    body = random.Random(5).randbytes(6000)
    return {"key": key, "good": sign_image(body, "1.5.0", key, where / "good.bin"),
            "stranger": sign_image(body, "1.5.1", stranger, where / "stranger.bin")}


@pytest.fixture
def link(signed) -> Iterator[tuple[BoardModel, BleLink]]:
    board = BoardModel(seed=9)
    board.bootloader.provision(public_key_der(signed["key"]))
    face = RadioFace(board, **RADIO_SPEC).start()
    try:
        with BleRadio("bumble", face.resource, name="citebench-ws", connect_retries=1,
                      connect_timeout_s=2.0) as radio, radio.connect(ADDRESS) as link:
            yield board, link
    finally:
        face.close()


def test_upload_and_test_over_ble(link, signed) -> None:
    board, ble = link
    seen: list[int] = []
    with DfuDriver(ADDRESS, BleLinkTransport(ble)) as dfu:
        result = dfu.upload(signed["good"], progress=lambda off, size: seen.append(off))
        assert seen[-1] == len(signed["good"]) and len(seen) > 1  # in several chunks
        slots = dfu.images()
        assert [s.version for s in slots] == ["1.4.2", "1.5.0"]
        assert slots[1].hash == parse_image(signed["good"]).hash == \
            board.bootloader.slots[1].hash
        dfu.test(slots[1].hash)
        assert dfu.images()[1].pending
        assert result.started_at == 0
        long = "citebench " * 60  # an answer longer than one notification carries
        assert dfu.echo(long) == long


def test_refusal_code_over_ble(link, signed) -> None:
    _, ble = link
    with DfuDriver(ADDRESS, BleLinkTransport(ble)) as dfu:
        dfu.upload(signed["stranger"])
        with pytest.raises(DfuError) as refused:
            dfu.test(dfu.images()[1].hash)
    assert refused.value.code == "IMG_MGMT_ERR.INVALID_TLV"
    assert ADDRESS in str(refused.value)

