"""A generic face's geometry in face-normalised coordinates.

Coordinates (u, v) are in units of the inter-ocular distance (IOD), origin at
the nose tip, u to the image's right, v down. A similarity transform fitted on
the five detector landmarks maps them to image pixels. The relief model is a
height field (towards the camera, in IOD units): an ellipsoidal head with a
nose, a nose bridge and eye sockets, the shape the depth liveness check looks
for and the depth and head-turn synthesisers render.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# The arcface 112x112 template's five points, re-expressed relative to the nose
# tip in units of the inter-ocular distance (35.24 px in the template).
TEMPLATE_UV = np.array(
    [
        [-0.50, -0.57],  # left eye
        [0.50, -0.57],  # right eye
        [0.0, 0.0],  # nose tip
        [-0.41, 0.58],  # left mouth corner
        [0.41, 0.58],  # right mouth corner
    ],
    dtype=np.float64,
)

TYPICAL_IOD_MM = 63.0


@dataclass(frozen=True)
class ReliefShape:
    """Amplitudes of the relief model (IOD units); vary them to make many faces."""

    head_depth: float = 1.3  # ellipsoid depth: how much the face curves back to the ears
    head_half_width: float = 1.25
    head_half_height: float = 1.75
    head_centre_v: float = -0.3
    nose_height: float = 0.35  # nose tip above the surrounding face (~22 mm)
    nose_sigma_u: float = 0.16
    nose_sigma_v: float = 0.26
    bridge_height: float = 0.14
    eye_socket_depth: float = 0.12


def uv_to_image(kps: npt.NDArray[np.float32]) -> FloatArray:
    """2x3 similarity transform from (u, v) to image pixels, fitted on the landmarks."""
    matrix, _ = cv2.estimateAffinePartial2D(
        TEMPLATE_UV.astype(np.float32), np.asarray(kps, np.float32).reshape(5, 2)
    )
    if matrix is None:
        raise ValueError("landmarks are degenerate")
    return np.asarray(matrix, dtype=np.float64)


def image_to_uv(kps: npt.NDArray[np.float32]) -> FloatArray:
    return np.asarray(cv2.invertAffineTransform(uv_to_image(kps)), dtype=np.float64)


def pixels_per_iod(kps: npt.NDArray[np.float32]) -> float:
    matrix = uv_to_image(kps)
    return float(np.hypot(matrix[0, 0], matrix[1, 0]))


def relief(u: FloatArray, v: FloatArray, shape: ReliefShape = ReliefShape()) -> FloatArray:
    """Height of the face towards the camera at (u, v), in IOD units (0 off the head)."""
    s = shape
    inside = 1.0 - (u / s.head_half_width) ** 2 - ((v - s.head_centre_v) / s.head_half_height) ** 2
    head = s.head_depth * np.sqrt(np.clip(inside, 0.0, None))
    nose = s.nose_height * np.exp(
        -(u**2) / (2 * s.nose_sigma_u**2) - (v + 0.05) ** 2 / (2 * s.nose_sigma_v**2)
    )
    # The bridge runs from between the eyes down to the tip.
    along = np.clip(v, -0.6, 0.0)
    bridge = s.bridge_height * np.exp(-(u**2) / (2 * 0.11**2) - (v - along) ** 2 / (2 * 0.08**2))
    sockets = sum(
        s.eye_socket_depth * np.exp(-((u - eu) ** 2 + (v + 0.57) ** 2) / (2 * 0.15**2))
        for eu in (-0.5, 0.5)
    )
    face = head + nose + bridge - sockets
    return np.where(inside > 0, face, 0.0)


def on_head(
    u: FloatArray, v: FloatArray, shape: ReliefShape = ReliefShape()
) -> npt.NDArray[np.bool_]:
    s = shape
    return (u / s.head_half_width) ** 2 + ((v - s.head_centre_v) / s.head_half_height) ** 2 < 1.0


def image_grid_uv(
    size: tuple[int, int], kps: npt.NDArray[np.float32]
) -> tuple[FloatArray, FloatArray]:
    """(u, v) of every pixel of an image of ``size`` = (height, width)."""
    height, width = size
    inverse = image_to_uv(kps)
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    u = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    v = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    return u, v
