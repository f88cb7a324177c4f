"""What the cabinet is supposed to hold: products and the lanes of each shelf."""

from __future__ import annotations

import msgspec


class PlanogramError(ValueError):
    """A planogram that cannot be used (unknown SKU, duplicate id, bad weight)."""


class Product(msgspec.Struct, frozen=True):
    sku: str
    name: str
    unit_weight_g: float
    weight_tolerance_g: float
    price: int
    """Integer minor units of the planogram's currency."""
    image: str | None = None


class LanePlan(msgspec.Struct, frozen=True):
    id: str
    sku: str
    count: int


class ShelfPlan(msgspec.Struct, frozen=True):
    id: str
    lanes: list[LanePlan]


class Planogram(msgspec.Struct, frozen=True):
    currency: str
    products: list[Product]
    shelves: list[ShelfPlan]

    def __post_init__(self) -> None:
        skus = [p.sku for p in self.products]
        if len(set(skus)) != len(skus):
            raise PlanogramError("duplicate SKU in products")
        for p in self.products:
            if p.unit_weight_g <= 0 or p.weight_tolerance_g < 0:
                raise PlanogramError(f"product {p.sku}: weights must be positive")
            if p.price < 0:
                raise PlanogramError(f"product {p.sku}: price must not be negative")
        lane_ids = [lane.id for shelf in self.shelves for lane in shelf.lanes]
        if len(set(lane_ids)) != len(lane_ids):
            raise PlanogramError("duplicate lane id")
        if len({s.id for s in self.shelves}) != len(self.shelves):
            raise PlanogramError("duplicate shelf id")
        for shelf in self.shelves:
            for lane in shelf.lanes:
                if lane.sku not in skus:
                    raise PlanogramError(f"lane {lane.id}: unknown SKU {lane.sku}")
                if lane.count < 0:
                    raise PlanogramError(f"lane {lane.id}: negative count")

    def product(self, sku: str) -> Product:
        for p in self.products:
            if p.sku == sku:
                return p
        raise PlanogramError(f"unknown SKU {sku}")

    def shelf(self, shelf_id: str) -> ShelfPlan:
        for s in self.shelves:
            if s.id == shelf_id:
                return s
        raise PlanogramError(f"unknown shelf {shelf_id}")

    def shelf_of_lane(self, lane_id: str) -> ShelfPlan:
        for s in self.shelves:
            if any(lane.id == lane_id for lane in s.lanes):
                return s
        raise PlanogramError(f"unknown lane {lane_id}")
