"""Customers, their phones, their cohort memberships and their face templates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from facepay.customers.basket_limits import site_default
from facepay.db.base import Base, created_column, id_column
from facepay.notifications import OutboxMessage  # noqa: F401  (registers the outbox table)


class Site(Base):
    """A place with cabinets. Its customers form the matcher cohort."""

    __tablename__ = "sites"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Seoul")
    currency: Mapped[str] = mapped_column(String(3))
    # The processor that links cards for this site's customers; None: the server's default.
    default_processor: Mapped[str | None] = mapped_column(String(32))
    # The most one visit may be charged (minor units): a bigger reported basket goes to review.
    max_basket_amount: Mapped[int] = mapped_column(default=site_default)
    created_at: Mapped[datetime] = created_column()


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = id_column()
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|deleted
    display_name: Mapped[str | None] = mapped_column(String(200))
    # The customer's template data key, wrapped by the KEK version named beside it.
    # Deleting the customer nulls both: crypto-shredding.
    wrapped_data_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    kek_version: Mapped[int | None]
    # A payments.methods row id; the card itself lives in the payments tables.
    default_payment_method_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = created_column()
    deleted_at: Mapped[datetime | None]


class PhoneLink(Base):
    __tablename__ = "phone_links"

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    phone_e164: Mapped[str] = mapped_column(String(16), unique=True)
    last4: Mapped[str] = mapped_column(String(4), index=True)
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_column()


class CohortMembership(Base):
    __tablename__ = "cohort_memberships"
    __table_args__ = (UniqueConstraint("customer_id", "site_id"),)

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    created_at: Mapped[datetime] = created_column()


class FaceTemplate(Base):
    """An embedding sealed with the customer's data key (AES-256-GCM).

    ``model_pack_id`` and ``key_version`` are bound into the ciphertext's
    associated data as well; they are columns so a pack change can be found
    and reported without decrypting anything.
    """

    __tablename__ = "face_templates"

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    model_pack_id: Mapped[str] = mapped_column(String(64), index=True)
    key_version: Mapped[int]
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created_column()


class PhoneVerification(Base):
    """One one-time code sent to a phone. The code is kept only as a keyed hash."""

    __tablename__ = "phone_verifications"

    id: Mapped[str] = id_column()
    phone_link_id: Mapped[str] = mapped_column(ForeignKey("phone_links.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]


class QrToken(Base):
    """A QR unlock token's single-use record; the token itself is never stored."""

    __tablename__ = "qr_tokens"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    redeemed_at: Mapped[datetime | None]
    redeemed_site_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = created_column()


class CardLinkSession(Base):
    """A card link in progress on the processor's own page."""

    __tablename__ = "card_link_sessions"
    __table_args__ = (UniqueConstraint("customer_id", "idempotency_key"),)

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    processor: Mapped[str] = mapped_column(String(32))
    setup_ref: Mapped[str] = mapped_column(String(200))
    redirect_url: Mapped[str | None] = mapped_column(String(2000))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|completed
    payment_method_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = created_column()
