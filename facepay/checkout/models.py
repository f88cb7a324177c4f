"""Purchase sessions (one door opening), their basket lines and receipts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
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
    # A facepay.checkout.states.PurchaseState; moved only by states.move().
    state: Mapped[str] = mapped_column(String(16), index=True)
    # When the purchase expires unless it reaches its next step; None in final states.
    deadline_at: Mapped[datetime | None] = mapped_column(index=True)
    denial_reason: Mapped[str | None] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    hold_amount: Mapped[int] = mapped_column(default=0)
    captured_amount: Mapped[int] = mapped_column(default=0)
    debt_amount: Mapped[int] = mapped_column(default=0)  # what could not be charged
    hold_released_at: Mapped[datetime | None]  # the hold was voided (expiry) before a close
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


class PurchaseTransition(Base):
    """One move of a purchase's state machine, never edited."""

    __tablename__ = "purchase_transitions"

    # An increasing number: the order of moves even when two share a timestamp.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    purchase_id: Mapped[str] = mapped_column(ForeignKey("purchase_sessions.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))  # None: the purchase opened
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]


class StepUpChallenge(Base):
    """A face waiting for the customer's four digits, readable by every API node.

    The embedding is sealed with the KEK (AES-GCM, bound to the purchase id) and the row is
    deleted when the digits arrive or the challenge expires.
    """

    __tablename__ = "step_up_challenges"

    purchase_id: Mapped[str] = mapped_column(ForeignKey("purchase_sessions.id"), primary_key=True)
    sealed_embedding: Mapped[bytes] = mapped_column(LargeBinary)
    key_version: Mapped[int]
    pack_id: Mapped[str | None] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(index=True)
