"""Installs from before the secret store: their secrets were derived from the signing key.

Until the secret store existed, the card-credential key, the sandbox requestor API
key and the phone-code, customer-session and QR-token HMAC keys were HKDF-SHA256
values of the Ed25519 signing key's seed, one label per purpose. Migration stores
exactly those values as version 1 of each purpose, so stored credentials, live
sessions and QR tokens keep working; from then on the signing key is used for
signing only and can rotate.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from facepay.keys.kek import FileKeyRing
from facepay.keys.secrets import (
    CUSTOMER_SESSION,
    PAYMENT_CREDENTIALS,
    PHONE_CODE,
    QR_TOKEN,
    SANDBOX_REQUESTOR,
    SECRETS_FILE,
    Origin,
    SecretStore,
)
from facepay.keys.signing import load_signing_key

# The HKDF labels the old code used; they must never change.
LEGACY_LABELS = MappingProxyType(
    {
        PAYMENT_CREDENTIALS: "facepay/payment-credentials/v1",
        SANDBOX_REQUESTOR: "facepay/sandbox-requestor/v1",
        PHONE_CODE: "facepay/phone-code/v1",
        CUSTOMER_SESSION: "facepay/customer-session/v1",
        QR_TOKEN: "facepay/qr-token/v1",
    }
)


def derive_legacy_secret(signing_key: Ed25519PrivateKey, purpose: str) -> bytes:
    seed = signing_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    label = LEGACY_LABELS[purpose].encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(seed)


def migrate_secrets(keys_dir: Path) -> SecretStore | None:
    """Create the secret store from the derived values; None when there is one already."""
    if (keys_dir / SECRETS_FILE).exists():
        return None
    kek = FileKeyRing.load(keys_dir)
    signing_key = load_signing_key(keys_dir)
    values = {purpose: derive_legacy_secret(signing_key, purpose) for purpose in LEGACY_LABELS}
    return SecretStore.create(keys_dir, kek, values, origin=Origin.DERIVED_FROM_SIGNING_KEY)
