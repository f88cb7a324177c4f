"""Turning the cabinet's recognised basket into priced lines and stock changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cabinet_runtime.protocol import BasketLine
from facepay.catalog.models import InventoryLevel, Product


@dataclass(frozen=True)
class PricedLine:
    sku: str
    name: str
    quantity: int
    unit_price: int
    confidence: float

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class PricedBasket:
    lines: tuple[PricedLine, ...]
    currency: str
    unknown_skus: tuple[str, ...]

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)


def price_basket(session: Session, currency: str, lines: Sequence[BasketLine]) -> PricedBasket:
    """Catalogue prices, never prices sent by the cabinet. A SKU the catalogue does
    not know (or sells in another currency) is left out and reported, so the
    session goes to review instead of charging a guess."""
    merged: dict[str, tuple[int, float]] = {}
    for line in lines:
        qty, confidence = merged.get(line.sku, (0, 1.0))
        merged[line.sku] = (qty + line.qty, min(confidence, line.confidence))
    priced: list[PricedLine] = []
    unknown: list[str] = []
    for sku, (qty, confidence) in sorted(merged.items()):
        product = session.get(Product, sku)
        if product is None or product.currency != currency:
            unknown.append(sku)
            continue
        priced.append(PricedLine(sku, product.name, qty, product.price_amount, confidence))
    return PricedBasket(tuple(priced), currency, tuple(unknown))


def take_from_stock(session: Session, cabinet_id: str, basket: PricedBasket) -> None:
    """Decrement the lanes holding each SKU, fullest lane first, never below zero."""
    for line in basket.lines:
        remaining = line.quantity
        lanes = session.scalars(
            select(InventoryLevel)
            .where(InventoryLevel.cabinet_id == cabinet_id, InventoryLevel.sku == line.sku)
            .order_by(InventoryLevel.quantity.desc())
            .with_for_update()
        ).all()
        for lane in lanes:
            taken = min(lane.quantity, remaining)
            lane.quantity -= taken
            remaining -= taken
            if remaining == 0:
                break
