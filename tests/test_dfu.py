"""DFU over SMP on the emulated WS-100's UART: smpclient through drivers/dfu.py, images signed by
imgtool with keys made for this session, checked by the emulated MCUboot."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cbor2
import pytest
import serial
from smp import header as smphdr
from smp import packet as smppacket
from smp.os_management import EchoWriteRequest

pytest.importorskip("smpclient", reason="the dfu extra is not installed (pip install -e '.[dfu]')")

from drivers.dfu import DfuDriver, DfuError, make_key, public_key_der, sign_image, uart_handover
from drivers.serial_link import SerialLink
from drivers.ws100 import Ws100Driver
from drivers.ws100_codec import Ws100Codec
from emulators.serial_transport import open_transport
from emulators.ws100_board import BoardEvent, BoardModel
from emulators.ws100_serial import SerialFace
from protocols.mcuboot_image import key_hash

BODY = random.Random(20).randbytes(24 * 1024)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("keys")
    return {name: make_key(where / f"{name}.pem", kind) for name, kind in
            (("lab", "ecdsa-p256"), ("ed", "ed25519"), ("stranger", "ecdsa-p256"))}


@pytest.fixture(scope="session")
def images(keys: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    where = tmp_path_factory.mktemp("images")
    made = {"v150": sign_image(BODY, "1.5.0", keys["lab"], where / "v150.bin"),
            "v160_ed": sign_image(BODY[::-1], "1.6.0", keys["ed"], where / "v160.bin"),
            "stranger": sign_image(BODY, "1.5.1", keys["stranger"], where / "s.bin"),
            "old": sign_image(BODY, "1.3.0", keys["lab"], where / "old.bin")}
    tampered = bytearray(made["v150"])
    tampered[0x200 + 100] ^= 0x01  # one body bit: the SHA256 TLV no longer matches
    made["tampered"] = bytes(tampered)
    # a stranger's signature under the lab key's KEYHASH: only the signature check refuses it
    made["forged"] = made["stranger"].replace(key_hash(public_key_der(keys["stranger"])),
                                              key_hash(public_key_der(keys["lab"])))
    return made


def _board(keys: dict[str, Path], *defects: str) -> BoardModel:
    board = BoardModel(seed=3, defects=defects)
    board.bootloader.provision(public_key_der(keys["lab"]))
    board.bootloader.provision(public_key_der(keys["ed"]))
    return board


@pytest.fixture
def station(keys) -> Iterator[tuple[BoardModel, SerialFace]]:
    board = _board(keys)
    with SerialFace(board, open_transport("pty")) as face:
        yield board, face


def _versions(dfu: DfuDriver) -> list[str]:
    return [slot.version for slot in dfu.images()]


def test_update_test_reset_confirm(station, images) -> None:
    board, face = station
    seen: list[int] = []
    with DfuDriver(face.port) as dfu:
        assert _versions(dfu) == ["1.4.2"]
        result = dfu.upload(images["v150"], progress=lambda off, size: seen.append(off))
        assert seen[-1] == len(images["v150"]) and seen == sorted(seen)
        slots = dfu.images()
        assert [s.version for s in slots] == ["1.4.2", "1.5.0"]
        dfu.test(slots[1].hash)
        assert dfu.images()[1].pending
        dfu.reset()
        dfu.wait_alive(2.0)
        running = dfu.images()[0]
        assert (running.version, running.confirmed) == ("1.5.0", False)
        assert board.identity.firmware == "1.5.0"  # the banner and GET_INFO follow the image
        dfu.confirm()
        dfu.reset()
        dfu.wait_alive(2.0)
        assert dfu.images()[0].version == "1.5.0" and dfu.images()[0].confirmed
        assert result.started_at == 0


def test_unconfirmed_image_reverts_and_ed25519_verifies(station, images) -> None:
    _, face = station
    with DfuDriver(face.port) as dfu:
        dfu.upload(images["v160_ed"])
        dfu.test(dfu.images()[1].hash)
        dfu.reset()
        dfu.wait_alive(2.0)
        assert _versions(dfu)[0] == "1.6.0"
        dfu.reset()  # not confirmed: MCUboot swaps back
        dfu.wait_alive(2.0)
        assert dfu.images()[0].version == "1.4.2" and dfu.images()[0].confirmed


def test_reset_to_alive_is_the_boot_not_an_smp_timeout(keys, images) -> None:
    """The board is deaf while MCUboot swaps (dfu.swap_s 0.4 s): echoes sent then are lost, as
    on a real UART, and the measured time is the boot within a poll, not one 2.5 s timeout."""
    board = _board(keys)
    board.bootloader.swap_s = 0.4
    with SerialFace(board, open_transport("pty")) as face, DfuDriver(face.port) as dfu:
        dfu.upload(images["v150"])
        dfu.test(dfu.images()[1].hash)
        dfu.reset()
        alive = dfu.wait_alive(5.0)
        assert 0.4 <= alive < 0.4 + 0.06 + 0.5, alive  # swap, firmware start, a few polls
        assert dfu.images()[0].version == "1.5.0"


def test_an_echo_answered_after_its_poll_leaves_no_answer_behind(station, monkeypatch) -> None:
    """Every echo outlives a 0.1 ms poll: the board's late answers are read off, so the next
    request gets its own answer (no SMPBadSequence)."""
    _, face = station
    monkeypatch.setattr("drivers.dfu.UrlSerialTransport.alive_poll_s", 1e-4)
    with DfuDriver(face.port) as dfu:
        assert dfu.wait_alive(2.0) < 2.0
        assert _versions(dfu) == ["1.4.2"]
        assert dfu.echo("after") == "after"
        assert any("echo answered" in line for line in dfu.exchange)


@pytest.mark.parametrize(("image", "code"), [
    ("stranger", "IMG_MGMT_ERR.INVALID_TLV"),
    ("tampered", "IMG_MGMT_ERR.INVALID_HASH"),
    ("forged", "IMG_MGMT_ERR.INVALID_TLV"),
])
def test_bad_images_are_refused_at_test(station, images, image: str, code: str) -> None:
    _, face = station
    with DfuDriver(face.port) as dfu:
        dfu.upload(images[image])
        with pytest.raises(DfuError) as refused:
            dfu.test(dfu.images()[1].hash)
        assert refused.value.code == code
        dfu.reset()
        dfu.wait_alive(2.0)
        assert _versions(dfu)[0] == "1.4.2"


def test_downgrade_refused_at_first_chunk(station, images) -> None:
    _, face = station
    with DfuDriver(face.port) as dfu, pytest.raises(DfuError) as refused:
        dfu.upload(images["old"])
    assert refused.value.code == "IMG_MGMT_ERR.CURRENT_VERSION_IS_NEWER"
    assert "image upload" in str(refused.value) and face.port in str(refused.value)


def test_power_cut_mid_upload_resumes_at_server_offset(station, images) -> None:
    board, face = station
    acked: list[int] = []

    def cut(offset: int, size: int) -> None:
        acked.append(offset)
        if len(acked) == 3:
            board.supply(0.0)  # the supply drops in the middle of the upload

    with DfuDriver(face.port, timeout_s=0.5) as dfu, pytest.raises(TimeoutError):
        dfu.upload(images["v150"], progress=cut)
    board.supply(3.7)
    with DfuDriver(face.port) as dfu:
        dfu.wait_alive(2.0)
        result = dfu.upload(images["v150"])
        assert result.started_at == acked[-1]
        assert dfu.images()[1].version == "1.5.0"


def test_smp_and_frames_share_the_uart(station, images) -> None:
    """Telemetry streams before the handover, the board's frames work after it, and the SMP
    lines in between never reach the board's frame decoder as a bad frame."""
    _, face = station
    link = SerialLink(face.port, Ws100Codec()).open()
    board = Ws100Driver(link)
    board.set_stream(True, 50)
    with uart_handover(board) as port, DfuDriver(port) as dfu:
        dfu.upload(images["v150"])
    try:
        board.ping()
        assert board.get_info().firmware == "1.4.2"
        assert board.link.stats.damaged == 0 and not board.link.errors
    finally:
        board.link.close()


def test_smp_survives_telemetry_on_the_same_uart(station, images) -> None:
    """A board streaming frames while SMP runs: the client sets the frames aside as serial data
    and every SMP answer still parses (the server writes each answer in one piece)."""
    board, face = station
    board.set_stream(True, 100)
    with DfuDriver(face.port) as dfu:
        dfu.upload(images["v150"])
        assert _versions(dfu) == ["1.4.2", "1.5.0"]


def test_smp_delimiter_inside_a_frame_stays_the_frames(station) -> None:
    """A PING whose payload starts like an SMP line (06 09 ... \\n) is echoed byte for byte: the
    board takes SMP lines only between its own frames."""
    _, face = station
    with SerialLink(face.port, Ws100Codec()) as link:
        data = b"\x06\x09AAtBBB==\n" + bytes(range(32))
        board = Ws100Driver(link)
        board.ping(data)  # raises ReplyMismatchError if the echo differs
        assert link.stats.damaged == 0


def test_image_format_errors_name_the_offset(images) -> None:
    from protocols.mcuboot_image import ImageFormatError, parse_image

    with pytest.raises(ImageFormatError, match="offset 0: header magic"):
        parse_image(b"\x00" * 64)
    good = images["v150"]
    with pytest.raises(ImageFormatError, match=r"offset \d+: TLV area of \d+ bytes runs past"):
        parse_image(good[:-40])
    image = parse_image(good)
    assert (image.version, len(image.hash), len(image.signer_key_hash)) == ("1.5.0", 32, 32)


def test_a_line_cut_by_power_loss_is_not_glued_to_the_next(station) -> None:
    """Half an SMP line, then the board loses power and boots: the first request after the boot
    is answered (the half line died with the power)."""
    board, face = station
    booted = threading.Event()
    board.listen(lambda event: event is BoardEvent.BOOT and booted.set())
    with serial.serial_for_url(face.port, timeout=1.0) as port:
        port.write(b"\x06\x09AAtBBB")  # no newline: the power goes first
        port.flush()
        time.sleep(0.1)  # the board's UART must have read it: no event says so from here
        board.supply(0.0)
        board.supply(3.7)
        assert booted.wait(2.0)
        port.reset_input_buffer()  # the boot banner
        port.write(b"".join(smppacket.encode(EchoWriteRequest(d="first").BYTES)))
        answer = port.read_until(b"\n")
    assert answer.startswith(smppacket.START_DELIMITER), answer


def test_a_request_that_does_not_parse_gets_einval_and_the_server_goes_on(station) -> None:
    """An upload whose CBOR misses its fields is answered MGMT_ERR.EINVAL (SMP v1 rc); the next
    request is served as usual."""
    _, face = station
    header = smphdr.Header(op=smphdr.OP.WRITE, version=smphdr.Version.V2, flags=smphdr.Flag(0),
                           length=1, group_id=smphdr.GroupId.IMAGE_MANAGEMENT, sequence=7,
                           command_id=smphdr.CommandId.ImageManagement.UPLOAD)
    with serial.serial_for_url(face.port, timeout=1.0) as port:
        port.reset_input_buffer()
        port.write(b"".join(smppacket.encode(bytes(header) + b"\xa0")))  # {}: no off, no data
        decoder = smppacket.decode()
        next(decoder)
        with pytest.raises(StopIteration) as answer:
            while True:
                decoder.send(port.read_until(b"\n"))
    assert cbor2.loads(answer.value.value[smphdr.Header.SIZE:]) == {"rc": 3}  # EINVAL
    with DfuDriver(face.port) as dfu:
        assert dfu.echo("after") == "after"
