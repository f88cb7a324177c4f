"""Products and the stock in each cabinet lane."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from facepay.db.base import Base, created_column, utcnow


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (CheckConstraint("price_amount >= 0", name="price_not_negative"),)

    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    price_amount: Mapped[int]  # minor units
    currency: Mapped[str] = mapped_column(String(3))
    # Weights are physical measurements, not money: integer grams x 10 would
    # add nothing, so milligrams keep them exact and integral.
    unit_weight_mg: Mapped[int]
    weight_tolerance_mg: Mapped[int]
    image_ref: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_column()


class InventoryLevel(Base):
    __tablename__ = "inventory_levels"
    __table_args__ = (CheckConstraint("quantity >= 0", name="quantity_not_negative"),)

    cabinet_id: Mapped[str] = mapped_column(ForeignKey("cabinets.id"), primary_key=True)
    lane_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    quantity: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
