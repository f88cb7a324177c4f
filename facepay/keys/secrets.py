"""Secrets of their own: a versioned value per purpose, each wrapped by the KEK.

``<keys_dir>/secrets.json`` (mode 0600) keeps every version a purpose ever had,
each value AES-GCM-wrapped by the KEK ring with the purpose and version bound as
associated data, so a value moved to another purpose or version does not open.
One version per purpose is active: new values are made with it, and older ones
stay readable so what they protect keeps working after a rotation.

A running server re-reads the file when it changes (another process rotated a
secret or the KEK), so it can open values stored under a version it has not
seen yet.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from facepay.errors import KeyFileError
from facepay.keys.files import read_secret, write_secret
from facepay.keys.kek import KeyEncryptionKey

SECRETS_FILE = "secrets.json"
SECRET_BYTES = 32

PAYMENT_CREDENTIALS = "payment-credentials"  # AES-256 key of stored card credentials
CUSTOMER_SESSION = "customer-session"  # HMAC key of customers' session tokens
QR_TOKEN = "qr-token"  # noqa: S105 - a purpose name; HMAC key of QR unlock tokens
PHONE_CODE = "phone-code"  # HMAC key of phone verification code hashes
SANDBOX_REQUESTOR = "sandbox-requestor"  # FacePay's API key at the embedded sandbox network
PURPOSES = (PAYMENT_CREDENTIALS, CUSTOMER_SESSION, QR_TOKEN, PHONE_CODE, SANDBOX_REQUESTOR)


class Origin(StrEnum):
    """Where a value came from: fresh randomness, or migrated from the old derivation."""

    RANDOM = "random"
    DERIVED_FROM_SIGNING_KEY = "derived-from-signing-key"


@dataclass(frozen=True)
class SecretVersion:
    kek_version: int
    wrapped: bytes
    origin: Origin
    created_at: str


@dataclass(frozen=True)
class PurposeSecrets:
    active: int
    versions: dict[int, SecretVersion]


def _context(purpose: str, version: int) -> str:
    return f"secret/{purpose}/v{version}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SecretStore:
    """The secret file, opened with a KEK; thread-safe, re-read when it changes."""

    def __init__(self, path: Path, kek: KeyEncryptionKey) -> None:
        self.path = path
        self._kek = kek
        self._lock = threading.Lock()
        self._opened: dict[tuple[str, int], bytes] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._purposes: dict[str, PurposeSecrets] = {}
        with self._lock:
            self._refresh()

    # --- creating and opening ------------------------------------------------------------

    @classmethod
    def load(cls, keys_dir: Path, kek: KeyEncryptionKey) -> SecretStore:
        return cls(keys_dir / SECRETS_FILE, kek)

    @classmethod
    def create(
        cls,
        keys_dir: Path,
        kek: KeyEncryptionKey,
        values: dict[str, bytes] | None = None,
        origin: Origin = Origin.RANDOM,
    ) -> SecretStore:
        """Write a new file (never over an old one): version 1 of every purpose,
        from ``values`` where given, else fresh random bytes."""
        given = values or {}
        created = _now()
        purposes: dict[str, PurposeSecrets] = {}
        for purpose in PURPOSES:
            value = given.get(purpose)
            kek_version, wrapped = kek.wrap(value or os.urandom(SECRET_BYTES), _context(purpose, 1))
            version = SecretVersion(
                kek_version, wrapped, origin if value else Origin.RANDOM, created
            )
            purposes[purpose] = PurposeSecrets(active=1, versions={1: version})
        path = keys_dir / SECRETS_FILE
        write_secret(path, _serialise(purposes))
        return cls(path, kek)

    # --- reading -------------------------------------------------------------------------

    def current(self, purpose: str) -> tuple[int, bytes]:
        """The active version of ``purpose`` and its value."""
        with self._lock:
            self._refresh()
            version = self._purpose(purpose).active
            return version, self._open(purpose, version)

    def get(self, purpose: str, version: int) -> bytes:
        with self._lock:
            if version not in self._purpose(purpose).versions:
                self._refresh()  # perhaps another process added it since
            return self._open(purpose, version)

    def describe(self) -> dict[str, dict[str, Any]]:
        """Versions and origins per purpose, without any value (for doctor)."""
        with self._lock:
            self._refresh()
            return {
                purpose: {
                    "active_version": entry.active,
                    "versions": sorted(entry.versions),
                    "active_origin": entry.versions[entry.active].origin.value,
                }
                for purpose, entry in sorted(self._purposes.items())
            }

    def open_all(self) -> int:
        """Open every stored value (a check that the KEK ring fits); returns how many."""
        with self._lock:
            self._refresh()
            for purpose, entry in self._purposes.items():
                for version in entry.versions:
                    self._open(purpose, version)
            return sum(len(entry.versions) for entry in self._purposes.values())

    def versions_of(self, purpose: str) -> PurposeKeys:
        """One purpose's versions as a lookup (what ``CredentialCipher`` takes)."""
        with self._lock:
            self._purpose(purpose)
        return PurposeKeys(self, purpose)

    # --- changing ------------------------------------------------------------------------

    def rotate(self, purpose: str) -> int:
        """Add a fresh random version of ``purpose`` and make it active; returns it."""
        with self._lock:
            self._refresh()
            entry = self._purpose(purpose)
            version = max(entry.versions) + 1
            value = os.urandom(SECRET_BYTES)
            kek_version, wrapped = self._kek.wrap(value, _context(purpose, version))
            added = SecretVersion(kek_version, wrapped, Origin.RANDOM, _now())
            purposes = {
                **self._purposes,
                purpose: PurposeSecrets(version, {**entry.versions, version: added}),
            }
            self._save(purposes)
            self._opened[(purpose, version)] = value
            return version

    def rewrap(self, kek: KeyEncryptionKey) -> int:
        """Wrap every value with ``kek``'s active version (after a KEK rotation) and use
        that KEK from now on. Returns how many values were re-wrapped."""
        with self._lock:
            self._refresh()
            purposes: dict[str, PurposeSecrets] = {}
            count = 0
            for purpose, entry in self._purposes.items():
                versions: dict[int, SecretVersion] = {}
                for number, version in entry.versions.items():
                    kek_version, wrapped = kek.wrap(
                        self._open(purpose, number), _context(purpose, number)
                    )
                    versions[number] = replace(version, kek_version=kek_version, wrapped=wrapped)
                    count += 1
                purposes[purpose] = PurposeSecrets(entry.active, versions)
            self._kek = kek
            self._save(purposes)
            return count

    # --- inside (callers hold the lock) ----------------------------------------------------

    def _purpose(self, purpose: str) -> PurposeSecrets:
        entry = self._purposes.get(purpose)
        if entry is None:
            raise KeyFileError(f"{self.path} has no secret for {purpose!r}")
        return entry

    def _open(self, purpose: str, version: int) -> bytes:
        value = self._opened.get((purpose, version))
        if value is not None:
            return value
        stored = self._purpose(purpose).versions.get(version)
        if stored is None:
            raise KeyFileError(f"{self.path} has no version {version} of {purpose!r}")
        try:
            value = self._kek.unwrap(stored.wrapped, stored.kek_version, _context(purpose, version))
        except KeyFileError as exc:
            raise KeyFileError(
                f"{purpose!r} version {version} in {self.path} does not open: {exc} "
                "(after `facepay keys rotate-kek`, restart running servers)"
            ) from exc
        self._opened[(purpose, version)] = value
        return value

    def _refresh(self) -> None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            raise KeyFileError(
                f"{self.path} is missing; run `facepay keys migrate` (an install from before "
                "the secret store) or `facepay keys init` (a new one)"
            ) from None
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        if stamp == self._stamp:
            return
        self._purposes = _parse(self.path, read_secret(self.path))
        self._stamp = stamp

    def _save(self, purposes: dict[str, PurposeSecrets]) -> None:
        write_secret(self.path, _serialise(purposes), replace=True)
        self._purposes = purposes
        info = self.path.stat()
        self._stamp = (info.st_ino, info.st_mtime_ns, info.st_size)


@dataclass(frozen=True)
class PurposeKeys:
    """The versions of one purpose, read live from the store."""

    store: SecretStore
    purpose: str

    def active(self) -> tuple[int, bytes]:
        return self.store.current(self.purpose)

    def version(self, version: int) -> bytes:
        try:
            return self.store.get(self.purpose, version)
        except KeyFileError as exc:
            raise LookupError(str(exc)) from exc


def _serialise(purposes: dict[str, PurposeSecrets]) -> bytes:
    document = {
        "format": 1,
        "secrets": {
            purpose: {
                "active": entry.active,
                "versions": {
                    str(number): {
                        "kek_version": version.kek_version,
                        "wrapped": base64.b64encode(version.wrapped).decode(),
                        "origin": version.origin.value,
                        "created_at": version.created_at,
                    }
                    for number, version in sorted(entry.versions.items())
                },
            }
            for purpose, entry in sorted(purposes.items())
        },
    }
    return json.dumps(document, indent=2).encode()


def _parse(path: Path, raw: bytes) -> dict[str, PurposeSecrets]:
    try:
        document = json.loads(raw)
        if document["format"] != 1:
            raise ValueError(f"unknown format {document['format']!r}")
        purposes: dict[str, PurposeSecrets] = {}
        for purpose, entry in document["secrets"].items():
            versions = {
                int(number): SecretVersion(
                    kek_version=int(version["kek_version"]),
                    wrapped=base64.b64decode(version["wrapped"], validate=True),
                    origin=Origin(version["origin"]),
                    created_at=str(version["created_at"]),
                )
                for number, version in entry["versions"].items()
            }
            active = int(entry["active"])
            if active not in versions:
                raise ValueError(f"{purpose}: active version {active} is not stored")
            purposes[str(purpose)] = PurposeSecrets(active, versions)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyFileError(f"{path} is not a valid secret store: {exc}") from exc
    return purposes
