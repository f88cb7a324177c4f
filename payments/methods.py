"""Linked payment methods: a processor token reference, never a card number.

The token's credential (for the sandbox network: the cryptogram key) is stored
encrypted with AES-256-GCM under a versioned key from configuration; each row
records the key version it was encrypted with, so the key can rotate.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, Integer, LargeBinary, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from payments.db import PaymentsBase, UTCDateTime, utcnow, write_transaction
from payments.errors import CredentialKeyError, InvalidRequestError, NotFoundError
from payments.processor import PaymentMethod

NONCE_BYTES = 12


class MethodStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REMOVED = "removed"


class CredentialKeys(Protocol):
    """Where the cipher finds its keys: the active version and any older one."""

    def active(self) -> tuple[int, bytes]: ...

    def version(self, version: int) -> bytes:
        """The key of ``version``; raises ``LookupError`` when there is none."""
        ...


class FixedCredentialKeys:
    """Credential keys held in memory (tests, tools, a single configured key)."""

    def __init__(self, versions: Mapping[int, bytes], active: int) -> None:
        if active not in versions:
            raise InvalidRequestError(f"active credential key version {active} is not given")
        self._versions = dict(versions)
        self._active = active

    def active(self) -> tuple[int, bytes]:
        return self._active, self._versions[self._active]

    def version(self, version: int) -> bytes:
        return self._versions[version]


class CredentialCipher:
    """AES-256-GCM for token credentials; the row id is bound as associated data.

    Encrypts with the active key version and decrypts with whichever version a
    credential was stored under. A bare key is taken as the only version, 1.
    """

    def __init__(self, keys: CredentialKeys | bytes) -> None:
        if isinstance(keys, bytes):
            keys = FixedCredentialKeys({1: keys}, active=1)
        self._keys = keys
        self._aead(*keys.active())  # refuse a bad key now, not at the first charge

    @staticmethod
    def generate_key() -> bytes:
        return AESGCM.generate_key(bit_length=256)

    @property
    def active_version(self) -> int:
        return self._keys.active()[0]

    def encrypt(self, plaintext: bytes, bound_to: str) -> tuple[int, bytes]:
        """Encrypt with the active key; returns (key version, blob)."""
        version, key = self._keys.active()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead(version, key).encrypt(nonce, plaintext, bound_to.encode())
        return version, nonce + sealed

    def decrypt(self, blob: bytes, version: int, bound_to: str) -> bytes:
        try:
            key = self._keys.version(version)
        except LookupError:
            raise CredentialKeyError(f"credential key version {version} is not available") from None
        try:
            return self._aead(version, key).decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], bound_to.encode()
            )
        except InvalidTag:
            raise CredentialKeyError(
                f"the credential of {bound_to} does not decrypt with key version {version}"
            ) from None

    @staticmethod
    def _aead(version: int, key: bytes) -> AESGCM:
        if len(key) != 32:
            raise InvalidRequestError(f"credential key version {version} must be 32 bytes")
        return AESGCM(key)


class StoredPaymentMethod(PaymentsBase):
    __tablename__ = "payments_payment_methods"
    __table_args__ = (UniqueConstraint("processor", "token_ref"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_ref: Mapped[str] = mapped_column(String(120), index=True)
    processor: Mapped[str] = mapped_column(String(40))
    token_ref: Mapped[str] = mapped_column(String(200))
    brand: Mapped[str] = mapped_column(String(20))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    credential: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # The key version that encrypted ``credential`` (meaningless without one); rows
    # stored before versions existed were encrypted with version 1.
    credential_key_version: Mapped[int | None] = mapped_column(Integer, server_default="1")
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentMethodStore:
    def __init__(self, engine: Engine, cipher: CredentialCipher) -> None:
        self.engine = engine
        self.cipher = cipher

    def save(self, customer_ref: str, method: PaymentMethod) -> str:
        """Store a linked method for a customer; linking the same token again is a no-op."""
        if not customer_ref:
            raise InvalidRequestError("customer_ref is required")
        with write_transaction(self.engine) as session:
            existing = session.scalars(
                select(StoredPaymentMethod).where(
                    StoredPaymentMethod.processor == method.processor,
                    StoredPaymentMethod.token_ref == method.token_ref,
                )
            ).first()
            if existing is not None:
                if existing.customer_ref != customer_ref:
                    raise InvalidRequestError("token is linked to another customer")
                return existing.id
            pm_id = "pm_" + secrets.token_hex(12)
            key_version, credential = (
                self.cipher.encrypt(method.credential, pm_id) if method.credential else (None, None)
            )
            session.add(
                StoredPaymentMethod(
                    id=pm_id,
                    customer_ref=customer_ref,
                    processor=method.processor,
                    token_ref=method.token_ref,
                    brand=method.brand,
                    last4=method.last4,
                    exp_month=method.exp_month,
                    exp_year=method.exp_year,
                    credential=credential,
                    credential_key_version=key_version,
                    status=MethodStatus.ACTIVE.value,
                    created_at=utcnow(),
                )
            )
            return pm_id

    def load(self, session: Session, pm_id: str) -> tuple[str, PaymentMethod]:
        """The owning customer and the usable method (credential decrypted)."""
        row = session.get(StoredPaymentMethod, pm_id)
        # a suspended token is still offered: the processor declines it with a clear code
        if row is None or row.status == MethodStatus.REMOVED:
            raise NotFoundError(f"no usable payment method {pm_id!r}")
        credential = self._decrypt(row)
        return row.customer_ref, PaymentMethod(
            processor=row.processor,
            token_ref=row.token_ref,
            brand=row.brand,
            last4=row.last4,
            exp_month=row.exp_month,
            exp_year=row.exp_year,
            credential=credential,
        )

    def get(self, pm_id: str) -> tuple[str, PaymentMethod]:
        with Session(self.engine) as session:
            return self.load(session, pm_id)

    def remove(self, pm_id: str) -> None:
        with write_transaction(self.engine) as session:
            row = session.get(StoredPaymentMethod, pm_id)
            if row is None:
                raise NotFoundError(f"no payment method {pm_id!r}")
            row.status = MethodStatus.REMOVED.value
            row.credential = None  # the token's key is useless without the token

    def set_token_status(self, processor: str, token_ref: str, status: MethodStatus) -> str:
        """Follow the processor's token lifecycle (e.g. a network notification that the
        token was suspended, resumed or deleted). Returns the payment method id."""
        with write_transaction(self.engine) as session:
            row = session.scalars(
                select(StoredPaymentMethod).where(
                    StoredPaymentMethod.processor == processor,
                    StoredPaymentMethod.token_ref == token_ref,
                )
            ).first()
            if row is None:
                raise NotFoundError("no payment method with this token")
            if row.status == MethodStatus.REMOVED:
                return row.id  # deletion is final
            row.status = status.value
            if status is MethodStatus.REMOVED:
                row.credential = None
            return row.id

    def status(self, pm_id: str) -> MethodStatus:
        with Session(self.engine) as session:
            row = session.get(StoredPaymentMethod, pm_id)
            if row is None:
                raise NotFoundError(f"no payment method {pm_id!r}")
            return MethodStatus(row.status)

    def reencrypt_credentials(self) -> int:
        """Re-encrypt every stored credential with the active key version, in one
        transaction (a credential that does not decrypt aborts it, changing nothing).
        Returns how many were re-encrypted."""
        active = self.cipher.active_version
        with write_transaction(self.engine) as session:
            rows = session.scalars(
                select(StoredPaymentMethod)
                .where(StoredPaymentMethod.credential.is_not(None))
                .order_by(StoredPaymentMethod.id)
            ).all()
            stale = [row for row in rows if row.credential_key_version != active]
            for row in stale:
                plaintext = self._decrypt(row) or b""
                row.credential_key_version, row.credential = self.cipher.encrypt(plaintext, row.id)
            return len(stale)

    def _decrypt(self, row: StoredPaymentMethod) -> bytes | None:
        if row.credential is None:
            return None
        if row.credential_key_version is None:
            raise CredentialKeyError(f"the credential of {row.id} names no key version")
        return self.cipher.decrypt(row.credential, row.credential_key_version, row.id)
