"""Ledger tables: accounts with materialised balances, and append-only transfers.

Transfers are never updated or deleted. A pending transfer is resolved by a *new*
transfer (phase ``post`` or ``void``) that points at it; the unique ``pending_id``
column makes "resolved at most once" a database guarantee. Account balance columns
are a materialised cache of the transfers that ``verify_ledger`` recomputes.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntFlag, StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from payments.db import PaymentsBase, UTCDateTime, utcnow


class AccountKind(StrEnum):
    CUSTOMER_PAYMENT_TOKEN = "customer_payment_token"  # noqa: S105
    MERCHANT_PAYABLE = "merchant_payable"
    PLATFORM_FEE_REVENUE = "platform_fee_revenue"
    PROCESSOR_CLEARING = "processor_clearing"
    CUSTOMER_DEBT = "customer_debt"
    PLATFORM_WRITE_OFF = "platform_write_off"  # debts staff forgave


class AccountFlag(IntFlag):
    NONE = 0
    # debits_pending + debits_posted may never exceed credits_posted
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1
    # credits_pending + credits_posted may never exceed debits_posted
    CREDITS_MUST_NOT_EXCEED_DEBITS = 2


class Phase(StrEnum):
    SINGLE = "single"  # posted immediately
    PENDING = "pending"  # reserves; later resolved by exactly one post or void
    POST = "post"
    VOID = "void"


class LedgerAccount(PaymentsBase):
    __tablename__ = "payments_ledger_accounts"
    __table_args__ = (
        CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0"
            " AND credits_posted >= 0",
            name="balances_non_negative",
        ),
    )

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    owner_ref: Mapped[str] = mapped_column(String(120))
    currency: Mapped[str] = mapped_column(String(3))
    flags: Mapped[int] = mapped_column(Integer, default=0)
    debits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    debits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerTransfer(PaymentsBase):
    __tablename__ = "payments_ledger_transfers"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        CheckConstraint(
            "(phase IN ('post', 'void')) = (pending_id IS NOT NULL)", name="resolution_has_pending"
        ),
        Index("ix_payments_ledger_transfers_debit", "debit_account_id"),
        Index("ix_payments_ledger_transfers_credit", "credit_account_id"),
        Index("ix_payments_ledger_transfers_open_timeouts", "phase", "timeout_at"),
        Index("ix_payments_ledger_transfers_reference", "reference"),
    )

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    debit_account_id: Mapped[str] = mapped_column(ForeignKey("payments_ledger_accounts.id"))
    credit_account_id: Mapped[str] = mapped_column(ForeignKey("payments_ledger_accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    phase: Mapped[str] = mapped_column(String(10))
    # For post/void: the pending transfer resolved. Unique: a pending resolves at most once.
    pending_id: Mapped[str | None] = mapped_column(
        ForeignKey("payments_ledger_transfers.id"), unique=True, default=None
    )
    timeout_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    code: Mapped[str] = mapped_column(String(40), default="")
    reference: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
