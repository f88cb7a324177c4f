"""Depth maps as a depth camera registered to the colour camera would see them.

Millimetres, float32, 0 where the sensor returns nothing. Genuine faces use the
relief model of ``biometrics.face_geometry`` with per-subject variation; attacks
are sheets (flat, tilted, bent like a held photo) and screens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from biometrics.face_geometry import (
    TEMPLATE_UV,
    TYPICAL_IOD_MM,
    ReliefShape,
    image_grid_uv,
    on_head,
    pixels_per_iod,
    relief,
)

DepthMap = npt.NDArray[np.float32]


@dataclass(frozen=True)
class DepthSensor:
    """Noise model of an active-stereo / structured-light camera."""

    noise_mm_at_500: float = 1.0  # depth noise grows with the square of distance
    quantum_mm: float = 1.0
    dropout: float = 0.02  # isolated missing pixels
    background_mm: float = 1800.0  # the wall behind the customer


def _finish(
    depth: npt.NDArray[np.float64], sensor: DepthSensor, rng: np.random.Generator
) -> DepthMap:
    sigma = sensor.noise_mm_at_500 * (depth / 500.0) ** 2
    noisy = depth + rng.normal(0.0, 1.0, depth.shape) * sigma
    noisy = np.round(noisy / sensor.quantum_mm) * sensor.quantum_mm
    noisy[rng.random(depth.shape) < sensor.dropout] = 0.0
    return noisy.astype(np.float32)


def random_shape(rng: np.random.Generator) -> ReliefShape:
    base = ReliefShape()

    def vary(value: float) -> float:
        return float(value * rng.normal(1.0, 0.12))

    return replace(
        base,
        head_depth=vary(base.head_depth),
        nose_height=vary(base.nose_height),
        nose_sigma_u=vary(base.nose_sigma_u),
        nose_sigma_v=vary(base.nose_sigma_v),
        bridge_height=vary(base.bridge_height),
        eye_socket_depth=vary(base.eye_socket_depth),
    )


def genuine_depth(
    size: tuple[int, int],
    kps: npt.NDArray[np.float32],
    rng: np.random.Generator,
    *,
    distance_mm: float | None = None,
    shape: ReliefShape | None = None,
    sensor: DepthSensor = DepthSensor(),
) -> DepthMap:
    """A real head whose face lies at ``kps`` in an image of ``size`` = (h, w)."""
    distance = distance_mm if distance_mm is not None else float(rng.uniform(350, 800))
    face_shape = shape if shape is not None else random_shape(rng)
    iod_mm = float(rng.uniform(56, 70))
    u, v = image_grid_uv(size, kps)
    height = relief(u, v, face_shape) * iod_mm
    # ``distance`` is the plane of the ears; the face rises towards the camera.
    depth = np.where(on_head(u, v, face_shape), distance - height, sensor.background_mm)
    return _finish(depth, sensor, rng)


SHEET_KINDS = ("flat", "tilted", "cylinder")


def sheet_depth(
    size: tuple[int, int],
    kps: npt.NDArray[np.float32],
    rng: np.random.Generator,
    kind: str,
    *,
    distance_mm: float | None = None,
    sensor: DepthSensor = DepthSensor(),
) -> DepthMap:
    """A photo held up to the camera: flat, tilted up to 50 degrees, or bent
    around an axis of random direction with a 40-200 mm radius."""
    if kind not in SHEET_KINDS:
        raise ValueError(f"unknown sheet kind {kind!r}; expected one of {SHEET_KINDS}")
    distance = distance_mm if distance_mm is not None else float(rng.uniform(300, 700))
    u, v = image_grid_uv(size, kps)
    # The printed face is about life size or smaller; the sheet reaches past the head.
    mm_per_iod = TYPICAL_IOD_MM * float(rng.uniform(0.6, 1.1))
    on_sheet = (np.abs(u) < 1.8) & (np.abs(v + 0.3) < 2.3)
    direction = float(rng.uniform(0, math.pi))
    across = (u * math.cos(direction) + v * math.sin(direction)) * mm_per_iod
    if kind == "flat":
        surface = np.full_like(u, distance)
    elif kind == "tilted":
        tilt = math.radians(float(rng.uniform(15, 50)))
        surface = distance + math.tan(tilt) * across
    else:
        radius = float(rng.uniform(40, 200))
        bulge = radius - np.sqrt(np.clip(radius**2 - across**2, 0, None))
        sign = 1.0 if rng.random() < 0.5 else -1.0  # bent towards or away from the camera
        surface = distance + sign * bulge
        on_sheet &= np.abs(across) < radius
    depth = np.where(on_sheet, surface, sensor.background_mm)
    return _finish(depth, sensor, rng)


def screen_depth(
    size: tuple[int, int],
    kps: npt.NDArray[np.float32],
    rng: np.random.Generator,
    *,
    sensor: DepthSensor = DepthSensor(),
) -> DepthMap:
    """A phone or tablet showing the face: a flat glass plane, slightly tilted,
    whose specular glare blots out patches of the depth reading."""
    depth = sheet_depth(size, kps, rng, "tilted" if rng.random() < 0.5 else "flat", sensor=sensor)
    height, width = size
    glare = np.zeros((height, width), np.uint8)
    iod = pixels_per_iod(kps)
    for _ in range(int(rng.integers(1, 4))):
        centre = (
            int(kps[2, 0] + rng.normal(0, iod)),
            int(kps[2, 1] + rng.normal(0, iod)),
        )
        axes = (int(rng.uniform(0.3, 0.8) * iod), int(rng.uniform(0.2, 0.5) * iod))
        cv2.ellipse(glare, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    depth[glare > 0] = 0.0
    return depth


def posed_genuine_depth(
    size: tuple[int, int],
    yaw_deg: float,
    pitch_deg: float,
    rng: np.random.Generator,
    *,
    iod_px: float = 50.0,
    distance_mm: float = 550.0,
    sensor: DepthSensor = DepthSensor(),
) -> tuple[DepthMap, npt.NDArray[np.float32]]:
    """A real head turned by (yaw, pitch), centred in the frame: the relief model
    rotated and z-buffered, and the five landmarks where that head puts them."""
    rows, cols = size
    shape = random_shape(rng)
    u, v = np.meshgrid(np.linspace(-1.4, 1.4, 700), np.linspace(-2.2, 1.6, 900))
    inside = on_head(u, v, shape)
    surface = np.stack([u[inside], v[inside], relief(u, v, shape)[inside]], axis=1)
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    about_y = np.array(
        [[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]]
    )
    about_x = np.array(
        [[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]]
    )
    rotation = about_x @ about_y
    turned = surface @ rotation.T
    xs = np.round(cols / 2 + turned[:, 0] * iod_px).astype(int)
    ys = np.round(rows / 2 + turned[:, 1] * iod_px).astype(int)
    iod_mm = float(rng.uniform(56, 70))
    depth = np.full(size, sensor.background_mm)
    seen = (xs >= 0) & (xs < cols) & (ys >= 0) & (ys < rows)
    np.minimum.at(depth, (ys[seen], xs[seen]), distance_mm - turned[seen, 2] * iod_mm)
    heights = relief(TEMPLATE_UV[:, 0], TEMPLATE_UV[:, 1], shape)
    landmarks = np.column_stack([TEMPLATE_UV, heights]) @ rotation.T
    kps = np.column_stack(
        [cols / 2 + landmarks[:, 0] * iod_px, rows / 2 + landmarks[:, 1] * iod_px]
    )
    return _finish(depth, sensor, rng), kps.astype(np.float32)
