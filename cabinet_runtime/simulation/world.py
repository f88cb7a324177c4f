"""The physical cabinet in simulation: items in lanes, a door, a customer's hand.

The world owns the truth (which item lies where and what it really weighs)
and pushes it into the simulated drivers: loads into the scales, lane contents
into the shelf camera renderer. The code under test only reads the drivers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from cabinet_runtime.hardware.interfaces import BgrFrame, Clock
from cabinet_runtime.hardware.shelf_layout import SLOT_H, SLOT_W, SLOTS_PER_LANE, ShelfLayout
from cabinet_runtime.hardware.simulated import (
    SimulatedDoorLock,
    SimulatedDoorSensor,
    SimulatedShelfCamera,
)
from cabinet_runtime.hardware.simulated_scale import ScaleConfig, SimulatedShelfScale
from cabinet_runtime.picks.appearance import appearance_catalog
from cabinet_runtime.picks.planogram import Planogram, PlanogramError
from cabinet_runtime.simulation.renderer import ShelfRenderer

# A grab: the hand presses on the shelf, lifts the item, the shelf rings out.
_PRESS_G = 60.0
_GRAB_S = (0.15, 0.45, 0.8, 1.1)


FOREIGN = "(foreign object)"
"""What an object that is not in the catalogue is called inside the world."""


def _foreign_look(rng: np.random.Generator) -> BgrFrame:
    return rng.integers(0, 256, size=(SLOT_H, SLOT_W, 3), dtype=np.uint8)


class WorldError(ValueError):
    """A physically impossible action (taking from an empty lane, etc.)."""


@dataclass
class Item:
    sku: str
    grams: float


@dataclass
class SimulatedShelf:
    id: str
    layout: ShelfLayout
    lanes: dict[str, list[Item]]
    scale: SimulatedShelfScale
    camera: SimulatedShelfCamera
    renderer: ShelfRenderer
    tare_g: float = 0.0

    def load_g(self) -> float:
        return self.tare_g + sum(i.grams for items in self.lanes.values() for i in items)

    def render(self) -> BgrFrame:
        return _render(self.renderer, self.layout, self.lanes)


def _render(renderer: ShelfRenderer, layout: ShelfLayout, lanes: dict[str, list[Item]]) -> BgrFrame:
    return renderer.render([[item.sku for item in lanes[lane_id]] for lane_id in layout.lane_ids])


@dataclass
class SimulatedCabinet:
    clock: Clock
    planogram: Planogram
    door: SimulatedDoorSensor
    lock: SimulatedDoorLock
    shelves: dict[str, SimulatedShelf]
    hand: Counter[str] = field(default_factory=Counter)
    _busy_until: dict[str, float] = field(default_factory=dict)

    def shelf_of_lane(self, lane_id: str) -> SimulatedShelf:
        for shelf in self.shelves.values():
            if lane_id in shelf.lanes:
                return shelf
        raise WorldError(f"no lane {lane_id}")

    def take(self, lane_id: str, qty: int, sku: str | None = None) -> list[str]:
        """The customer grabs ``qty`` items (of ``sku`` if given) from a lane."""
        shelf = self.shelf_of_lane(lane_id)
        lane = shelf.lanes[lane_id]
        taken: list[Item] = []
        for _ in range(qty):
            # the front-most matching item: the last one in fill order
            idx = next(
                (i for i in range(len(lane) - 1, -1, -1) if sku is None or lane[i].sku == sku),
                None,
            )
            if idx is None:
                raise WorldError(f"lane {lane_id} has no {sku or 'item'} left to take")
            taken.append(lane.pop(idx))
        self.hand.update(i.sku for i in taken)
        self._animate(shelf, -sum(i.grams for i in taken))
        return [i.sku for i in taken]

    def put(self, lane_id: str, sku: str, qty: int, grams: float | None = None) -> None:
        """The customer puts ``qty`` items of ``sku`` into a lane (any lane)."""
        if self.hand[sku] < qty:
            raise WorldError(f"cannot put back {qty} x {sku}: only {self.hand[sku]} in hand")
        shelf = self.shelf_of_lane(lane_id)
        lane = shelf.lanes[lane_id]
        if len(lane) + qty > SLOTS_PER_LANE:
            raise WorldError(f"lane {lane_id} is full")
        unit = self.planogram.product(sku).unit_weight_g if grams is None else grams
        lane.extend(Item(sku, unit) for _ in range(qty))
        self.hand[sku] -= qty
        self._animate(shelf, qty * unit)

    def place_foreign(self, lane_id: str, grams: float) -> None:
        """The customer leaves something that is not a product (a stone, a
        bottle brought from outside) in a lane."""
        shelf = self.shelf_of_lane(lane_id)
        lane = shelf.lanes[lane_id]
        if len(lane) >= SLOTS_PER_LANE:
            raise WorldError(f"lane {lane_id} is full")
        lane.append(Item(FOREIGN, grams))
        self._animate(shelf, grams)

    def _animate(self, shelf: SimulatedShelf, change_g: float) -> None:
        start = max(self.clock.monotonic(), self._busy_until.get(shelf.id, 0.0))
        before = shelf.load_g() - change_g
        after = shelf.load_g()
        scale = shelf.scale
        scale.set_load(before, at=start)
        scale.set_load(before + _PRESS_G, at=start + _GRAB_S[0])
        scale.set_load(before + _PRESS_G + 0.5 * change_g, at=start + _GRAB_S[1])
        scale.set_load(after - 0.1 * change_g, at=start + _GRAB_S[2])
        scale.set_load(after, at=start + _GRAB_S[3])
        self._busy_until[shelf.id] = start + _GRAB_S[3]


def build_cabinet(
    planogram: Planogram,
    scales: Mapping[str, ScaleConfig],
    clock: Clock,
    seed: int = 0,
    image_dir: Path | None = None,
    relock_after_s: float = 10.0,
) -> SimulatedCabinet:
    """A cabinet stocked as the planogram says; each item's true weight varies
    within its product's tolerance."""
    rng = np.random.default_rng(seed)
    appearances = appearance_catalog(planogram.products, image_dir)
    appearances[FOREIGN] = _foreign_look(rng)
    door = SimulatedDoorSensor(clock)
    lock = SimulatedDoorLock(clock, door, relock_after_s=relock_after_s, seed=seed)
    shelves: dict[str, SimulatedShelf] = {}
    for plan in planogram.shelves:
        if plan.id not in scales:
            raise PlanogramError(f"shelf {plan.id} has no scale configuration")
        layout = ShelfLayout(tuple(lane.id for lane in plan.lanes))
        lanes: dict[str, list[Item]] = {}
        for lane in plan.lanes:
            if lane.count > SLOTS_PER_LANE:
                raise PlanogramError(f"lane {lane.id}: at most {SLOTS_PER_LANE} items fit")
            product = planogram.product(lane.sku)
            spread = 0.5 * product.weight_tolerance_g
            lanes[lane.id] = [
                Item(lane.sku, product.unit_weight_g + float(rng.uniform(-spread, spread)))
                for _ in range(lane.count)
            ]
        renderer = ShelfRenderer(layout, appearances, np.random.default_rng(rng.integers(2**32)))
        tare = float(rng.uniform(800.0, 1500.0))
        scale = SimulatedShelfScale(scales[plan.id], clock)
        camera = SimulatedShelfCamera(clock, plan.id, partial(_render, renderer, layout, lanes))
        shelf = SimulatedShelf(plan.id, layout, lanes, scale, camera, renderer, tare)
        scale.set_load(shelf.load_g(), at=clock.monotonic())
        shelves[plan.id] = shelf
    return SimulatedCabinet(clock, planogram, door, lock, shelves)
