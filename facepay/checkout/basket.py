"""Turning the cabinet's recognised basket into priced lines and stock changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from cabinet_runtime.protocol import BasketLine
from facepay.catalog.models import Product


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

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)


def price_basket(session: Session, currency: str, lines: Sequence[BasketLine]) -> PricedBasket:
    """Catalogue prices, never prices sent by the cabinet, for a basket that passed
    ``check_basket`` (which refuses a SKU the catalogue does not sell in this currency)."""
    merged: dict[str, tuple[int, float]] = {}
    for line in lines:
        qty, confidence = merged.get(line.sku, (0, 1.0))
        merged[line.sku] = (qty + line.qty, min(confidence, line.confidence))
    priced: list[PricedLine] = []
    for sku, (qty, confidence) in sorted(merged.items()):
        product = session.get(Product, sku)
        assert product is not None and product.currency == currency  # checked before
        priced.append(PricedLine(sku, product.name, qty, product.price_amount, confidence))
    return PricedBasket(tuple(priced), currency)
