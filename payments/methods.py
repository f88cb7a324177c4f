"""Linked payment methods: a processor token reference, never a card number.

The token's credential (for the sandbox network: the cryptogram key) is stored
encrypted with AES-256-GCM under a key from configuration.
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from enum import StrEnum

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, Integer, LargeBinary, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from payments.db import PaymentsBase, UTCDateTime, utcnow, write_transaction
from payments.errors import InvalidRequestError, NotFoundError
from payments.processor import PaymentMethod

NONCE_BYTES = 12


class MethodStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REMOVED = "removed"


class CredentialCipher:
    """AES-256-GCM for token credentials; the row id is bound as associated data."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise InvalidRequestError("credential key must be 32 bytes")
        self._aead = AESGCM(key)

    @staticmethod
    def generate_key() -> bytes:
        return AESGCM.generate_key(bit_length=256)

    def encrypt(self, plaintext: bytes, bound_to: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, bound_to.encode())

    def decrypt(self, blob: bytes, bound_to: str) -> bytes:
        return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], bound_to.encode())


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
                    credential=(
                        self.cipher.encrypt(method.credential, pm_id) if method.credential else None
                    ),
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
        credential = self.cipher.decrypt(row.credential, row.id) if row.credential else None
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
