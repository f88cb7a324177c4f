"""Stock per cabinet lane, as the server counts it."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from facepay.catalog.models import InventoryLevel


def take_from_stock(session: Session, cabinet_id: str, taken: Iterable[tuple[str, int]]) -> None:
    """Decrement the lanes holding each SKU, fullest lane first, never below zero."""
    for sku, quantity in taken:
        remaining = quantity
        lanes = session.scalars(
            select(InventoryLevel)
            .where(InventoryLevel.cabinet_id == cabinet_id, InventoryLevel.sku == sku)
            .order_by(InventoryLevel.quantity.desc())
            .with_for_update()
        ).all()
        for lane in lanes:
            moved = min(lane.quantity, remaining)
            lane.quantity -= moved
            remaining -= moved
            if remaining == 0:
                break
