"""Building blocks of scenario files: the standard cabinet and event helpers."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

PRODUCTS: list[Json] = [
    {"sku": "COLA-330", "name": "Cola can", "unit_weight_g": 350, "weight_tolerance_g": 8},
    {"sku": "LEMON-330", "name": "Lemonade can", "unit_weight_g": 350, "weight_tolerance_g": 8},
    {"sku": "WATER-500", "name": "Water bottle", "unit_weight_g": 520, "weight_tolerance_g": 10},
    {"sku": "CHIPS-90", "name": "Crisps", "unit_weight_g": 95, "weight_tolerance_g": 4},
    {"sku": "BAR-50", "name": "Chocolate bar", "unit_weight_g": 55, "weight_tolerance_g": 3},
    {"sku": "GUM-20", "name": "Chewing gum", "unit_weight_g": 22, "weight_tolerance_g": 2},
    {"sku": "SANDW-210", "name": "Sandwich", "unit_weight_g": 210, "weight_tolerance_g": 12},
    {"sku": "YOGH-130", "name": "Yoghurt", "unit_weight_g": 135, "weight_tolerance_g": 5},
    {"sku": "MILK-1L", "name": "Milk 1 l", "unit_weight_g": 1040, "weight_tolerance_g": 15},
]
PRICES = {
    "USD": [199, 199, 149, 249, 129, 99, 499, 179, 229],
    "KRW": [1800, 1800, 1200, 2500, 1300, 900, 4500, 1600, 2900],
}


def shelves(rate: float = 30, noise: float = 2.0, drift: float = 0.0) -> list[Json]:
    lanes = [
        [("s1-a", "COLA-330", 8), ("s1-b", "LEMON-330", 8), ("s1-c", "WATER-500", 6)],
        [("s2-a", "CHIPS-90", 10), ("s2-b", "BAR-50", 10), ("s2-c", "GUM-20", 10)],
        [("s3-a", "SANDW-210", 6), ("s3-b", "YOGH-130", 8), ("s3-c", "MILK-1L", 4)],
    ]
    rates = [rate, min(60.0, rate * 1.5), max(20.0, rate * 0.7)]
    return [
        {
            "id": f"s{i + 1}",
            "scale": {"rate_hz": rates[i], "noise_g": noise, "drift_g_per_min": drift},
            "lanes": [{"id": lid, "sku": sku, "count": n} for lid, sku, n in shelf],
        }
        for i, shelf in enumerate(lanes)
    ]


def take(t: float, lane: str, qty: int = 1) -> Json:
    return {"t": t, "action": "take", "lane": lane, "qty": qty}


def put(t: float, lane: str, sku: str, qty: int = 1) -> Json:
    return {"t": t, "action": "put", "lane": lane, "sku": sku, "qty": qty}


def close(t: float) -> Json:
    return {"t": t, "action": "close"}


def fault(t: float, kind: str, duration_s: float, **extra: Any) -> Json:
    return {"t": t, "kind": kind, "duration_s": duration_s, **extra}


def scenario(
    name: str,
    seed: int,
    events: list[Json],
    faults: list[Json] | None = None,
    currency: str = "USD",
    description: str = "",
    **scale: float,
) -> Json:
    prices = PRICES[currency]
    return {
        "name": name,
        "description": description,
        "seed": seed,
        "currency": currency,
        "products": [{**p, "price": prices[i]} for i, p in enumerate(PRODUCTS)],
        "shelves": shelves(**scale),
        "events": events,
        "faults": faults or [],
    }
