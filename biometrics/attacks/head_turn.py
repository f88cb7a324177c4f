"""Multi-frame sequences of a head turn, rendered from one real photo.

Genuine: the photo is texture-mapped onto the face relief model (placed at the
detected landmarks) and the head is rotated in yaw about a vertical axis
through the ears, under a pinhole camera; the background stays still. Attack:
the same photo as a flat print or screen turned in front of the camera, a
rigid plane whose image motion is a homography.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from biometrics.face_geometry import ReliefShape, image_grid_uv, on_head, pixels_per_iod, relief

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]


def _rotation(yaw: float, pitch: float) -> FloatArray:
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    about_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    about_x = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return np.asarray(about_x @ about_y, dtype=np.float64)


def _render(
    image: ImageArray,
    height_px: FloatArray,
    weight: FloatArray,
    axis: tuple[float, float, float],
    yaw_deg: float,
    pitch_deg: float,
    focal: float,
) -> ImageArray:
    """Warp ``image`` as if its pixels, lifted ``height_px`` towards the camera,
    were rotated about ``axis``; ``weight`` (0..1) says how much each pixel moves."""
    rows, cols = image.shape[:2]
    cx, cy = cols / 2.0, rows / 2.0
    rotation = _rotation(math.radians(yaw_deg), math.radians(pitch_deg))
    axis_vec = np.array(axis)

    def forward(xs: FloatArray, ys: FloatArray) -> tuple[FloatArray, FloatArray]:
        maps = (xs.astype(np.float32), ys.astype(np.float32))
        h = cv2.remap(height_px.astype(np.float32), *maps, cv2.INTER_LINEAR)
        w = cv2.remap(weight.astype(np.float32), *maps, cv2.INTER_LINEAR)
        z = axis_vec[2] - h  # the ear plane lies on the axis depth; the face rises above it
        points = np.stack([(xs - cx) * z / focal, (ys - cy) * z / focal, z], axis=-1)
        moved = (points - axis_vec) @ rotation.T + axis_vec
        px = cx + focal * moved[..., 0] / moved[..., 2]
        py = cy + focal * moved[..., 1] / moved[..., 2]
        return xs + w * (px - xs), ys + w * (py - ys)

    grid_x, grid_y = np.meshgrid(
        np.arange(cols, dtype=np.float64), np.arange(rows, dtype=np.float64)
    )
    src_x, src_y = grid_x.copy(), grid_y.copy()
    for _ in range(12):  # fixed-point inversion of the forward warp
        fx, fy = forward(src_x, src_y)
        src_x += grid_x - fx
        src_y += grid_y - fy
    warped = cv2.remap(
        image,
        src_x.astype(np.float32),
        src_y.astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.asarray(warped, dtype=np.uint8)


def genuine_head_turn(
    image: ImageArray,
    kps: npt.NDArray[np.float32],
    yaws_deg: Sequence[float],
    *,
    pitches_deg: Sequence[float] | None = None,
    shape: ReliefShape = ReliefShape(),  # noqa: B008
) -> list[ImageArray]:
    """Frames of the photographed head turning through ``yaws_deg``."""
    rows, cols = image.shape[:2]
    u, v = image_grid_uv((rows, cols), kps)
    iod = pixels_per_iod(kps)
    height_px = relief(u, v, shape) * iod
    head = on_head(u * 0.95, v * 0.95, shape).astype(np.float32)
    weight = cv2.GaussianBlur(head, (0, 0), max(1.0, 0.08 * iod)).astype(np.float64)
    focal = 1.2 * cols
    # The ear plane is at depth ``focal``, where one 3-D unit is one pixel; the
    # head turns about the axis through the point of that plane behind the nose.
    axis = (float(kps[2][0] - cols / 2), float(kps[2][1] - rows / 2), float(focal))
    pitches = list(pitches_deg) if pitches_deg is not None else [0.0] * len(yaws_deg)
    return [
        _render(image, height_px, weight, axis, yaw, pitch, focal)
        for yaw, pitch in zip(yaws_deg, pitches, strict=True)
    ]


def planar_turn(
    image: ImageArray,
    kps: npt.NDArray[np.float32],
    yaws_deg: Sequence[float],
    *,
    pitches_deg: Sequence[float] | None = None,
) -> list[ImageArray]:
    """Frames of the same photo as a flat sheet or screen turned through ``yaws_deg``."""
    rows, cols = image.shape[:2]
    focal = 1.2 * cols
    axis = (float(kps[2][0] - cols / 2), float(kps[2][1] - rows / 2), float(focal))
    flat = np.zeros((rows, cols))
    everywhere = np.ones((rows, cols))
    pitches = list(pitches_deg) if pitches_deg is not None else [0.0] * len(yaws_deg)
    return [
        _render(image, flat, everywhere, axis, yaw, pitch, focal)
        for yaw, pitch in zip(yaws_deg, pitches, strict=True)
    ]
