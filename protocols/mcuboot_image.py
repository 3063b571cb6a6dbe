"""An MCUboot image read and checked the way MCUboot checks it before it boots one.

    >>> image = parse_image(signed)                       # doctest: +SKIP
    >>> image.version, verify(image, trusted=[public_der]) # doctest: +SKIP
    ('1.5.0', None)

Layout (MCUboot's docs/design.md, "Image format"): a header (magic 0x96f3b83d, sizes, version),
the body, then a TLV area: an optional protected one (info magic 0x6908) that the hash covers,
then the unprotected one (0x6907) holding SHA256 (0x10), KEYHASH (0x01) and the signature:
ECDSA P-256 (0x22) or Ed25519 (0x24). The SHA-256 covers header + body + protected TLVs; the
signature signs that digest; KEYHASH (SHA-256 of the signer's public key, DER) picks which
trusted key checks it. `verify` returns None for a good image, else why it is refused.
The emulated bootloader checks images with it; a plan reads an image's hash, version and signer
key hash with it, for the record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from construct import Const, Int8ul, Int16ul, Int32ul, Struct

IMAGE_MAGIC = 0x96F3B83D
TLV_INFO_MAGIC = 0x6907
TLV_PROT_INFO_MAGIC = 0x6908
TLV_KEYHASH, TLV_SHA256, TLV_ECDSA_SIG, TLV_ED25519 = 0x01, 0x10, 0x22, 0x24

HEADER = Struct(
    "magic" / Const(IMAGE_MAGIC, Int32ul),
    "load_addr" / Int32ul,
    "hdr_size" / Int16ul,
    "protect_tlv_size" / Int16ul,
    "img_size" / Int32ul,
    "flags" / Int32ul,
    "major" / Int8ul,
    "minor" / Int8ul,
    "revision" / Int16ul,
    "build" / Int32ul,
    "pad" / Int32ul,
)
TLV_INFO = Struct("magic" / Int16ul, "total" / Int16ul)
TLV = Struct("type" / Int16ul, "length" / Int16ul)


class ImageFormatError(ValueError):
    """Bytes that are not an MCUboot image; the message names the offset."""


@dataclass(frozen=True)
class Image:
    """A parsed image: what the slot list shows and what the bootloader checks."""

    raw: bytes
    version: str
    version_tuple: tuple[int, int, int, int]
    hashed: bytes  # header + body + protected TLVs: what SHA256 covers
    tlvs: dict[int, bytes]

    @property
    def hash(self) -> bytes:
        """The SHA256 TLV: the image's identity in SMP's image list (what `test` names)."""
        return self.tlvs.get(TLV_SHA256, b"")

    @property
    def signer_key_hash(self) -> bytes:
        """The KEYHASH TLV: which key signed it (SHA-256 of its public key)."""
        return self.tlvs.get(TLV_KEYHASH, b"")


def version_text(major: int, minor: int, revision: int, build: int) -> str:
    """The version as Zephyr's img_mgmt prints it: the build number only when it is not 0."""
    return f"{major}.{minor}.{revision}" + (f".{build}" if build else "")


def parse_image(raw: bytes) -> Image:
    """Parse header and TLV areas; ImageFormatError names the offset that does not fit."""
    if len(raw) < HEADER.sizeof():
        raise ImageFormatError(f"image of {len(raw)} bytes is shorter than the 32-byte header")
    if int.from_bytes(raw[:4], "little") != IMAGE_MAGIC:
        raise ImageFormatError(f"offset 0: header magic {raw[:4].hex()} is not 3db8f396")
    head = HEADER.parse(raw)
    end = head.hdr_size + head.img_size
    protected = raw[end:end + head.protect_tlv_size]
    tlvs: dict[int, bytes] = {}
    offset = end + head.protect_tlv_size
    if offset + TLV_INFO.sizeof() > len(raw):
        raise ImageFormatError(f"offset {offset}: no TLV area after a {end}-byte image")
    info = TLV_INFO.parse(raw[offset:])
    if info.magic != TLV_INFO_MAGIC:
        raise ImageFormatError(f"offset {offset}: TLV info magic {info.magic:#06x} is not "
                               f"{TLV_INFO_MAGIC:#06x}")
    stop, offset = offset + info.total, offset + TLV_INFO.sizeof()
    if stop > len(raw):
        raise ImageFormatError(f"offset {offset}: TLV area of {info.total} bytes runs past the "
                               f"{len(raw)}-byte image")
    while offset < stop:
        tlv = TLV.parse(raw[offset:])
        tlvs[tlv.type] = raw[offset + TLV.sizeof():offset + TLV.sizeof() + tlv.length]
        offset += TLV.sizeof() + tlv.length
    numbers = (head.major, head.minor, head.revision, head.build)
    return Image(raw, version_text(*numbers), numbers, raw[:end] + protected, tlvs)


def key_hash(public_der: bytes) -> bytes:
    """KEYHASH as imgtool writes it: SHA-256 of the public key's SubjectPublicKeyInfo DER."""
    return hashlib.sha256(public_der).digest()


def verify(image: Image, trusted: list[bytes]) -> str | None:
    """None when MCUboot would boot `image` with one of the `trusted` public keys (DER), else
    the reason: "hash" (SHA256 TLV missing or wrong: a tampered image) or "key" (no trusted key
    matches KEYHASH, or its signature does not verify)."""
    digest = hashlib.sha256(image.hashed).digest()
    if image.hash != digest:
        return "hash"
    by_hash = {key_hash(der): der for der in trusted}
    der = by_hash.get(image.tlvs.get(TLV_KEYHASH, b""))
    if der is None:
        return "key"
    return None if _signature_ok(der, image.tlvs, digest) else "key"


def _signature_ok(public_der: bytes, tlvs: dict[int, bytes], digest: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, utils
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    key = load_der_public_key(public_der)
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and TLV_ECDSA_SIG in tlvs:
            # imgtool may pad the DER signature with zeros to a fixed length: strip them
            signature = tlvs[TLV_ECDSA_SIG]
            length = signature[1] + 2 if len(signature) > 1 else 0
            key.verify(signature[:length], digest, ec.ECDSA(utils.Prehashed(SHA256())))
            return True
        if isinstance(key, ed25519.Ed25519PublicKey) and TLV_ED25519 in tlvs:
            key.verify(tlvs[TLV_ED25519], digest)
            return True
    except InvalidSignature:
        return False
    return False
