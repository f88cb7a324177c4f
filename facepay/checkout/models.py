"""Purchase sessions (one door opening), their basket lines and receipts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from facepay.db.base import Base, created_column, id_column


class PurchaseSession(Base):
    __tablename__ = "purchase_sessions"
    # The cabinet names its sessions; the pair is unique, the name alone need not be.
    __table_args__ = (UniqueConstraint("cabinet_id", "cabinet_session_id"),)

    id: Mapped[str] = id_column()
    cabinet_id: Mapped[str] = mapped_column(ForeignKey("cabinets.id"), index=True)
    cabinet_session_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    auth_method: Mapped[str] = mapped_column(String(16))  # face|qr
    # identifying|denied|held|unlocked|closed|review|settled|failed — every step persisted.
    state: Mapped[str] = mapped_column(String(16), index=True)
    denial_reason: Mapped[str | None] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    hold_amount: Mapped[int] = mapped_column(default=0)
    captured_amount: Mapped[int] = mapped_column(default=0)
    authorization_ref: Mapped[str | None] = mapped_column(String(100))
    # The cabinet's session_closed message id: a duplicate close changes nothing.
    close_message_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    review_required: Mapped[bool] = mapped_column(default=False)
    # Why staff must look at it (e.g. the basket check's refusal); None when nothing is wrong.
    review_reason: Mapped[str | None] = mapped_column(String(500))
    opened_at: Mapped[datetime] = created_column()
    closed_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]


class SessionLine(Base):
    __tablename__ = "session_lines"
    __table_args__ = (
        UniqueConstraint("session_id", "sku"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[str] = id_column()
    session_id: Mapped[str] = mapped_column(ForeignKey("purchase_sessions.id"), index=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int]  # minor units, in the session's currency
    confidence: Mapped[float] = mapped_column(Float)


class Receipt(Base):
    __tablename__ = "receipts"

    # Unguessable: the public receipt page is addressed by this id alone.
    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("purchase_sessions.id"), unique=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    total_amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    issued_at: Mapped[datetime] = created_column()
