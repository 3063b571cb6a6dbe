"""The emulated board's MCUboot: two flash slots, swap with revert, and the upload in progress.

    >>> boot = Mcuboot(factory_version="1.4.2")
    >>> boot.boot()
    '1.4.2'

Slot 0 (primary) runs; an upload writes slot 1 (secondary). Marking slot 1 for test and
resetting swaps the slots; the new image runs unconfirmed, and unless it confirms itself before
the next reset, MCUboot swaps back (revert). Marking it permanent skips the revert. Every image is
checked as MCUboot checks it (protocols/mcuboot_image.py) against the keys the bootloader was
built with (`trusted`), and a refused image is erased, never booted.

This state is flash: a power cut loses none of it, the upload in progress included (its length,
SHA-256 and the offset written so far), so a client that restarts the same image resumes at the
offset the server reports. Every board with MCUboot holds one (the WS-100, the tracker); the
board's defects (emulators/ws100_defects.py, emulators/tracker_defects.py) are switches here:
`dfu-crash-on-boot` (the new image never comes up: the watchdog resets and MCUboot reverts) and
`dfu-no-revert` (an unconfirmed image stays).

A boot that swaps (a test image, or the revert of one) copies flash: it takes `swap_s` longer
(knob `dfu.swap_s`), and the board hears nothing meanwhile.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from protocols.mcuboot_image import (
    HEADER,
    IMAGE_MAGIC,
    Image,
    ImageFormatError,
    parse_image,
    verify,
    version_text,
)

SLOT_SIZE = 256 * 1024
SWAP_S = 0.15  # a healthy part's swap of a plan's 32 KiB image (knob dfu.swap_s)


@dataclass
class Upload:
    """The image being written to slot 1: what the first chunk announced, and how far it got."""

    length: int
    sha: bytes
    data: bytearray = field(default_factory=bytearray)

    @property
    def done(self) -> bool:
        return len(self.data) == self.length


@dataclass
class Slot:
    """One slot's image and its MCUboot trailer flags."""

    image: Image | None = None
    factory_hash: bytes = b""  # the image flashed in production (not built in a test)
    factory_version: str = ""
    confirmed: bool = False
    pending: bool = False
    permanent: bool = False

    @property
    def version(self) -> str:
        return self.image.version if self.image else self.factory_version

    @property
    def hash(self) -> bytes:
        return self.image.hash if self.image else self.factory_hash


class Mcuboot:
    """The bootloader and its two slots; thread-safe (the SMP server and boots share it)."""

    def __init__(self, factory_version: str, defects: Iterable[str] = (),
                 knobs: Mapping[str, float] | None = None) -> None:
        self.defects = frozenset(defects)
        self.swap_s = (knobs or {}).get("dfu.swap_s", SWAP_S)
        self.trusted: list[bytes] = []  # public keys (DER) built into the bootloader
        self.slots = [Slot(factory_hash=hashlib.sha256(factory_version.encode()).digest(),
                           factory_version=factory_version, confirmed=True), Slot()]
        self.upload: Upload | None = None
        self.swapped_unconfirmed = False  # slot 0 holds a test image that has not confirmed
        self._lock = threading.RLock()

    def provision(self, public_der: bytes) -> None:
        """Build the bootloader with one more trusted key (the emulator's stand-in for a
        bootloader compiled with the lab's signing key)."""
        with self._lock:
            self.trusted.append(public_der)

    # --- boot -------------------------------------------------------------------------------
    def _next_boot(self) -> str:
        """What MCUboot does at the next reset: "revert" (an unconfirmed test image), "test"
        (swap in slot 1's image), "refuse" (erase slot 1's image, never booted) or "stay"."""
        secondary = self.slots[1]
        if self.swapped_unconfirmed and "dfu-no-revert" not in self.defects:
            return "revert"
        if not secondary.pending:
            return "stay"
        if secondary.image is None or verify(secondary.image, self.trusted):
            return "refuse"
        return "test"

    def boot_delay_s(self) -> float:
        """How much longer the next boot takes than a plain one: `swap_s` when it swaps."""
        with self._lock:
            return self.swap_s if self._next_boot() in ("revert", "test") else 0.0

    def boot(self) -> str:
        """What MCUboot does at reset: revert, swap or stay; returns the running image's version
        as its application reports it: major.minor.revision (the build number is the image's
        own, so a release candidate 1.4.2.1 runs as firmware 1.4.2)."""
        with self._lock:
            action = self._next_boot()
            if action == "revert":
                self._swap()
                self.slots[0].confirmed, self.slots[1].confirmed = True, False
                self.swapped_unconfirmed = False
            elif action == "refuse":
                self.slots[1] = Slot()  # refused at boot: erased, the old image runs
            elif action == "test":
                secondary = self.slots[1]
                self._swap()
                self.slots[0].pending = False
                self.slots[0].confirmed = secondary.permanent
                self.swapped_unconfirmed = not secondary.permanent
                if self.swapped_unconfirmed and "dfu-crash-on-boot" in self.defects:
                    return self.boot()  # it crashes before confirming: the watchdog resets
            return ".".join(self.slots[0].version.split(".")[:3])

    def _swap(self) -> None:
        self.slots.reverse()

    @property
    def running_version(self) -> tuple[int, ...]:
        image = self.slots[0].image
        if image is not None:
            return image.version_tuple
        numbers = [int(part) for part in self.slots[0].factory_version.split(".")]
        return (*numbers, 0, 0, 0, 0)[:4]

    # --- what the SMP image group asks --------------------------------------------------------
    def write_chunk(self, off: int, data: bytes, length: int | None,
                    sha: bytes | None) -> tuple[int, bool | None]:
        """Write one upload chunk to slot 1; returns (next offset, match when complete).

        A first chunk (offset 0) naming the length and SHA-256 of the upload in progress resumes
        it: the answer is the offset already written. Raises DfuRefusal for a bad header or a
        downgrade (as Zephyr's img_mgmt checks the first chunk)."""
        with self._lock:
            if off == 0:
                upload = self.upload
                if upload and length == upload.length and sha and sha == upload.sha \
                        and not upload.done:
                    return len(upload.data), None
                self._begin(data, length, sha)
            upload = self.upload
            if upload is None:
                raise DfuRefusal("NO_IMAGE", f"chunk at offset {off} with no upload begun")
            if off != len(upload.data):
                return len(upload.data), None  # the server names the offset it expects
            upload.data += data
            if not upload.done:
                return len(upload.data), None
            self.slots[1] = Slot(image=_parse_or_none(bytes(upload.data)))
            return len(upload.data), hashlib.sha256(upload.data).digest() == upload.sha

    def _begin(self, data: bytes, length: int | None, sha: bytes | None) -> None:
        if not length:
            raise DfuRefusal("INVALID_LENGTH", "first chunk does not give the image length")
        if length > SLOT_SIZE:
            raise DfuRefusal("INVALID_IMAGE_TOO_LARGE", f"{length} bytes > slot of {SLOT_SIZE}")
        try:
            header = parse_header(data)
        except ImageFormatError as error:
            raise DfuRefusal("INVALID_IMAGE_HEADER_MAGIC", str(error)) from error
        if header < self.running_version:
            raise DfuRefusal("CURRENT_VERSION_IS_NEWER",
                             f"image {version_text(*header)} is older than the running "
                             f"{self.slots[0].version}")
        self.slots[1] = Slot()
        self.upload = Upload(length, sha or b"")

    def mark(self, image_hash: bytes | None, confirm: bool) -> None:
        """SMP image state write: test (hash, not confirm), permanent (hash, confirm), or confirm
        the running image (no hash). A slot-1 image is checked first, as MCUboot will."""
        with self._lock:
            primary, secondary = self.slots
            if image_hash is None or image_hash == primary.hash:
                if not confirm:
                    raise DfuRefusal("IMAGE_SETTING_TEST_TO_ACTIVE_DENIED",
                                     "the running image cannot be marked for test")
                primary.confirmed = True
                self.swapped_unconfirmed = False
                return
            if secondary.image is None or image_hash != secondary.hash:
                raise DfuRefusal("HASH_NOT_FOUND", f"no image with hash {image_hash.hex()}")
            refused = verify(secondary.image, self.trusted)
            if refused == "hash":
                raise DfuRefusal("INVALID_HASH", "slot 1's SHA-256 TLV does not match its bytes")
            if refused == "key":
                raise DfuRefusal("INVALID_TLV", "slot 1 is not signed by a key the bootloader "
                                 "trusts")
            secondary.pending, secondary.permanent = True, confirm


class DfuRefusal(Exception):
    """An image-group request the board refuses: `code` is an IMG_MGMT_ERR name."""

    def __init__(self, code: str, why: str) -> None:
        super().__init__(f"{code}: {why}")
        self.code = code


def parse_header(data: bytes) -> tuple[int, int, int, int]:
    """The version in a first chunk's image header (the rest of the image is still to come)."""
    if len(data) < HEADER.sizeof() or int.from_bytes(data[:4], "little") != IMAGE_MAGIC:
        raise ImageFormatError(f"offset 0: {data[:4].hex() or 'nothing'} is not the image "
                               f"header magic 3db8f396")
    head = HEADER.parse(data)
    return head.major, head.minor, head.revision, head.build


def _parse_or_none(raw: bytes) -> Image | None:
    """A complete upload that is no MCUboot image is kept as no image (nothing to boot)."""
    try:
        return parse_image(raw)
    except ImageFormatError:
        return None
