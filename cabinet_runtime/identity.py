"""The device's identity: its Ed25519 key pair, its cabinet id and the pinned server key.

Everything lives in one state directory: ``device_key.pem`` (PKCS#8, mode 0600,
never leaves the cabinet) and ``identity.json`` (cabinet id, server public key,
gateway URL) written atomically once provisioning succeeded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cabinet_runtime.protocol import (
    PROVISION_PATH,
    ProvisionRequest,
    ProvisionResponse,
    auth_signing_payload,
)

KEY_FILE = "device_key.pem"
IDENTITY_FILE = "identity.json"


class IdentityError(Exception):
    """Base for identity and provisioning failures."""


class NotProvisionedError(IdentityError):
    """The cabinet has no identity yet: run ``cabinet-runtime provision``."""


class ProvisioningError(IdentityError):
    """The server refused provisioning or answered something unusable."""


class _IdentityFile(msgspec.Struct, frozen=True):
    cabinet_id: str
    server_public_key: bytes
    gateway_url: str
    device_public_key: bytes


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class DeviceIdentity:
    cabinet_id: str
    device_key: Ed25519PrivateKey
    server_key: Ed25519PublicKey
    gateway_url: str

    def sign_challenge(self, nonce: bytes) -> bytes:
        return self.device_key.sign(auth_signing_payload(self.cabinet_id, nonce))

    @property
    def device_public_key(self) -> bytes:
        return raw_public_key(self.device_key.public_key())


def verify_ed25519(public_key: Ed25519PublicKey, signature: bytes, payload: bytes) -> bool:
    try:
        public_key.verify(signature, payload)
    except InvalidSignature:
        return False
    return True


class IdentityStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def key_path(self) -> Path:
        return self.directory / KEY_FILE

    @property
    def identity_path(self) -> Path:
        return self.directory / IDENTITY_FILE

    def is_provisioned(self) -> bool:
        return self.identity_path.exists() and self.key_path.exists()

    def device_key(self) -> Ed25519PrivateKey:
        """The existing device key, or a new one written with mode 0600."""
        if self.key_path.exists():
            return self._read_key()
        self.directory.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # O_EXCL: two provisioning runs never overwrite each other's key.
        fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        return key

    def _read_key(self) -> Ed25519PrivateKey:
        mode = self.key_path.stat().st_mode & 0o777
        if mode & 0o077:
            raise IdentityError(f"{self.key_path} is readable by others (mode {mode:o}); chmod 600")
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise IdentityError(f"{self.key_path} is not an Ed25519 key")
        return key

    def load(self) -> DeviceIdentity:
        if not self.is_provisioned():
            raise NotProvisionedError(
                f"no identity in {self.directory}; run 'cabinet-runtime provision'"
            )
        try:
            stored = msgspec.json.decode(self.identity_path.read_bytes(), type=_IdentityFile)
        except msgspec.DecodeError as exc:
            raise IdentityError(f"{self.identity_path} is corrupt: {exc}") from exc
        key = self._read_key()
        if raw_public_key(key.public_key()) != stored.device_public_key:
            raise IdentityError("device key does not match the provisioned public key")
        return DeviceIdentity(
            cabinet_id=stored.cabinet_id,
            device_key=key,
            server_key=Ed25519PublicKey.from_public_bytes(stored.server_public_key),
            gateway_url=stored.gateway_url,
        )

    def save(self, response: ProvisionResponse, device_key: Ed25519PrivateKey) -> DeviceIdentity:
        record = _IdentityFile(
            cabinet_id=response.cabinet_id,
            server_public_key=response.server_public_key,
            gateway_url=response.gateway_url,
            device_public_key=raw_public_key(device_key.public_key()),
        )
        tmp = self.identity_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(msgspec.json.encode(record))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.identity_path)
        return self.load()


def provision(
    store: IdentityStore,
    server_url: str,
    code: str,
    *,
    client: httpx.Client | None = None,
    timeout_s: float = 10.0,
) -> DeviceIdentity:
    """Register this device's public key with the server using a one-time code.

    The identity file is written only after the server's answer validated, so a
    failed attempt leaves the cabinet unprovisioned (the key is reused next time).
    """
    if store.is_provisioned():
        raise ProvisioningError(f"already provisioned (identity in {store.directory})")
    code = code.strip()
    if not 4 <= len(code) <= 200 or not code.isprintable():
        raise ProvisioningError("invalid provisioning code: expected 4-200 printable characters")
    key = store.device_key()
    request = ProvisionRequest(code=code, public_key=raw_public_key(key.public_key()))
    url = server_url.rstrip("/") + PROVISION_PATH
    own_client = client is None
    http = client or httpx.Client(timeout=timeout_s)
    try:
        reply = http.post(
            url,
            content=msgspec.json.encode(request),
            headers={"content-type": "application/json"},
        )
    except httpx.HTTPError as exc:
        raise ProvisioningError(f"cannot reach {url}: {exc}") from exc
    finally:
        if own_client:
            http.close()
    if reply.status_code != 200:
        raise ProvisioningError(f"server refused provisioning ({reply.status_code}): {reply.text}")
    try:
        response = msgspec.json.decode(reply.content, type=ProvisionResponse)
    except (msgspec.DecodeError, ValueError) as exc:
        raise ProvisioningError(f"unusable provisioning response: {exc}") from exc
    return store.save(response, key)
