"""Optional Ed25519 signatures of run manifests with a station key (`pip install
citebench[signing]`, which brings the `cryptography` package).

    bench archive keygen ~/.config/citebench/station.key   # once per station; keep it private
    export CITEBENCH_SIGNING_KEY=~/.config/citebench/station.key

With the key set, each archived run gets `MANIFEST.sha256.sig` (the base64 Ed25519 signature of
the manifest's bytes) and its ledger entry carries the station's public key; `bench archive
verify` checks every signature, and `--key PUBLIC.pem` requires that one key. A signature shows
which station sealed a run: whoever rewrites a manifest without the station's private key cannot
sign it again. Without the key nothing is signed and nothing else changes.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

SIGNATURE = "MANIFEST.sha256.sig"
KEY_VARIABLE = "CITEBENCH_SIGNING_KEY"


class SigningError(Exception):
    """The signing key is set but unusable, or the `cryptography` package is missing."""


def _serialization():
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise SigningError("signing needs the `cryptography` package: "
                           "pip install 'citebench[signing]'") from None
    return serialization, ed25519


def public_hex(key) -> str:
    serialization, _ = _serialization()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def keygen(private_path: Path) -> str:
    """Write a new Ed25519 station key (PEM, mode 0600) and its public key beside it (`.pub`)."""
    serialization, ed25519 = _serialization()
    key = ed25519.Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    public = public_hex(key.public_key())
    private_path.with_suffix(".pub").write_text(public + "\n", encoding="ascii")
    return public


def _station_key():
    path = os.environ.get(KEY_VARIABLE)
    if not path:
        return None
    serialization, ed25519 = _serialization()
    try:
        key = serialization.load_pem_private_key(Path(path).expanduser().read_bytes(), None)
    except (OSError, ValueError, TypeError) as error:
        raise SigningError(f"{KEY_VARIABLE}={path}: not a usable private key ({error})") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise SigningError(f"{KEY_VARIABLE}={path}: not an Ed25519 key")
    return key


def sign_manifest(manifest: Path) -> dict:
    """Sign `manifest` with the station key if one is set; the ledger fields to record."""
    key = _station_key()
    if key is None:
        return {}
    signature = key.sign(manifest.read_bytes())
    (manifest.parent / SIGNATURE).write_text(base64.b64encode(signature).decode() + "\n",
                                             encoding="ascii")
    return {"public_key": public_hex(key.public_key())}


def check(manifest: Path, public_key: str) -> str:
    """Why the manifest's signature does not hold for `public_key` (hex), "" when it does."""
    _, ed25519 = _serialization()
    from cryptography.exceptions import InvalidSignature

    try:
        signature = base64.b64decode((manifest.parent / SIGNATURE).read_text(encoding="ascii"))
        ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(
            signature, manifest.read_bytes())
    except OSError as error:
        return f"signature unreadable: {error.strerror or error}"
    except (ValueError, InvalidSignature):
        return "signature does not match the manifest"
    return ""
