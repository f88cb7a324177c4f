"""Customers, their phones, their cohort memberships and their face templates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from facepay.db.base import Base, created_column, id_column


class Site(Base):
    """A place with cabinets. Its customers form the matcher cohort."""

    __tablename__ = "sites"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Seoul")
    currency: Mapped[str] = mapped_column(String(3))
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
