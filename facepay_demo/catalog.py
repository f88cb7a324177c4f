"""What the demo cabinet sells, in one place for the server and the cabinet."""

from __future__ import annotations

from cabinet_runtime.picks.planogram import LanePlan, Planogram, Product, ShelfPlan
from facepay.cabinets.service import LaneSpec
from facepay.catalog.products import ProductSpec

CURRENCY = "KRW"
HOLD_AMOUNT = 5000  # authorised when the door unlocks; bigger baskets are incremented

PLANOGRAM = Planogram(
    currency=CURRENCY,
    products=[
        Product("cola-355", "Cola 355 ml", 372.0, 6.0, 1500),
        Product("water-500", "Jeju water 500 ml", 521.0, 8.0, 1000),
        Product("bar-choco", "Protein bar", 62.0, 2.0, 2500),
        Product("kimbap", "Tuna kimbap", 231.0, 5.0, 3500),
    ],
    shelves=[
        ShelfPlan("top", [LanePlan("top-1", "cola-355", 8), LanePlan("top-2", "water-500", 6)]),
        ShelfPlan(
            "bottom", [LanePlan("bottom-1", "bar-choco", 10), LanePlan("bottom-2", "kimbap", 6)]
        ),
    ],
)

PRICES = {product.sku: product.price for product in PLANOGRAM.products}


def server_catalog() -> tuple[list[ProductSpec], list[LaneSpec]]:
    products = [
        ProductSpec(p.sku, p.name, p.price, CURRENCY, p.unit_weight_g, p.weight_tolerance_g)
        for p in PLANOGRAM.products
    ]
    lanes = [
        LaneSpec(shelf.id, lane.id, lane.sku, lane.count)
        for shelf in PLANOGRAM.shelves
        for lane in shelf.lanes
    ]
    return products, lanes


def hardware_toml() -> list[str]:
    """The [hardware] planogram part of the cabinet's config file."""
    lines = ["[hardware]", 'driver = "simulated"', f'currency = "{CURRENCY}"']
    for p in PLANOGRAM.products:
        lines += [
            "[[hardware.products]]",
            f'sku = "{p.sku}"',
            f'name = "{p.name}"',
            f"unit_weight_g = {p.unit_weight_g}",
            f"weight_tolerance_g = {p.weight_tolerance_g}",
            f"price = {p.price}",
        ]
    for shelf in PLANOGRAM.shelves:
        lanes = ", ".join(
            f'{{ id = "{x.id}", sku = "{x.sku}", count = {x.count} }}' for x in shelf.lanes
        )
        lines += ["[[hardware.shelves]]", f'id = "{shelf.id}"', f"lanes = [{lanes}]"]
    return lines
