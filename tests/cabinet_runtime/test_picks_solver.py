"""The exact multiset search behind a shelf's weight change."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cabinet_runtime.picks.planogram import Product
from cabinet_runtime.picks.solver import ShelfProblem, solve

PRODUCTS = {
    p.sku: p
    for p in [
        Product("COLA", "Cola", 350, 8, 199),
        Product("LEMON", "Lemonade", 350, 8, 199),
        Product("WATER", "Water", 520, 10, 149),
        Product("CHIPS", "Chips", 95, 4, 249),
        Product("BAR", "Bar", 55, 3, 129),
        Product("GUM", "Gum", 22, 2, 99),
    ]
}


def _problem(
    delta: float,
    takeable: Mapping[str, int],
    returnable: Mapping[str, int] | None = None,
    sigma: float = 1.0,
    max_items: int = 6,
) -> ShelfProblem:
    return ShelfProblem(
        delta_g=delta,
        sigma_g=sigma,
        takeable=takeable,
        returnable=returnable or {},
        home_skus=frozenset(takeable),
        max_items=max_items,
    )


def test_single_and_multiple_takes() -> None:
    shelf = {"CHIPS": 10, "BAR": 10, "GUM": 10}
    assert solve(_problem(-95.5, shelf), PRODUCTS)[0].changes == (("CHIPS", -1),)
    assert solve(_problem(-165.0, shelf), PRODUCTS)[0].changes == (("BAR", -3),)
    assert solve(_problem(-172.0, shelf), PRODUCTS)[0].changes == (
        ("BAR", -1),
        ("CHIPS", -1),
        ("GUM", -1),
    )


def test_nothing_changed_is_the_empty_multiset() -> None:
    best = solve(_problem(0.8, {"CHIPS": 3}), PRODUCTS)[0]
    assert best.changes == ()


def test_put_back_from_another_shelf_is_a_positive_delta() -> None:
    best = solve(_problem(350.0 - 95.0, {"CHIPS": 5}, {"COLA": 3}), PRODUCTS)[0]
    assert best.changes == (("CHIPS", -1), ("COLA", 1))


def test_stock_bounds_the_search() -> None:
    hyps = solve(_problem(-110.0, {"BAR": 1, "GUM": 10}), PRODUCTS)
    assert all(dict(h.changes).get("BAR", 0) >= -1 for h in hyps)
    assert ("BAR", -2) not in hyps[0].changes


def test_equal_weights_tie() -> None:
    hyps = solve(_problem(-350.0, {"COLA": 5, "LEMON": 5}), PRODUCTS)
    top = {h.changes: h.log_score for h in hyps[:2]}
    assert set(top) == {(("COLA", -1),), (("LEMON", -1),)}
    assert len(set(top.values())) == 1, "weight alone cannot tell them apart"


def test_impossible_delta_gives_no_hypothesis() -> None:
    assert solve(_problem(-5000.0, {"GUM": 3}), PRODUCTS) == []


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["WATER", "CHIPS", "BAR", "GUM"]), st.integers(1, 3), max_size=3
    )
)
def test_true_multiset_is_always_a_candidate(taken: dict[str, int]) -> None:
    # weight alone may prefer a lookalike (3 bars = 165 g vs crisps + 3 gum = 161 g);
    # the search must still offer the truth for vision to confirm
    delta = -sum(PRODUCTS[s].unit_weight_g * n for s, n in taken.items())
    stock = {"WATER": 4, "CHIPS": 4, "BAR": 4, "GUM": 4}
    problem = _problem(delta, stock, sigma=1.0, max_items=sum(taken.values()) + 1)
    hyps = {h.changes: h for h in solve(problem, PRODUCTS)}
    truth = tuple(sorted((s, -n) for s, n in taken.items()))
    assert truth in hyps
    assert hyps[truth].residual_g == pytest.approx(0.0, abs=1e-6)


def test_lookalike_multisets_score_close() -> None:
    hyps = solve(_problem(-161.0, {"CHIPS": 4, "BAR": 4, "GUM": 4}), PRODUCTS)
    scores = {h.changes: h.log_score for h in hyps}
    assert abs(scores[(("BAR", -3),)] - scores[(("CHIPS", -1), ("GUM", -3))]) < 5
