"""Creating and loading the server's key set from the data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facepay.errors import KeyFileError
from facepay.keys.kek import KEK_FILE, FileKeyRing, KeyEncryptionKey
from facepay.keys.signing import SIGNING_KEY_FILE, create_signing_key, load_signing_key


@dataclass(frozen=True)
class ServerKeys:
    kek: KeyEncryptionKey
    signing_key: Ed25519PrivateKey


def init_keys(keys_dir: Path) -> list[Path]:
    """Write a new KEK ring and signing key; refuse if either exists already."""
    existing = [
        keys_dir / name for name in (KEK_FILE, SIGNING_KEY_FILE) if (keys_dir / name).exists()
    ]
    if existing:
        names = ", ".join(str(p) for p in existing)
        raise KeyFileError(f"{names} already exist; refusing to overwrite keys")
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    FileKeyRing.create(keys_dir)
    create_signing_key(keys_dir)
    return [keys_dir / KEK_FILE, keys_dir / SIGNING_KEY_FILE]


def load_keys(keys_dir: Path) -> ServerKeys:
    return ServerKeys(kek=FileKeyRing.load(keys_dir), signing_key=load_signing_key(keys_dir))
