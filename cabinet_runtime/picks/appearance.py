"""What each product looks like from the shelf camera.

A product photo when the catalogue has one; otherwise a synthetic package
derived from the SKU (colours, pattern and a printed label), so every SKU has
a stable, distinct look. Both the simulator's renderer and the recognizer use
this catalogue, just as a real cabinet ships product images with its planogram.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from cabinet_runtime.hardware.interfaces import BgrFrame
from cabinet_runtime.hardware.shelf_layout import SLOT_H, SLOT_W
from cabinet_runtime.picks.planogram import PlanogramError, Product

_PATTERNS = 5


def _hsv_to_bgr(h: int, s: int, v: int) -> tuple[int, int, int]:
    hsv = np.array([[[h % 180, s, v]]], dtype=np.uint8)
    pixel = np.asarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR))[0, 0]
    return (int(pixel[0]), int(pixel[1]), int(pixel[2]))


def synthetic_appearance(sku: str, size: tuple[int, int] = (SLOT_H, SLOT_W)) -> BgrFrame:
    """A package face generated from the SKU: same SKU, same picture."""
    digest = hashlib.sha256(sku.encode()).digest()
    h, w = size
    base = _hsv_to_bgr(digest[0] * 180 // 256, 170 + digest[1] % 80, 150 + digest[2] % 100)
    accent = _hsv_to_bgr(digest[0] * 180 // 256 + 45 + digest[3] % 90, 220, 90 + digest[4] % 80)
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[:] = base
    pattern = digest[5] % _PATTERNS
    step = 5 + digest[6] % 5
    if pattern == 0:
        for y in range(0, h, 2 * step):
            img[y : y + step] = accent
    elif pattern == 1:
        for x in range(0, w, 2 * step):
            img[:, x : x + step] = accent
    elif pattern == 2:
        yy, xx = np.mgrid[0:h, 0:w]
        img[((yy // step) + (xx // step)) % 2 == 0] = accent
    elif pattern == 3:
        for y in range(step // 2, h, step * 2):
            for x in range(step // 2, w, step * 2):
                cv2.circle(img, (x, y), max(2, step // 2), accent, -1)
    else:
        for k in range(-h, w, 2 * step):
            cv2.line(img, (k, 0), (k + h, h), accent, max(2, step // 2))
    label_w = w * (45 + digest[7] % 30) // 100
    x0 = (w - label_w) // 2
    cv2.rectangle(img, (x0, h // 3), (x0 + label_w, 2 * h // 3), (245, 245, 245), -1)
    cv2.putText(
        img, sku[-3:], (x0 + 2, 2 * h // 3 - 3), cv2.FONT_HERSHEY_PLAIN, 0.8, (20, 20, 20), 1
    )
    return img


def product_appearance(
    product: Product, base_dir: Path | None = None, size: tuple[int, int] = (SLOT_H, SLOT_W)
) -> BgrFrame:
    if product.image is None:
        return synthetic_appearance(product.sku, size)
    path = Path(product.image)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise PlanogramError(f"product {product.sku}: cannot read image {path}")
    return np.asarray(cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA))


def appearance_catalog(
    products: Iterable[Product], base_dir: Path | None = None
) -> dict[str, BgrFrame]:
    return {p.sku: product_appearance(p, base_dir) for p in products}
