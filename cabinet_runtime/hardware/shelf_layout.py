"""Where each lane and item slot of a shelf appears in the shelf camera frame.

This is the camera's calibration: the installer mounts the shelf camera so
that lanes fall on a fixed grid. The simulator renders to it and the
recognition code reads from it.
"""

from __future__ import annotations

from dataclasses import dataclass

SLOT_W = 48
SLOT_H = 40
GAP = 6
SLOT_COLS = 3
SLOT_ROWS = 4
SLOTS_PER_LANE = SLOT_COLS * SLOT_ROWS
MARGIN = 10

Rect = tuple[int, int, int, int]
"""x, y, width, height in pixels."""


@dataclass(frozen=True, slots=True)
class ShelfLayout:
    lane_ids: tuple[str, ...]

    @property
    def lane_width(self) -> int:
        return SLOT_COLS * SLOT_W + (SLOT_COLS + 1) * GAP

    @property
    def lane_height(self) -> int:
        return SLOT_ROWS * SLOT_H + (SLOT_ROWS + 1) * GAP

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) of the frame."""
        return (self.lane_height + 2 * MARGIN, len(self.lane_ids) * self.lane_width + 2 * MARGIN)

    def lane_rect(self, lane_index: int) -> Rect:
        return (MARGIN + lane_index * self.lane_width, MARGIN, self.lane_width, self.lane_height)

    def slot_rects(self, lane_index: int) -> list[Rect]:
        """Slots in fill order: front row first, left to right."""
        lx, ly, _, lh = self.lane_rect(lane_index)
        rects: list[Rect] = []
        for row in range(SLOT_ROWS):
            y = ly + lh - (row + 1) * (SLOT_H + GAP)
            for col in range(SLOT_COLS):
                rects.append((lx + GAP + col * (SLOT_W + GAP), y, SLOT_W, SLOT_H))
        return rects
