"""Creating and loading the server's key set from the data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facepay.errors import KeyFileError
from facepay.keys.kek import KEK_FILE, FileKeyRing, KeyEncryptionKey
from facepay.keys.legacy import migrate_secrets
from facepay.keys.secrets import SECRETS_FILE, SecretStore
from facepay.keys.signing import SIGNING_KEY_FILE, create_signing_key, load_signing_key
from facepay.settings import Settings

KEY_FILES = (KEK_FILE, SIGNING_KEY_FILE, SECRETS_FILE)


@dataclass(frozen=True)
class ServerKeys:
    kek: KeyEncryptionKey
    signing_key: Ed25519PrivateKey
    secrets: SecretStore


def init_keys(keys_dir: Path) -> list[Path]:
    """Write a new KEK ring, signing key and secret store; refuse if any exists already."""
    existing = [keys_dir / name for name in KEY_FILES if (keys_dir / name).exists()]
    if existing:
        names = ", ".join(str(p) for p in existing)
        raise KeyFileError(f"{names} already exist; refusing to overwrite keys")
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ring = FileKeyRing.create(keys_dir)
    create_signing_key(keys_dir)
    SecretStore.create(keys_dir, ring)
    return [keys_dir / name for name in KEY_FILES]


def load_keys(keys_dir: Path, *, migrate_legacy: bool = False) -> ServerKeys:
    """The key set; ``migrate_legacy`` first creates the secret store of an install
    from before it (development does; production waits for `facepay keys migrate`)."""
    if migrate_legacy:
        migrate_secrets(keys_dir)
    kek = FileKeyRing.load(keys_dir)
    return ServerKeys(
        kek=kek, signing_key=load_signing_key(keys_dir), secrets=SecretStore.load(keys_dir, kek)
    )


def load_server_keys(settings: Settings) -> ServerKeys:
    """The key set as the configured mode allows: production never writes by itself."""
    return load_keys(settings.keys_dir, migrate_legacy=settings.mode == "development")
