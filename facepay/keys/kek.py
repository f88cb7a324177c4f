"""Key-encryption keys: wrapping customers' data keys.

The file provider keeps every KEK version it ever had in one JSON keyring and
wraps with the active one, so data wrapped before a rotation stays readable.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facepay.errors import KeyFileError
from facepay.keys.files import read_secret, write_secret

KEK_FILE = "kek.json"
_AAD_PREFIX = b"facepay/data-key/v1/"
_NONCE_BYTES = 12


class KeyEncryptionKey(Protocol):
    """What the platform needs from a KEK: a file ring here, a KMS in production."""

    @property
    def active_version(self) -> int: ...

    def wrap(self, data_key: bytes, context: str) -> tuple[int, bytes]:
        """Wrap with the active version; returns (version, blob)."""
        ...

    def unwrap(self, blob: bytes, version: int, context: str) -> bytes: ...


@dataclass(frozen=True)
class FileKeyRing:
    """A KeyEncryptionKey backed by a 0600 JSON file of AES-256 keys."""

    path: Path
    versions: dict[int, bytes]
    active_version: int

    @classmethod
    def load(cls, keys_dir: Path) -> FileKeyRing:
        path = keys_dir / KEK_FILE
        raw = read_secret(path)
        try:
            document = json.loads(raw)
            versions = {
                int(v): base64.b64decode(k, validate=True) for v, k in document["keys"].items()
            }
            active = int(document["active"])
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyFileError(f"{path} is not a valid key ring: {exc}") from exc
        if active not in versions or any(len(k) != 32 for k in versions.values()):
            raise KeyFileError(f"{path} is not a valid key ring: bad active version or key size")
        return cls(path=path, versions=versions, active_version=active)

    @classmethod
    def create(cls, keys_dir: Path) -> FileKeyRing:
        ring = cls(path=keys_dir / KEK_FILE, versions={1: os.urandom(32)}, active_version=1)
        write_secret(ring.path, ring._serialise())
        return ring

    def with_new_version(self) -> FileKeyRing:
        version = max(self.versions) + 1
        return FileKeyRing(
            path=self.path,
            versions={**self.versions, version: os.urandom(32)},
            active_version=version,
        )

    def save(self) -> None:
        write_secret(self.path, self._serialise(), replace=True)

    def wrap(self, data_key: bytes, context: str) -> tuple[int, bytes]:
        nonce = os.urandom(_NONCE_BYTES)
        aes = AESGCM(self.versions[self.active_version])
        return self.active_version, nonce + aes.encrypt(
            nonce, data_key, _AAD_PREFIX + context.encode()
        )

    def unwrap(self, blob: bytes, version: int, context: str) -> bytes:
        key = self.versions.get(version)
        if key is None:
            raise KeyFileError(f"KEK version {version} is not in {self.path}")
        try:
            return AESGCM(key).decrypt(
                blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _AAD_PREFIX + context.encode()
            )
        except InvalidTag:
            raise KeyFileError(
                f"wrapped data key for {context} does not open with KEK version {version}"
            ) from None

    def _serialise(self) -> bytes:
        document = {
            "format": 1,
            "active": self.active_version,
            "keys": {
                str(v): base64.b64encode(k).decode() for v, k in sorted(self.versions.items())
            },
        }
        return json.dumps(document, indent=2).encode()
