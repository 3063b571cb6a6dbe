"""Firmware update: a release candidate over SMP, tested, confirmed, and rollback proved.

The steps run in order on one board, as a lab's update plan does: version before; upload (rate,
slot 1 hash and version); test and reset (alive within the limit, the new image running
unconfirmed); confirm; a newer image left unconfirmed reverts at the next reset; images signed by
a stranger's key, tampered or older are refused with their codes; a supply cut in the middle of
an upload resumes at the server's offset. Images are built (fixtures/dfu.py) with imgtool from
the running version plus a build number (1.4.2+1 runs as firmware 1.4.2), signed with a key made
for this session, so every other plan still sees the released firmware. Needs the `dfu` extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

pytest.importorskip("smpclient", reason="firmware update needs the dfu extra: "
                                         "pip install -e '.[dfu]' (smpclient, smp, imgtool)")

from drivers.dfu import DfuDriver, DfuError, uart_handover
from drivers.psu import SupplyChannel
from drivers.ws100 import Ws100Driver
from fixtures.dfu import Images, measure_upload, session_images
from protocols.mcuboot_image import parse_image

CUT_AFTER_CHUNKS = 3  # acknowledged chunks before the supply is cut


@pytest.fixture(scope="module")
def images(station, dut: Ws100Driver, spec, tmp_path_factory: pytest.TempPathFactory) -> Images:
    """This session's keys and images (fixtures/dfu.py)."""
    return session_images(station, dut.get_info().firmware, int(spec["dfu.image_size"]),
                          tmp_path_factory.mktemp("dfu"))


@contextmanager
def smp(dut: Ws100Driver, measure) -> Iterator[DfuDriver]:
    """The board's UART lent to SMP for one step; the exchange is attached to the step."""
    with uart_handover(dut) as port:
        dfu = DfuDriver(port).open()
        try:
            yield dfu
        finally:
            dfu.close()
            measure.attach("SMP exchange (update timeline)", "\n".join(dfu.exchange))


def _reset(dfu: DfuDriver) -> None:
    dfu.reset()
    dfu.wait_alive(10.0)


def test_version_before(dut: Ws100Driver, measure, spec, images: Images) -> None:
    """The released firmware runs, confirmed, and SMP's image list agrees with GET_INFO."""
    firmware = dut.get_info().firmware
    measure(spec.limit("dfu_firmware_before_update"), firmware,
            nominal=spec["product.expect_firmware"])
    with smp(dut, measure) as dfu:
        running = dfu.images()[0]
    measure(spec.limit("dfu_slot_0_firmware_before_update"),
            ".".join(running.version.split(".")[:3]), nominal=firmware)
    measure(spec.limit("dfu_slot_0_confirmed_before_update"), running.confirmed, nominal=True)


def test_upload_release_candidate(dut: Ws100Driver, measure, spec, images: Images) -> None:
    """Upload: rate within limit; slot 1 holds the image's hash and version; record its signer."""
    image = parse_image(images.raw["rc"])
    measure(spec.limit("dfu_image_version"), image.version)
    measure(spec.limit("dfu_image_hash"), image.hash.hex())
    measure(spec.limit("dfu_image_signer_key_hash"), image.signer_key_hash.hex())
    with smp(dut, measure) as dfu:
        measure_upload(dfu, images.raw["rc"], measure, spec)
        slots = dfu.images()
    slot = slots[1] if len(slots) > 1 else None
    measure(spec.limit("dfu_slot_1_version"), slot and slot.version, nominal=image.version)
    measure(spec.limit("dfu_slot_1_hash"), slot and slot.hash.hex(), nominal=image.hash.hex())


def test_test_and_reset(dut: Ws100Driver, measure, spec, images: Images) -> None:
    """Marked for test and reset: alive within the limit, the new image running unconfirmed."""
    with smp(dut, measure) as dfu:
        dfu.test(parse_image(images.raw["rc"]).hash)
        measure(spec.limit("dfu_slot_1_pending_after_test"), dfu.images()[1].pending, nominal=True)
        dfu.reset()
        measure(spec.limit("dfu_reset_to_alive"), dfu.wait_alive(10.0))
        running = dfu.images()[0]
    measure(spec.limit("dfu_version_after_test_reset"), running.version,
            nominal=images.versions["rc"])
    measure(spec.limit("dfu_confirmed_after_test_reset"), running.confirmed, nominal=False)


def test_confirm(dut: Ws100Driver, measure, spec, images: Images) -> None:
    """The running image confirms itself and stays after the next reset."""
    with smp(dut, measure) as dfu:
        try:
            dfu.confirm()
            measure(spec.limit("dfu_confirm_result"), "ok", nominal="ok")
        except DfuError as refused:
            measure(spec.limit("dfu_confirm_result"), refused.code, nominal="ok")
        _reset(dfu)
        running = dfu.images()[0]
    measure(spec.limit("dfu_version_after_confirmed_reset"), running.version,
            nominal=images.versions["rc"])
    measure(spec.limit("dfu_confirmed_after_confirmed_reset"), running.confirmed, nominal=True)


def test_unconfirmed_image_reverts(dut: Ws100Driver, measure, spec, images: Images) -> None:
    """A newer image tested but never confirmed runs once; the next reset reverts to the last
    confirmed one."""
    with smp(dut, measure) as dfu:
        measure_upload(dfu, images.raw["newer"], measure, spec)
        dfu.test(parse_image(images.raw["newer"]).hash)
        _reset(dfu)
        measure(spec.limit("dfu_version_running_on_test"), dfu.images()[0].version,
                nominal=images.versions["newer"])
        _reset(dfu)
        running = dfu.images()[0]
    measure(spec.limit("dfu_version_after_unconfirmed_reset"), running.version,
            nominal=images.versions["rc"])
    measure(spec.limit("dfu_confirmed_after_revert"), running.confirmed, nominal=True)


@pytest.mark.parametrize(("role", "code"), [
    ("wrong key", "IMG_MGMT_ERR.INVALID_TLV"),
    ("tampered", "IMG_MGMT_ERR.INVALID_HASH"),
    ("downgrade", "IMG_MGMT_ERR.CURRENT_VERSION_IS_NEWER"),
])
def test_bad_image_refused(dut: Ws100Driver, measure, spec, images: Images, role: str,
                           code: str) -> None:
    """An image MCUboot must not boot is refused with its code, and the board keeps running the
    confirmed image."""
    with smp(dut, measure) as dfu:
        try:
            dfu.upload(images.raw[role])
            dfu.test(parse_image(images.raw[role]).hash)
            refusal = "accepted"
        except DfuError as refused:
            refusal = refused.code
        measure(spec.limit("dfu_refusal_code").at(role), refusal, nominal=code)
        _reset(dfu)
        measure(spec.limit("dfu_version_after_refusal").at(role), dfu.images()[0].version,
                nominal=images.versions["rc"])


@pytest.mark.requires("psu")
def test_power_cut_resumes_upload(dut: Ws100Driver, psu: SupplyChannel, measure, spec,
                                  images: Images) -> None:
    """The supply cut in the middle of an upload: the next upload of the same image starts at
    the offset the server had acknowledged, and completes."""
    image = images.raw["resumed"]
    acked: list[int] = []

    def cut(offset: int, size: int) -> None:
        acked.append(offset)
        if len(acked) == CUT_AFTER_CHUNKS:
            psu.output = False

    with smp(dut, measure) as dfu:
        try:
            dfu.upload(image, progress=cut)
        except TimeoutError:
            pass  # the board lost power: no answer is the expected end of this upload
        finally:
            psu.output = True
        measure(spec.limit("dfu_offset_acknowledged_before_the_cut"), acked[-1] if acked else None,
                high=len(image) - 1)  # cut inside the image
        dfu.wait_alive(10.0)
        result = measure_upload(dfu, image, measure, spec)
        measure(spec.limit("dfu_resume_offset"), result and result.started_at, nominal=acked[-1])
        slots = dfu.images()
    measure(spec.limit("dfu_slot_1_version_after_resume"),
            slots[1].version if len(slots) > 1 else None, nominal=images.versions["resumed"])
