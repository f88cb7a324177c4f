"""Rotations: the KEK, the card-credential key and the signing key.

Each writes the new key version to its file first (old versions stay in it),
then re-encrypts what the old version protected in one transaction. If that
transaction fails, everything is still under a version the files hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from facepay.customers.data_keys import rewrap_data_key
from facepay.customers.models import Customer
from facepay.errors import KeyFileError
from facepay.keys.kek import FileKeyRing
from facepay.keys.secrets import PAYMENT_CREDENTIALS, SECRETS_FILE, SecretStore
from facepay.keys.signing import SigningRotation, rotate_signing_key
from payments.methods import CredentialCipher, PaymentMethodStore


@dataclass(frozen=True)
class RotationReport:
    previous_version: int
    active_version: int
    rewrapped: int
    rewrapped_secrets: int = 0


def rotate_kek(keys_dir: Path, sessions: sessionmaker[Session]) -> RotationReport:
    """New KEK version; re-wrap every customer data key and every stored secret."""
    ring = FileKeyRing.load(keys_dir)
    secrets = SecretStore.load(keys_dir, ring)  # refuse before changing anything
    rotated = ring.with_new_version()
    rotated.save()
    with sessions.begin() as session:
        customers = session.scalars(
            select(Customer).where(Customer.wrapped_data_key.is_not(None))
        ).all()
        for customer in customers:
            rewrap_data_key(rotated, customer)
    rewrapped_secrets = secrets.rewrap(rotated)
    return RotationReport(
        ring.active_version, rotated.active_version, len(customers), rewrapped_secrets
    )


def rotate_credential_key(secrets: SecretStore, payments_engine: Engine) -> RotationReport:
    """New card-credential key version; re-encrypt every stored credential with it.

    Eager, not lazy: once this returns no credential is under an older key, so a
    leaked old key is harmless; lazily, idle customers' credentials would stay
    under it for good.
    """
    methods = PaymentMethodStore(
        payments_engine, CredentialCipher(secrets.versions_of(PAYMENT_CREDENTIALS))
    )
    previous, _ = secrets.current(PAYMENT_CREDENTIALS)
    active = secrets.rotate(PAYMENT_CREDENTIALS)
    return RotationReport(previous, active, methods.reencrypt_credentials())


def rotate_signing(keys_dir: Path) -> SigningRotation:
    """New signing key. Refused on an install whose secrets are still derived from the
    signing key (no secret store yet): rotating would lose them."""
    if not (keys_dir / SECRETS_FILE).exists():
        raise KeyFileError(
            f"{keys_dir / SECRETS_FILE} is missing, so secrets are still derived from the "
            "signing key; run `facepay keys migrate` before rotating it"
        )
    return rotate_signing_key(keys_dir)
