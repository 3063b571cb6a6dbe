"""Firmware update over BLE: a release candidate over SMP's GATT service, tested, confirmed, and
rollback proved, as a tracker in the field is updated from a phone.

The steps run in order on one board (docs/dfu.md): version before; upload (rate, slot 1 hash and
version); test and reset (alive within the limit, the new image running unconfirmed); confirm; a
newer image left unconfirmed reverts at the next reset; images signed by a stranger's key,
tampered or older are refused with their codes. SMP travels through drivers/dfu.py's
`BleLinkTransport` on the station's radio; a reset drops the link (the board's radio restarts
with it), so each reset is followed by a new connection. Images carry the running version plus a
build number (2.1.0+1 runs as firmware 2.1.0), signed with a key made for this session. Needs
the `dfu` extra.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

pytest.importorskip("smpclient", reason="firmware update needs the dfu extra: "
                                         "pip install -e '.[dfu]' (smpclient, smp, imgtool)")

from drivers.ble import BleLink, BleRadio
from drivers.dfu import BleLinkTransport, DfuDriver, DfuError
from drivers.tracker import TrackerDriver
from fixtures.dfu import Images, measure_upload, session_images
from protocols.mcuboot_image import parse_image

pytestmark = pytest.mark.requires("radio")


@pytest.fixture(scope="module")
def images(station, dut: TrackerDriver, spec, tmp_path_factory: pytest.TempPathFactory) -> Images:
    """This session's keys and images (fixtures/dfu.py)."""
    return session_images(station, dut.identify().firmware, int(spec["dfu.image_size"]),
                          tmp_path_factory.mktemp("dfu"))


@dataclass
class BleSmp:
    """The tracker's SMP server over one BLE connection at a time: a reset drops the link, so
    `reset` connects again. The whole exchange is attached to the step as its timeline."""

    radio: BleRadio
    measure: object
    exchange: list[str] = field(default_factory=list)
    link: BleLink | None = None
    dfu: DfuDriver | None = None

    def __enter__(self) -> BleSmp:
        if not self.radio.address:
            self.radio.address = self.radio.find().address
        self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()
        self.measure.attach("SMP exchange over BLE (update timeline)", "\n".join(self.exchange))

    def _open(self) -> DfuDriver:
        self.link = self.radio.connect(self.radio.address)
        self.dfu = DfuDriver(self.radio.address, BleLinkTransport(self.link)).open()
        return self.dfu

    def _close(self) -> None:
        if self.dfu is not None:
            self.exchange += self.dfu.exchange
            self.dfu.close()
        if self.link is not None:
            self.link.disconnect()
        self.dfu = self.link = None

    def reset(self, timeout_s: float = 10.0) -> tuple[DfuDriver, float]:
        """SMP reset; the new connection's driver and the seconds from the request until the
        board's SMP server answered an echo over it."""
        started = time.monotonic()
        self.dfu.reset()
        if not self.link.wait_disconnected(timeout_s):
            raise TimeoutError(f"{self.radio.address}: the link outlived the SMP reset by "
                               f"{timeout_s} s: did the board reset?")
        self._close()
        self._open().wait_alive(timeout_s)
        return self.dfu, time.monotonic() - started


def test_version_before(radio, dut: TrackerDriver, measure, spec, images: Images) -> None:
    """The released firmware runs, confirmed, and SMP's image list agrees with IDENTIFY."""
    firmware = dut.identify().firmware
    measure(spec.limit("dfu_firmware_before_update"), firmware,
            nominal=spec["product.expect_firmware"])
    with BleSmp(radio, measure) as session:
        running = session.dfu.images()[0]
    measure(spec.limit("dfu_slot_0_firmware_before_update"),
            ".".join(running.version.split(".")[:3]), nominal=firmware)
    measure(spec.limit("dfu_slot_0_confirmed_before_update"), running.confirmed, nominal=True)


def test_upload_release_candidate(radio, measure, spec, images: Images) -> None:
    """Upload: rate within limit; slot 1 holds the image's hash and version; record its signer."""
    image = parse_image(images.raw["rc"])
    measure(spec.limit("dfu_image_version"), image.version)
    measure(spec.limit("dfu_image_hash"), image.hash.hex())
    measure(spec.limit("dfu_image_signer_key_hash"), image.signer_key_hash.hex())
    with BleSmp(radio, measure) as session:
        measure_upload(session.dfu, images.raw["rc"], measure, spec)
        slots = session.dfu.images()
    slot = slots[1] if len(slots) > 1 else None
    measure(spec.limit("dfu_slot_1_version"), slot and slot.version, nominal=image.version)
    measure(spec.limit("dfu_slot_1_hash"), slot and slot.hash.hex(), nominal=image.hash.hex())


def test_test_and_reset(radio, measure, spec, images: Images) -> None:
    """Marked for test and reset: alive within the limit, the new image running unconfirmed."""
    with BleSmp(radio, measure) as session:
        session.dfu.test(parse_image(images.raw["rc"]).hash)
        measure(spec.limit("dfu_slot_1_pending_after_test"), session.dfu.images()[1].pending,
                nominal=True)
        dfu, alive_s = session.reset()
        measure(spec.limit("dfu_reset_to_alive"), alive_s)
        running = dfu.images()[0]
    measure(spec.limit("dfu_version_after_test_reset"), running.version,
            nominal=images.versions["rc"])
    measure(spec.limit("dfu_confirmed_after_test_reset"), running.confirmed, nominal=False)


def test_confirm(radio, measure, spec, images: Images) -> None:
    """The running image confirms itself and stays after the next reset."""
    with BleSmp(radio, measure) as session:
        try:
            session.dfu.confirm()
            measure(spec.limit("dfu_confirm_result"), "ok", nominal="ok")
        except DfuError as refused:
            measure(spec.limit("dfu_confirm_result"), refused.code, nominal="ok")
        dfu, _ = session.reset()
        running = dfu.images()[0]
    measure(spec.limit("dfu_version_after_confirmed_reset"), running.version,
            nominal=images.versions["rc"])
    measure(spec.limit("dfu_confirmed_after_confirmed_reset"), running.confirmed, nominal=True)


def test_unconfirmed_image_reverts(radio, measure, spec, images: Images) -> None:
    """A newer image tested but never confirmed runs once; the next reset reverts to the image
    that ran, confirmed, before it."""
    with BleSmp(radio, measure) as session:
        confirmed = session.dfu.images()[0].version
        measure_upload(session.dfu, images.raw["newer"], measure, spec)
        session.dfu.test(parse_image(images.raw["newer"]).hash)
        dfu, _ = session.reset()
        measure(spec.limit("dfu_version_running_on_test"), dfu.images()[0].version,
                nominal=images.versions["newer"])
        dfu, _ = session.reset()
        running = dfu.images()[0]
    measure(spec.limit("dfu_version_after_unconfirmed_reset"), running.version,
            nominal=confirmed)
    measure(spec.limit("dfu_confirmed_after_revert"), running.confirmed, nominal=True)


@pytest.mark.parametrize(("role", "code"), [
    ("wrong key", "IMG_MGMT_ERR.INVALID_TLV"),
    ("tampered", "IMG_MGMT_ERR.INVALID_HASH"),
    ("downgrade", "IMG_MGMT_ERR.CURRENT_VERSION_IS_NEWER"),
])
def test_bad_image_refused(radio, measure, spec, images: Images, role: str, code: str) -> None:
    """An image MCUboot must not boot is refused with its code, and the board keeps running the
    image it ran before."""
    with BleSmp(radio, measure) as session:
        running = session.dfu.images()[0].version
        try:
            session.dfu.upload(images.raw[role])
            session.dfu.test(parse_image(images.raw[role]).hash)
            refusal = "accepted"
        except DfuError as refused:
            refusal = refused.code
        measure(spec.limit("dfu_refusal_code").at(role), refusal, nominal=code)
        dfu, _ = session.reset()
        measure(spec.limit("dfu_version_after_refusal").at(role), dfu.images()[0].version,
                nominal=running)
