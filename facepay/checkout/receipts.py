"""Itemised receipts, addressed by an unguessable id."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from facepay.checkout.models import PurchaseSession, Receipt, SessionLine
from facepay.errors import NotFoundError


def new_receipt_id() -> str:
    return secrets.token_urlsafe(32)  # 256 bits: the id alone opens the public page


def issue_receipt(session: Session, purchase: PurchaseSession, total: int) -> Receipt:
    existing = session.scalar(select(Receipt).where(Receipt.session_id == purchase.id))
    if existing is not None:
        return existing
    receipt = Receipt(
        id=new_receipt_id(),
        session_id=purchase.id,
        customer_id=purchase.customer_id,
        total_amount=total,
        currency=purchase.currency,
    )
    session.add(receipt)
    session.flush()
    return receipt


@dataclass(frozen=True)
class ReceiptLineView:
    sku: str
    quantity: int
    unit_price: int
    amount: int


@dataclass(frozen=True)
class ReceiptView:
    id: str
    issued_at: datetime
    cabinet_id: str
    currency: str
    total: int
    lines: tuple[ReceiptLineView, ...]
    review_pending: bool


def receipt_view(session: Session, receipt_id: str) -> ReceiptView:
    receipt = session.get(Receipt, receipt_id)
    if receipt is None:
        raise NotFoundError("no such receipt")
    purchase = session.get(PurchaseSession, receipt.session_id)
    assert purchase is not None  # a receipt always belongs to a session (FK)
    lines = session.scalars(
        select(SessionLine).where(SessionLine.session_id == purchase.id).order_by(SessionLine.sku)
    ).all()
    return ReceiptView(
        id=receipt.id,
        issued_at=receipt.issued_at,
        cabinet_id=purchase.cabinet_id,
        currency=receipt.currency,
        total=receipt.total_amount,
        lines=tuple(
            ReceiptLineView(
                line.sku, line.quantity, line.unit_price, line.quantity * line.unit_price
            )
            for line in lines
        ),
        review_pending=purchase.review_required,
    )
