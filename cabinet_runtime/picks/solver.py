"""The most likely multisets of SKUs behind one shelf's net weight change.

An exact bounded integer search: every SKU gets a signed count (negative =
taken from this shelf, positive = put onto it), bounded by the stock that can
be taken and by a total item budget; branches whose reachable weight range
cannot explain the change are cut. Each surviving multiset is scored by a
Gaussian likelihood (measurement error plus each item's tolerance) and a prior
that favours fewer items, takes over put-backs, and put-backs onto the SKU's
own shelf.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass

from cabinet_runtime.picks.planogram import Product

Changes = tuple[tuple[str, int], ...]
"""Sorted (sku, signed count) pairs with no zero counts."""

TAKE_PRIOR = -1.0
PUT_PRIOR = -3.0
FOREIGN_PUT_PRIOR = -2.0
_MAX_SIGMAS = 4.5


@dataclass(frozen=True, slots=True)
class ShelfHypothesis:
    changes: Changes
    log_score: float
    residual_g: float


@dataclass(frozen=True, slots=True)
class ShelfProblem:
    delta_g: float
    sigma_g: float
    takeable: Mapping[str, int]
    """SKU -> how many could have been taken from this shelf."""
    returnable: Mapping[str, int]
    """SKU -> how many could have been put onto this shelf."""
    home_skus: frozenset[str]
    max_items: int


def item_sigma(product: Product) -> float:
    # tolerances are read as two standard deviations of the unit weight
    return product.weight_tolerance_g / 2.0


def score(changes: Changes, problem: ShelfProblem, products: Mapping[str, Product]) -> float:
    """Log likelihood + prior of one multiset; also used for vision's proposal."""
    return _score(changes, problem, products)[0]


def _score(
    changes: Changes, problem: ShelfProblem, products: Mapping[str, Product]
) -> tuple[float, float]:
    predicted = 0.0
    var = problem.sigma_g**2
    prior = 0.0
    for sku, n in changes:
        p = products[sku]
        predicted += n * p.unit_weight_g
        var += abs(n) * item_sigma(p) ** 2
        if n < 0:
            prior += TAKE_PRIOR * -n
        else:
            prior += PUT_PRIOR * n
            if sku not in problem.home_skus:
                prior += FOREIGN_PUT_PRIOR * n
    residual = problem.delta_g - predicted
    loglik = -0.5 * residual**2 / var - 0.5 * math.log(2 * math.pi * var)
    return loglik + prior, residual


def solve(
    problem: ShelfProblem, products: Mapping[str, Product], top_n: int = 8
) -> list[ShelfHypothesis]:
    """The ``top_n`` best multisets, best first (always includes the empty one
    when it is plausible)."""
    # heaviest first: big items fix the sum early and the rest prunes hard
    skus = sorted(
        set(problem.takeable) | set(problem.returnable),
        key=lambda s: (-products[s].unit_weight_g, s),
    )
    lo = [-min(problem.takeable.get(s, 0), problem.max_items) for s in skus]
    hi = [min(problem.returnable.get(s, 0), problem.max_items) for s in skus]
    weights = [products[s].unit_weight_g for s in skus]
    max_sigma = max((item_sigma(products[s]) for s in skus), default=0.0)
    slack = _MAX_SIGMAS * math.sqrt(problem.sigma_g**2 + problem.max_items * max_sigma**2)
    # reachable weight range of the SKUs from index i onwards
    suffix_min = [0.0] * (len(skus) + 1)
    suffix_max = [0.0] * (len(skus) + 1)
    heaviest_take = [0.0] * (len(skus) + 1)
    heaviest_put = [0.0] * (len(skus) + 1)
    for i in range(len(skus) - 1, -1, -1):
        suffix_min[i] = suffix_min[i + 1] + lo[i] * weights[i]
        suffix_max[i] = suffix_max[i + 1] + hi[i] * weights[i]
        heaviest_take[i] = max(heaviest_take[i + 1], weights[i] if lo[i] else 0.0)
        heaviest_put[i] = max(heaviest_put[i + 1], weights[i] if hi[i] else 0.0)
    best: list[tuple[float, int, ShelfHypothesis]] = []
    counter = 0
    chosen: list[tuple[str, int]] = []

    def visit(i: int, total: float, items: int) -> None:
        nonlocal counter
        need = problem.delta_g - total
        budget = problem.max_items - items
        reach_lo = max(suffix_min[i], -budget * heaviest_take[i])
        reach_hi = min(suffix_max[i], budget * heaviest_put[i])
        if need < reach_lo - slack or need > reach_hi + slack:
            return
        if i == len(skus):
            changes = tuple(sorted(chosen))
            value, residual = _score(changes, problem, products)
            counter += 1
            entry = (value, counter, ShelfHypothesis(changes, value, residual))
            if len(best) < top_n:
                heapq.heappush(best, entry)
            elif value > best[0][0]:
                heapq.heapreplace(best, entry)
            return
        for n in range(max(lo[i], -budget), min(hi[i], budget) + 1):
            if n:
                chosen.append((skus[i], n))
            visit(i + 1, total + n * weights[i], items + abs(n))
            if n:
                chosen.pop()

    visit(0, 0.0, 0)
    return [h for _, _, h in sorted(best, key=lambda e: -e[0])]
