"""The catalogue: products, their prices (minor units) and weights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from facepay.catalog.models import Product
from facepay.errors import ValidationError


def check_currency(currency: str) -> str:
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise ValidationError(f"currency must be an ISO 4217 code like KRW, got {currency!r}")
    return currency


@dataclass(frozen=True)
class ProductSpec:
    sku: str
    name: str
    price: int
    currency: str
    unit_weight_g: float
    weight_tolerance_g: float
    image: str | None = None


def upsert_products(session: Session, products: Sequence[ProductSpec]) -> None:
    for spec in products:
        if spec.price < 0:
            raise ValidationError(f"{spec.sku}: price must not be negative")
        product = session.get(Product, spec.sku) or Product(sku=spec.sku)
        product.name = spec.name
        product.price_amount = spec.price
        product.currency = check_currency(spec.currency)
        product.unit_weight_mg = round(spec.unit_weight_g * 1000)
        product.weight_tolerance_mg = round(spec.weight_tolerance_g * 1000)
        product.image_ref = spec.image
        session.add(product)
    session.flush()
