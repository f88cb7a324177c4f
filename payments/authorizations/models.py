"""Authorizations (holds) and the journal of processor operations on them.

An operation row is written with status ``intent`` *before* the processor is called
and completed in the transaction that records the outcome, so a crash in between
leaves an intent the reconciler can finish by asking the processor.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from payments.db import PaymentsBase, UTCDateTime, utcnow


class AuthStatus(StrEnum):
    PENDING = "pending"  # intent recorded, no answer yet
    HELD = "held"
    DECLINED = "declined"
    FAILED = "failed"  # the processor never applied it
    CAPTURED = "captured"
    VOIDED = "voided"
    EXPIRED = "expired"
    CAPTURE_FAILED = "capture_failed"  # became a customer debt


class Purpose(StrEnum):
    PURCHASE = "purchase"
    DEBT_RETRY = "debt_retry"


class OpStatus(StrEnum):
    INTENT = "intent"
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    REJECTED = "rejected"  # the processor refused the request as invalid
    ABANDONED = "abandoned"  # the processor never applied it


class Authorization(PaymentsBase):
    __tablename__ = "payments_authorizations"
    __table_args__ = (Index("ix_payments_authorizations_status_expires", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_ref: Mapped[str] = mapped_column(String(120), index=True)
    merchant_ref: Mapped[str] = mapped_column(String(120))
    payment_method_id: Mapped[str] = mapped_column(ForeignKey("payments_payment_methods.id"))
    processor: Mapped[str] = mapped_column(String(40))
    processor_ref: Mapped[str | None] = mapped_column(String(200), default=None)
    currency: Mapped[str] = mapped_column(String(3))
    requested: Mapped[int] = mapped_column(BigInteger)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    captured: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(20), default=Purpose.PURCHASE.value)
    reference: Mapped[str] = mapped_column(String(200), default="")
    decline_code: Mapped[str | None] = mapped_column(String(40), default=None)
    pending_count: Mapped[int] = mapped_column(Integer, default=0)  # ledger pendings (holds)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Operation(PaymentsBase):
    __tablename__ = "payments_operations"
    __table_args__ = (Index("ix_payments_operations_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    authorization_id: Mapped[str] = mapped_column(
        ForeignKey("payments_authorizations.id"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    # The idempotency key we send the processor; unique, so a step is sent at most once.
    processor_key: Mapped[str] = mapped_column(String(200), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    # The caller's idempotency record, completed in the same transaction as the outcome.
    idem_scope: Mapped[str] = mapped_column(String(60), default="")
    idem_key: Mapped[str] = mapped_column(String(200), default="")
    goods_taken: Mapped[bool] = mapped_column(default=False)
    decline_code: Mapped[str | None] = mapped_column(String(40), default=None)
    message: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
