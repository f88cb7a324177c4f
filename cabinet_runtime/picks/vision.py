"""Counts what lies in each lane of a shelf camera frame.

Every item slot of the calibrated layout is compared with each product's
appearance by normalised cross-correlation (tolerant of exposure changes and
a small mount shift, searched over a few pixels); a slot whose best match is
weak is empty. A slot whose two best products score alike is ambiguous, and
ambiguity lowers the reading's confidence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from cabinet_runtime.hardware.interfaces import BgrFrame
from cabinet_runtime.hardware.shelf_layout import ShelfLayout

SEARCH_PX = 4
SCALE = 0.5
"""Matching runs at half resolution: four times cheaper, still unambiguous."""
EMPTY_BELOW = 0.45
CLEAR_MARGIN = 0.12


@dataclass(frozen=True, slots=True)
class SlotReading:
    sku: str | None
    score: float
    clear: bool


@dataclass(frozen=True, slots=True)
class ShelfView:
    lanes: Mapping[str, Counter[str]]
    """lane id -> SKU counts seen in the lane."""
    ambiguous_slots: int

    @property
    def confidence(self) -> float:
        return 0.5**self.ambiguous_slots


class ShelfVision:
    def __init__(self, appearances: Mapping[str, BgrFrame]) -> None:
        self._templates = {sku: _shrink(img) for sku, img in appearances.items()}

    def read(self, frame: BgrFrame, layout: ShelfLayout) -> ShelfView:
        expected = layout.frame_size
        if frame.shape[:2] != expected:
            frame = np.asarray(cv2.resize(frame, (expected[1], expected[0])), dtype=np.uint8)
        lanes: dict[str, Counter[str]] = {}
        ambiguous = 0
        for i, lane_id in enumerate(layout.lane_ids):
            counts: Counter[str] = Counter()
            for reading in self._read_lane(frame, layout, i):
                ambiguous += not reading.clear
                if reading.sku is not None:
                    counts[reading.sku] += 1
            lanes[lane_id] = counts
        return ShelfView(lanes, ambiguous)

    def _read_lane(self, frame: BgrFrame, layout: ShelfLayout, lane: int) -> list[SlotReading]:
        """One correlation map per product over the whole lane, then the best
        match near each slot: far cheaper than matching slot by slot."""
        lx, ly, lw, lh = layout.lane_rect(lane)
        fh, fw = frame.shape[:2]
        x0, y0 = max(0, lx - SEARCH_PX), max(0, ly - SEARCH_PX)
        x1, y1 = min(fw, lx + lw + SEARCH_PX), min(fh, ly + lh + SEARCH_PX)
        crop = _shrink(frame[y0:y1, x0:x1])
        maps = {
            sku: cv2.matchTemplate(crop, template, cv2.TM_CCOEFF_NORMED)
            for sku, template in self._templates.items()
        }
        reach = int(np.ceil(SEARCH_PX * SCALE))
        readings = []
        for x, y, _, _ in layout.slot_rects(lane):
            px, py = round((x - x0) * SCALE), round((y - y0) * SCALE)
            scores = []
            for sku, scores_map in maps.items():
                window = scores_map[
                    max(0, py - reach) : py + reach + 1, max(0, px - reach) : px + reach + 1
                ]
                if window.size:
                    scores.append((float(window.max()), sku))
            readings.append(_classify(scores))
        return readings


def _classify(scores: list[tuple[float, str]]) -> SlotReading:
    if not scores:
        return SlotReading(None, 0.0, False)
    scores.sort(reverse=True)
    best, sku = scores[0]
    second = scores[1][0] if len(scores) > 1 else -1.0
    if best < EMPTY_BELOW:
        return SlotReading(None, best, best < EMPTY_BELOW - CLEAR_MARGIN)
    clear = best - max(second, EMPTY_BELOW) >= CLEAR_MARGIN
    return SlotReading(sku, best, clear)


def _shrink(image: BgrFrame) -> np.ndarray:
    small = cv2.resize(image, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.float32)


def shelf_change(before: ShelfView, after: ShelfView) -> Counter[str]:
    """Signed per-SKU change over the whole shelf (negative = taken)."""
    change: Counter[str] = Counter()
    for lane_id in before.lanes:
        change.update(after.lanes[lane_id])
        change.subtract(before.lanes[lane_id])
    return Counter({sku: n for sku, n in change.items() if n})
