"""Customer debts: a capture that failed after the goods were taken.

A customer with an open debt gets no new purchase hold until a retry charge succeeds
(``DebtService.retry``) or staff settle it (``DebtService.settle_by_staff``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Engine, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from payments.authorizations.postings import Postings
from payments.db import PaymentsBase, UTCDateTime, utcnow, write_transaction
from payments.errors import DebtAlreadySettledError, InvalidRequestError, NotFoundError
from payments.money import Money

if TYPE_CHECKING:
    from payments.authorizations.service import AuthorizationService
    from payments.authorizations.transitions import OperationResult


class DebtStatus(StrEnum):
    OPEN = "open"
    REPAID = "repaid"  # a retry charge succeeded
    WRITTEN_OFF = "written_off"  # staff settled it


class Debt(PaymentsBase):
    __tablename__ = "payments_debts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_ref: Mapped[str] = mapped_column(String(120), index=True)
    authorization_id: Mapped[str] = mapped_column(String(40), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default=DebtStatus.OPEN.value)
    reason: Mapped[str] = mapped_column(String(300), default="")
    settled_by: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


@dataclass(frozen=True, slots=True)
class DebtView:
    id: str
    customer_ref: str
    amount: int
    currency: str
    status: str
    reason: str
    settled_by: str | None


def _view(row: Debt) -> DebtView:
    return DebtView(
        row.id,
        row.customer_ref,
        row.amount,
        row.currency,
        row.status,
        row.reason,
        row.settled_by,
    )


def new_debt(
    session: Session, customer_ref: str, authorization_id: str, amount: Money, reason: str
) -> Debt:
    row = Debt(
        id="debt_" + secrets.token_hex(10),
        customer_ref=customer_ref,
        authorization_id=authorization_id,
        amount=amount.amount,
        currency=amount.currency,
        status=DebtStatus.OPEN.value,
        reason=reason[:300],
        created_at=utcnow(),
    )
    session.add(row)
    return row


def open_debts(session: Session, customer_ref: str) -> list[Debt]:
    return list(
        session.scalars(
            select(Debt).where(
                Debt.customer_ref == customer_ref, Debt.status == DebtStatus.OPEN.value
            )
        )
    )


def debt_is_open(session: Session, debt_id: str) -> bool:
    row = session.get(Debt, debt_id, with_for_update=True)
    return row is not None and row.status == DebtStatus.OPEN.value


def mark_repaid(session: Session, debt_id: str, authorization_id: str) -> None:
    row = session.get(Debt, debt_id, with_for_update=True)
    if row is not None and row.status == DebtStatus.OPEN.value:
        row.status = DebtStatus.REPAID.value
        row.settled_by = authorization_id
        row.settled_at = utcnow()


class DebtService:
    def __init__(self, engine: Engine, authorizations: AuthorizationService) -> None:
        self.engine = engine
        self.authorizations = authorizations

    def open_debts(self, customer_ref: str) -> list[DebtView]:
        with Session(self.engine) as session:
            return [_view(row) for row in open_debts(session, customer_ref)]

    def get(self, debt_id: str) -> DebtView:
        with Session(self.engine) as session:
            row = session.get(Debt, debt_id)
            if row is None:
                raise NotFoundError(f"no debt {debt_id!r}")
            return _view(row)

    def retry(
        self, debt_id: str, *, payment_method_id: str, merchant_ref: str, idempotency_key: str
    ) -> OperationResult:
        """Charge the debt again (hold + full capture); the debt is repaid on success."""
        debt = self.get(debt_id)
        if debt.status != DebtStatus.OPEN.value:
            raise InvalidRequestError(f"debt {debt_id} is {debt.status}")
        amount = Money(debt.amount, debt.currency)
        held = self.authorizations.hold(
            payment_method_id=payment_method_id,
            amount=amount,
            merchant_ref=merchant_ref,
            idempotency_key=f"{idempotency_key}:hold",
            reference=debt_id,
            for_debt=debt_id,
        )
        if not held.approved:
            return held
        try:
            return self.authorizations.capture(
                authorization_id=held.authorization.id,
                amount=amount,
                idempotency_key=f"{idempotency_key}:capture",
                goods_taken=False,
            )
        except DebtAlreadySettledError:
            # staff settled it while we held the card: release the hold, charge nothing
            self.authorizations.void(
                authorization_id=held.authorization.id,
                idempotency_key=f"{idempotency_key}:void",
            )
            raise

    def settle_by_staff(self, debt_id: str, *, staff_ref: str, note: str) -> DebtView:
        """Staff settle (forgive or collect outside the platform): written off in the ledger."""
        if not staff_ref or not note:
            raise InvalidRequestError("staff_ref and a note are required to settle a debt")
        with write_transaction(self.engine) as session:
            row = session.get(Debt, debt_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"no debt {debt_id!r}")
            if row.status != DebtStatus.OPEN.value:
                raise InvalidRequestError(f"debt {debt_id} is {row.status}")
            Postings(session).write_off(row.customer_ref, row.id, Money(row.amount, row.currency))
            row.status = DebtStatus.WRITTEN_OFF.value
            row.settled_by = f"staff:{staff_ref}: {note}"[:200]
            row.settled_at = utcnow()
            return _view(row)
