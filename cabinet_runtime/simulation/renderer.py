"""Renders a shelf camera frame from what physically lies in each lane."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from cabinet_runtime.hardware.interfaces import BgrFrame
from cabinet_runtime.hardware.shelf_layout import ShelfLayout

_SHELF_GREY = 70


class ShelfRenderer:
    """Draws lanes and their items, then applies camera imperfections: a
    global exposure change, sensor noise and a small mount shift."""

    def __init__(
        self,
        layout: ShelfLayout,
        appearances: Mapping[str, BgrFrame],
        rng: np.random.Generator,
        noise_sigma: float = 8.0,
        max_shift_px: int = 2,
        max_twist_deg: float = 6.0,
    ) -> None:
        self._layout = layout
        self._appearances = appearances
        self._rng = rng
        self._noise = noise_sigma
        self._max_shift = max_shift_px
        self._max_twist = max_twist_deg
        self._surface = self._shelf_surface()

    def _shelf_surface(self) -> BgrFrame:
        h, w = self._layout.frame_size
        surface = np.full((h, w, 3), 35, dtype=np.uint8)
        texture = self._rng.normal(0.0, 6.0, size=(h, w, 1))
        for i in range(len(self._layout.lane_ids)):
            x, y, lw, lh = self._layout.lane_rect(i)
            surface[y : y + lh, x + 1 : x + lw - 1] = _SHELF_GREY
        noisy = surface.astype(np.float64) + texture
        return np.clip(noisy, 0, 255).astype(np.uint8)

    def render(self, lanes: Sequence[Sequence[str]]) -> BgrFrame:
        """``lanes[i]`` lists the SKUs in lane i, in slot fill order."""
        frame = self._surface.copy()
        for i, items in enumerate(lanes):
            slots = self._layout.slot_rects(i)
            if len(items) > len(slots):
                raise ValueError(f"lane {self._layout.lane_ids[i]} holds more than {len(slots)}")
            for sku, (x, y, w, h) in zip(items, slots, strict=False):
                self._place(frame, self._appearances[sku], x, y, w, h)
        return self._imperfect(frame)

    def _place(self, frame: BgrFrame, tile: BgrFrame, x: int, y: int, w: int, h: int) -> None:
        """An item never sits exactly on its slot: a small offset and twist."""
        angle = float(self._rng.uniform(-self._max_twist, self._max_twist))
        dx, dy = (int(v) for v in self._rng.integers(-2, 3, size=2))
        rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        twisted = cv2.warpAffine(tile, rot, (w, h), borderMode=cv2.BORDER_REPLICATE)
        fh, fw = frame.shape[:2]
        y0, x0 = max(0, y + dy), max(0, x + dx)
        y1, x1 = min(fh, y0 + h), min(fw, x0 + w)
        frame[y0:y1, x0:x1] = np.asarray(twisted)[: y1 - y0, : x1 - x0]

    def _imperfect(self, frame: BgrFrame) -> BgrFrame:
        h, w = frame.shape[:2]
        dx, dy = self._rng.integers(-self._max_shift, self._max_shift + 1, size=2)
        shift = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
        moved = cv2.warpAffine(frame, shift, (w, h), borderMode=cv2.BORDER_REPLICATE)
        gain = self._rng.uniform(0.85, 1.15)
        noise = self._rng.standard_normal(size=frame.shape, dtype=np.float32) * self._noise
        soft = cv2.GaussianBlur(np.asarray(moved), (3, 3), 0.8)
        out = np.asarray(soft, dtype=np.float32) * np.float32(gain) + noise
        return np.clip(out, 0, 255).astype(np.uint8)
