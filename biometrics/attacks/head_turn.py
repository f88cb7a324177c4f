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


class _Camera:
    """Pinhole camera looking at pixels lifted towards it, rotating about an axis."""

    def __init__(
        self,
        shape: tuple[int, int],
        axis: tuple[float, float, float],
        yaw_deg: float,
        pitch_deg: float,
        focal: float,
    ) -> None:
        self.cx, self.cy = shape[1] / 2.0, shape[0] / 2.0
        self.axis = np.array(axis)
        self.rotation = _rotation(math.radians(yaw_deg), math.radians(pitch_deg))
        self.focal = focal

    def project(
        self, xs: FloatArray, ys: FloatArray, lift: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        z = self.axis[2] - lift  # the ear plane lies at the axis depth; the face rises above it
        points = np.stack([(xs - self.cx) * z / self.focal, (ys - self.cy) * z / self.focal, z], -1)
        moved = (points - self.axis) @ self.rotation.T + self.axis
        return (
            self.cx + self.focal * moved[..., 0] / moved[..., 2],
            self.cy + self.focal * moved[..., 1] / moved[..., 2],
        )


def _render_relief(
    image: ImageArray, height_px: FloatArray, weight: FloatArray, camera: _Camera
) -> ImageArray:
    """Warp ``image`` as if its pixels, lifted ``height_px`` towards the camera,
    were rotated; ``weight`` (0..1) says how much each pixel follows the head."""
    rows, cols = image.shape[:2]
    grid_x, grid_y = np.meshgrid(
        np.arange(cols, dtype=np.float64), np.arange(rows, dtype=np.float64)
    )
    # Only the head moves: invert the warp inside its (generously padded) box.
    ys, xs = np.nonzero(weight > 1e-3)
    pad = 0.25 * max(int(np.ptp(xs)), int(np.ptp(ys)), 1)
    x0, x1 = int(max(xs.min() - pad, 0)), int(min(xs.max() + pad, cols - 1)) + 1
    y0, y1 = int(max(ys.min() - pad, 0)), int(min(ys.max() + pad, rows - 1)) + 1
    target_x, target_y = grid_x[y0:y1, x0:x1], grid_y[y0:y1, x0:x1]
    height32, weight32 = height_px.astype(np.float32), weight.astype(np.float32)
    src_x, src_y = target_x.copy(), target_y.copy()
    for _ in range(8):  # fixed-point inversion of the forward warp
        maps = (src_x.astype(np.float32), src_y.astype(np.float32))
        lift = cv2.remap(height32, *maps, cv2.INTER_LINEAR).astype(np.float64)
        follow = cv2.remap(weight32, *maps, cv2.INTER_LINEAR).astype(np.float64)
        px, py = camera.project(src_x, src_y, lift)
        src_x += target_x - (src_x + follow * (px - src_x))
        src_y += target_y - (src_y + follow * (py - src_y))
    map_x, map_y = grid_x.astype(np.float32), grid_y.astype(np.float32)
    map_x[y0:y1, x0:x1] = src_x
    map_y[y0:y1, x0:x1] = src_y
    warped = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(warped, dtype=np.uint8)


def _render_plane(image: ImageArray, camera: _Camera) -> ImageArray:
    """A rigid plane's image moves by a homography: four corners fix it exactly."""
    rows, cols = image.shape[:2]
    corners_x = np.array([0.0, cols - 1.0, cols - 1.0, 0.0])
    corners_y = np.array([0.0, 0.0, rows - 1.0, rows - 1.0])
    px, py = camera.project(corners_x, corners_y, np.zeros(4))
    homography = cv2.getPerspectiveTransform(
        np.stack([corners_x, corners_y], 1).astype(np.float32),
        np.stack([px, py], 1).astype(np.float32),
    )
    warped = cv2.warpPerspective(image, homography, (cols, rows), borderMode=cv2.BORDER_REPLICATE)
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
        _render_relief(image, height_px, weight, _Camera((rows, cols), axis, yaw, pitch, focal))
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
    pitches = list(pitches_deg) if pitches_deg is not None else [0.0] * len(yaws_deg)
    return [
        _render_plane(image, _Camera((rows, cols), axis, yaw, pitch, focal))
        for yaw, pitch in zip(yaws_deg, pitches, strict=True)
    ]
