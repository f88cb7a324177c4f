"""The server's Ed25519 key: it signs commands to cabinets and certificates.

It signs and nothing else: no secret is derived from it (see ``secrets.py``), so
it can rotate. A rotated-out key is kept beside it as ``server_ed25519.<n>.pem``
so signatures made before the rotation (deletion certificates) stay checkable.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facepay.errors import KeyFileError
from facepay.keys.files import read_secret, write_secret

SIGNING_KEY_FILE = "server_ed25519.pem"
_RETIRED = re.compile(r"^server_ed25519\.(\d+)\.pem$")


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def create_signing_key(keys_dir: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    write_secret(keys_dir / SIGNING_KEY_FILE, _pem(key))
    return key


def load_signing_key(keys_dir: Path, name: str = SIGNING_KEY_FILE) -> Ed25519PrivateKey:
    path = keys_dir / name
    try:
        key = serialization.load_pem_private_key(read_secret(path), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def retired_signing_keys(keys_dir: Path) -> dict[int, Path]:
    """The rotated-out keys by number, oldest first."""
    found = {}
    for path in keys_dir.glob("server_ed25519.*.pem"):
        match = _RETIRED.match(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class SigningRotation:
    retired_as: Path
    previous_fingerprint: str
    fingerprint: str


def rotate_signing_key(keys_dir: Path) -> SigningRotation:
    """Keep the current key as ``server_ed25519.<n>.pem`` and write a new one.

    The old key is copied first; a crash before the new key is written leaves the
    current key in place (and a spare copy of it), never no key at all.
    """
    current = load_signing_key(keys_dir)
    number = max(retired_signing_keys(keys_dir), default=0) + 1
    retired_as = keys_dir / f"server_ed25519.{number}.pem"
    write_secret(retired_as, _pem(current))
    new = Ed25519PrivateKey.generate()
    write_secret(keys_dir / SIGNING_KEY_FILE, _pem(new), replace=True)
    return SigningRotation(retired_as, fingerprint(current), fingerprint(new))


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: Ed25519PrivateKey) -> str:
    return "sha256:" + hashlib.sha256(public_key_bytes(key)).hexdigest()[:32]
