"""Random but plausible shopping sessions for the scenario suite."""

from __future__ import annotations

from collections import Counter

import numpy as np

from cabinet_runtime.hardware.shelf_layout import SLOTS_PER_LANE
from cabinet_runtime.simulation.suite_builders import (
    Json,
    close,
    fault,
    put,
    scenario,
    shelves,
    take,
)

_RANDOM_FAULTS = ("none", "none", "vibration", "hand_rest", "link_loss", "power_loss")


def random_session(index: int, rng: np.random.Generator) -> Json:
    """A plausible shopping session: takes, put-backs (sometimes on the wrong
    lane or shelf), a random scale quality and at most one fault that ends
    before the door closes (nothing rests on a shelf behind a closed door)."""
    lanes = {lane["id"]: dict(lane) for shelf in shelves() for lane in shelf["lanes"]}
    hand: Counter[str] = Counter()
    events: list[Json] = []
    t = float(rng.uniform(1.5, 2.5))
    for _ in range(int(rng.integers(1, 6))):
        held = sorted(sku for sku, n in hand.items() if n)
        if held and rng.random() < 0.3:
            sku = str(rng.choice(held))
            home = [lid for lid, ln in lanes.items() if ln["sku"] == sku]
            room = [lid for lid, ln in lanes.items() if ln["count"] < SLOTS_PER_LANE]
            options = [lid for lid in home if lid in room] if rng.random() < 0.6 else room
            if not options:
                continue
            lane = str(rng.choice(options))
            events.append(put(round(t, 2), lane, sku))
            hand[sku] -= 1
            lanes[lane]["count"] += 1
        else:
            lane = str(rng.choice([lid for lid, ln in lanes.items() if ln["count"] > 0]))
            qty = int(min(lanes[lane]["count"], 2 if rng.random() < 0.2 else 1))
            events.append(take(round(t, 2), lane, qty))
            hand[lanes[lane]["sku"]] += qty
            lanes[lane]["count"] -= qty
        t += float(rng.uniform(2.2, 5.0))
    closed = round(t + float(rng.uniform(1.0, 3.0)), 2)
    events.append(close(closed))
    kind = str(rng.choice(_RANDOM_FAULTS))
    faults: list[Json] = []
    if kind != "none":
        start = round(float(rng.uniform(0.5, max(1.0, closed - 2.5))), 2)
        length = round(float(rng.uniform(0.8, 2.0)), 2)
        if kind in ("power_loss", "link_loss"):
            length = round(float(rng.uniform(1.0, 5.0)), 2)
        elif start + length > closed - 0.3:
            length = round(max(0.3, closed - 0.3 - start), 2)
        faults.append(fault(start, kind, length))
    return scenario(
        f"random-{index:03d}",
        1000 + index,
        events,
        faults,
        description="random session",
        rate=float(rng.choice([20, 30, 40, 50, 60])),
        noise=float(rng.choice([1.0, 2.0, 3.0, 5.0, 8.0])),
        drift=float(rng.choice([0.0, 0.0, 5.0, -10.0, 15.0])),
    )
