"""Cabinets and their planograms (which SKU sits in which lane of which shelf)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from facepay.db.base import Base, created_column, id_column


class Cabinet(Base):
    __tablename__ = "cabinets"

    id: Mapped[str] = id_column()
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="unprovisioned")
    # Raw 32-byte Ed25519 public key registered at provisioning.
    device_public_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    provisioned_at: Mapped[datetime | None]
    hold_amount: Mapped[int]  # minor units, authorised when the door unlocks
    currency: Mapped[str] = mapped_column(String(3))
    online: Mapped[bool] = mapped_column(default=False)
    last_seen_at: Mapped[datetime | None]
    last_telemetry: Mapped[str | None] = mapped_column(Text)  # the latest report, JSON
    created_at: Mapped[datetime] = created_column()


class ProvisioningCode(Base):
    """A one-time code an installer types into `cabinet-runtime provision`.

    Only its SHA-256 is stored; redeeming it is a single conditional UPDATE, so
    two devices racing with one code cannot both register.
    """

    __tablename__ = "cabinet_provisioning_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    cabinet_id: Mapped[str] = mapped_column(ForeignKey("cabinets.id"), index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_column()


class CabinetOutboxMessage(Base):
    """A server→cabinet message that must arrive (e.g. session_settled).

    Kept until the cabinet acknowledges its id; resent on every reconnect.
    """

    __tablename__ = "cabinet_outbox"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the message id
    cabinet_id: Mapped[str] = mapped_column(ForeignKey("cabinets.id"), index=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created_column()
    acked_at: Mapped[datetime | None] = mapped_column(index=True)


class Planogram(Base):
    __tablename__ = "planograms"
    __table_args__ = (UniqueConstraint("cabinet_id", "version"),)

    id: Mapped[str] = id_column()
    cabinet_id: Mapped[str] = mapped_column(ForeignKey("cabinets.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = created_column()


class PlanogramLane(Base):
    __tablename__ = "planogram_lanes"
    __table_args__ = (UniqueConstraint("planogram_id", "lane_id"),)

    id: Mapped[str] = id_column()
    planogram_id: Mapped[str] = mapped_column(ForeignKey("planograms.id"), index=True)
    shelf_id: Mapped[str] = mapped_column(String(64))
    lane_id: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    capacity: Mapped[int] = mapped_column(Integer)
