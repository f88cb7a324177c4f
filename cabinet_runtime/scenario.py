"""The recognition test bench's scenario file: a stocked cabinet, what a
customer does with the door open, and what goes wrong meanwhile.

Format (JSON): {"name", "seed", "currency", "products": [...], "shelves":
[{"id", "scale": {"rate_hz", "noise_g", "drift_g_per_min"}, "lanes": [{"id",
"sku", "count"}]}], "events": [{"t", "action": "take"|"put"|"close", "lane",
"sku"?, "qty"}], "faults": [{"t", "kind", "duration_s", ...}]}. The door opens
at t=0; the single "close" event closes it. Fault kinds: "vibration",
"hand_rest", "camera_drop", "scale_drop" (optional "shelf", default every
shelf; optional "magnitude_g"), "power_loss" and "link_loss".
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Literal

import msgspec

from cabinet_runtime.hardware.shelf_layout import SLOTS_PER_LANE
from cabinet_runtime.picks.planogram import (
    LanePlan,
    Planogram,
    PlanogramError,
    Product,
    ShelfPlan,
)


class ScenarioError(ValueError):
    """The scenario file cannot be read or describes something impossible."""


class ScaleSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    rate_hz: float
    noise_g: float
    drift_g_per_min: float = 0.0


class ShelfSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    scale: ScaleSpec
    lanes: list[LanePlan]


class EventSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    t: float
    action: Literal["take", "put", "close"]
    lane: str | None = None
    sku: str | None = None
    qty: int = 1


FaultKind = Literal[
    "vibration", "hand_rest", "camera_drop", "scale_drop", "power_loss", "link_loss"
]


class FaultSpec(msgspec.Struct, frozen=True):
    t: float
    kind: FaultKind
    duration_s: float
    shelf: str | None = None
    magnitude_g: float | None = None


class Scenario(msgspec.Struct, frozen=True):
    name: str
    seed: int
    currency: str
    products: list[Product]
    shelves: list[ShelfSpec]
    events: list[EventSpec]
    faults: list[FaultSpec] = msgspec.field(default_factory=list)
    description: str = ""

    @property
    def planogram(self) -> Planogram:
        return Planogram(
            currency=self.currency,
            products=self.products,
            shelves=[ShelfPlan(s.id, s.lanes) for s in self.shelves],
        )

    @property
    def closed_at(self) -> float:
        return next(e.t for e in self.events if e.action == "close")

    def expected_basket(self) -> dict[str, int]:
        """What the events took minus what they put back."""
        basket: Counter[str] = Counter()
        for e in self.events:
            if e.action == "take":
                basket[self.sku_of(e)] += e.qty
            elif e.action == "put":
                basket[self.sku_of(e)] -= e.qty
        return {sku: n for sku, n in sorted(basket.items()) if n}

    def sku_of(self, event: EventSpec) -> str:
        if event.sku is not None:
            return event.sku
        for shelf in self.shelves:
            for lane in shelf.lanes:
                if lane.id == event.lane:
                    return lane.sku
        raise ScenarioError(f"event at t={event.t}: unknown lane {event.lane!r}")


def _validate(s: Scenario) -> None:
    try:
        planogram = s.planogram
    except PlanogramError as exc:
        raise ScenarioError(str(exc)) from exc
    if not s.currency.isalpha() or len(s.currency) != 3 or not s.currency.isupper():
        raise ScenarioError(f"currency {s.currency!r} is not an ISO 4217 code")
    for shelf in s.shelves:
        if not 20 <= shelf.scale.rate_hz <= 60:
            raise ScenarioError(f"shelf {shelf.id}: rate_hz must be 20-60")
        if shelf.scale.noise_g < 0:
            raise ScenarioError(f"shelf {shelf.id}: noise_g must not be negative")
    times = [e.t for e in s.events]
    if times != sorted(times) or any(t < 0 for t in times):
        raise ScenarioError("events must be in time order, from t=0")
    closes = [e for e in s.events if e.action == "close"]
    if len(closes) != 1 or s.events[-1].action != "close":
        raise ScenarioError("exactly one 'close' event, the last one, is required")
    lanes = {lane.id: lane for shelf in s.shelves for lane in shelf.lanes}
    stock = Counter({lane_id: lane.count for lane_id, lane in lanes.items()})
    hand: Counter[str] = Counter()
    for e in s.events[:-1]:
        if e.lane not in lanes:
            raise ScenarioError(f"event at t={e.t}: unknown lane {e.lane!r}")
        if e.qty < 1:
            raise ScenarioError(f"event at t={e.t}: qty must be at least 1")
        sku = s.sku_of(e)
        planogram.product(sku)
        if e.action == "take":
            if e.sku is not None and e.sku != lanes[e.lane].sku:
                raise ScenarioError(f"event at t={e.t}: lane {e.lane} does not hold {e.sku}")
            if stock[e.lane] < e.qty:
                raise ScenarioError(f"event at t={e.t}: lane {e.lane} has too few items")
            stock[e.lane] -= e.qty
            hand[sku] += e.qty
        else:
            if hand[sku] < e.qty:
                raise ScenarioError(f"event at t={e.t}: puts back {sku} that was not taken")
            if stock[e.lane] + e.qty > SLOTS_PER_LANE:
                raise ScenarioError(f"event at t={e.t}: lane {e.lane} is full")
            stock[e.lane] += e.qty
            hand[sku] -= e.qty
    shelf_ids = {shelf.id for shelf in s.shelves}
    for f in s.faults:
        if f.shelf is not None and f.shelf not in shelf_ids:
            raise ScenarioError(f"fault at t={f.t}: unknown shelf {f.shelf!r}")
        if f.duration_s <= 0:
            raise ScenarioError(f"fault at t={f.t}: duration_s must be positive")


def load_scenario(path: Path) -> Scenario:
    try:
        scenario = msgspec.json.decode(path.read_bytes(), type=Scenario)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    except PlanogramError as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    try:
        _validate(scenario)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    return scenario
