"""Per-lane counting on rendered shelf frames, by image analysis only."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from biometrics.model_pack import default_pack_dir
from cabinet_runtime.hardware.shelf_layout import SLOTS_PER_LANE, ShelfLayout
from cabinet_runtime.picks.appearance import appearance_catalog, synthetic_appearance
from cabinet_runtime.picks.planogram import PlanogramError, Product
from cabinet_runtime.picks.vision import ShelfVision, shelf_change
from cabinet_runtime.simulation.renderer import ShelfRenderer

IMAGES = default_pack_dir()  # real photos shipped with the face model pack
SKUS = ["COLA-330", "LEMON-330", "WATER-500", "CHIPS-90", "BAR-50", "GUM-20", "SANDW-210"]
LAYOUT = ShelfLayout(("a", "b", "c"))


@pytest.fixture(scope="module")
def catalog() -> dict[str, np.ndarray]:
    return {sku: synthetic_appearance(sku) for sku in SKUS}


def test_synthetic_appearance_is_stable_and_distinct(catalog: dict[str, np.ndarray]) -> None:
    assert np.array_equal(synthetic_appearance("COLA-330"), catalog["COLA-330"])
    for i, a in enumerate(SKUS):
        for b in SKUS[i + 1 :]:
            diff = np.abs(catalog[a].astype(int) - catalog[b].astype(int)).mean()
            assert diff > 20, f"{a} and {b} look alike"


@pytest.mark.parametrize("seed", range(4))
def test_counts_per_lane_including_a_foreign_item(
    catalog: dict[str, np.ndarray], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    renderer = ShelfRenderer(LAYOUT, catalog, rng)
    lanes = [["COLA-330"] * 5 + ["LEMON-330"], ["LEMON-330"] * 7, ["GUM-20"] * SLOTS_PER_LANE]
    view = ShelfVision(catalog).read(renderer.render(lanes), LAYOUT)
    assert view.lanes["a"] == Counter({"COLA-330": 5, "LEMON-330": 1})
    assert view.lanes["b"] == Counter({"LEMON-330": 7})
    assert view.lanes["c"] == Counter({"GUM-20": SLOTS_PER_LANE})
    assert view.ambiguous_slots == 0 and view.confidence == 1.0


def test_before_after_change_separates_equal_weights(catalog: dict[str, np.ndarray]) -> None:
    renderer = ShelfRenderer(LAYOUT, catalog, np.random.default_rng(9))
    vision = ShelfVision(catalog)
    before = vision.read(renderer.render([["COLA-330"] * 4, ["LEMON-330"] * 4, []]), LAYOUT)
    after = vision.read(renderer.render([["COLA-330"] * 4, ["LEMON-330"] * 2, []]), LAYOUT)
    assert shelf_change(before, after) == Counter({"LEMON-330": -2})


def test_an_unknown_object_is_not_counted_as_a_product(catalog: dict[str, np.ndarray]) -> None:
    frame = ShelfRenderer(LAYOUT, catalog, np.random.default_rng(1)).render([[], [], []])
    x, y, w, h = LAYOUT.slot_rects(0)[0]
    frame[y : y + h, x : x + w] = np.random.default_rng(2).integers(0, 255, (h, w, 3))
    view = ShelfVision(catalog).read(frame, LAYOUT)
    assert sum(sum(c.values()) for c in view.lanes.values()) == 0


def test_product_photo_is_used_as_appearance(
    tmp_path: Path, catalog: dict[str, np.ndarray]
) -> None:
    photo = cv2.imread(str(IMAGES / "yaoming.jpg"))
    cv2.imwrite(str(tmp_path / "poster.png"), photo)
    products = [Product("POSTER", "Poster", 80, 4, 500, image="poster.png")]
    photos = appearance_catalog(products, tmp_path)
    both = {**catalog, **photos}
    frame = ShelfRenderer(LAYOUT, both, np.random.default_rng(3)).render(
        [["POSTER"] * 3, ["BAR-50"] * 2, []]
    )
    view = ShelfVision(both).read(frame, LAYOUT)
    assert view.lanes["a"] == Counter({"POSTER": 3})
    with pytest.raises(PlanogramError, match="cannot read image"):
        appearance_catalog([Product("X", "X", 1, 1, 1, image="nope.png")], tmp_path)
